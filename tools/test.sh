#!/usr/bin/env bash
# Run vmci's tests, real-kernel tests included, after making sure everything they need
# is installed (tools/setup.sh --no-run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --no-run
export VMCI_KERNEL_CACHE=${VMCI_KERNEL_CACHE:-/var/cache/vmci/kernels}
exec .venv/bin/python -m pytest -q "$@"
