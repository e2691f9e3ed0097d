#!/usr/bin/env bash
# Set up vmci on a fresh Debian machine (as root): system packages, a virtualenv with
# vmci and its dependencies, and the real Debian kernels the tests resolve. Then run
# the main job on the embedded specs. Safe to run again: it skips what is done.
#
#   tools/setup.sh            set up, then validate the specs and print the VMCOREINFO
#                             of the default kernel (6.1.0-57-cloud-amd64) resolved from its vmlinux
#   tools/setup.sh --no-run   set up only
set -euo pipefail
cd "$(dirname "$0")/.."
run=1; [ "${1:-}" = "--no-run" ] && run=0

# python3-drgn, python3-libkdumpfile, pahole: test oracles and readers; makedumpfile: the peer;
# cross compilers: ELF32, big-endian and arm64 DWARF fixtures; linux-source-*: the trees
# `vmci audit source` is tested on; chromium: renders the coverage page in a test;
# python3-docutils: parses the generated reStructuredText reference in the tests; python3-zstandard:
# reads zstd-compressed debug sections (objcopy --compress-debug-sections=zstd, optional for vmci);
# build-essential ... busybox-static: the kernel-tree build, the QEMU end-to-end proof and the
# real dumps `vmci show` is tested on; jq: runs docs/export.md's example in a test.
packages="python3 python3-venv python3-pip python3-drgn python3-libkdumpfile python3-docutils python3-zstandard makedumpfile pahole
  gcc libc6-dev binutils xz-utils gcc-aarch64-linux-gnu gcc-s390x-linux-gnu gcc-arm-linux-gnueabihf
  gcc-i686-linux-gnu linux-source-6.1 linux-source-6.12 chromium
  build-essential flex bison bc libelf-dev libssl-dev cpio qemu-system-x86 busybox-static jq"

# apt's and pip's chatter goes to a log, shown only when a step fails.
log=$(mktemp /tmp/vmci-setup-XXXXXX.log); trap 'rm -f "$log"' EXIT
quietly() {  # quietly WHAT COMMAND...: run COMMAND, its output in the log; on failure show it
  local what=$1; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "tools/setup.sh: $what failed; its output:" >&2; tail -n 40 "$log" >&2; exit 1
  fi
}

missing=$(for p in $packages; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "tools/setup.sh: installing $(echo $missing | wc -w) Debian packages" >&2
  apt-get update -qq >>"$log" 2>&1 || true  # a foreign arch missing from one suite fails the update; installs still work
  quietly "apt-get install" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

# Debian's python3, so that its drgn and libkdumpfile modules (the test oracles) import.
# Reinstalled whenever pyproject.toml changes (an old .venv may hold an older layout).
stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/vmci ] || [ "$(cat .venv/.vmci-pyproject 2>/dev/null)" != "$stamp" ]; then
  echo "tools/setup.sh: installing vmci into .venv" >&2
  [ -x .venv/bin/python ] || quietly "python3 -m venv" /usr/bin/python3 -m venv --system-site-packages .venv
  quietly "pip install" .venv/bin/pip install --disable-pip-version-check -e ".[test]"
  echo "$stamp" > .venv/.vmci-pyproject
fi

# The source trees of the suites the system's sources lack, for `vmci audit source`:
# fetched into /var/cache/vmci/linux-source, not installed (tools/fetch-source.sh).
for tree in "5.10 bullseye" "7.2 sid" "7.3 experimental"; do
  tools/fetch-source.sh $tree >/dev/null
done

# The real kernels: every gold kernel under tests/data/gold.
export VMCI_KERNEL_CACHE=${VMCI_KERNEL_CACHE:-/var/cache/vmci/kernels}
for meta in tests/data/gold/*/meta.json; do
  read -r rel arch suite < <(.venv/bin/python -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["release"], m["debian_arch"], m.get("apt_suite",""))' "$meta")
  [ -s "$VMCI_KERNEL_CACHE/$rel/vmlinux" ] || echo "tools/setup.sh: fetching the kernel $rel ($arch)" >&2
  quietly "fetching the kernel $rel" tools/fetch-kernel.sh "$rel" "$arch" "$suite"
done

if [ "$run" = 1 ]; then
  # The main job on the embedded specs: validate them (the summary line), then resolve the
  # default real kernel into the VMCOREINFO text it writes.
  default=6.1.0-57-cloud-amd64
  .venv/bin/vmci validate >/dev/null
  echo "tools/setup.sh: the VMCOREINFO of $default, resolved from its vmlinux:" >&2
  .venv/bin/vmci resolve --vmlinux "$VMCI_KERNEL_CACHE/$default/vmlinux" --config "$VMCI_KERNEL_CACHE/$default/config"
fi
