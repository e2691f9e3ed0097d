#!/usr/bin/env bash
# Run all of vmci's tests after making sure everything they need is installed
# (tools/setup.sh --no-run): the real-kernel tests, and the two slow targets, the
# generated C built inside a real kernel tree (VMCI_KERNEL_BUILD) and the kernel built,
# booted and compared end to end (VMCI_E2E); about 7 minutes the first time, their trees
# cached under /var/cache/vmci. Set either variable to 0 to leave its target out (plain
# `pytest` leaves both out). Style (ruff) and types (mypy, tools/typecheck.py) are checked
# first. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --no-run
export VMCI_KERNEL_CACHE=${VMCI_KERNEL_CACHE:-/var/cache/vmci/kernels}
export VMCI_KERNEL_BUILD=${VMCI_KERNEL_BUILD:-1} VMCI_E2E=${VMCI_E2E:-1}
.venv/bin/ruff check --quiet compiler tests bench tools
.venv/bin/python tools/typecheck.py
exec .venv/bin/python -m pytest -q "$@"
