#!/usr/bin/env bash
# Set up vmci on a fresh Debian machine (as root): system packages, a virtualenv with
# vmci and its dependencies, and the real Debian kernels the tests resolve. Then run
# the main job on the embedded specs. Safe to run again: it skips what is done.
#
#   tools/setup.sh            set up, then validate the specs and resolve the default kernel
#   tools/setup.sh --no-run   set up only
set -euo pipefail
cd "$(dirname "$0")/.."
run=1; [ "${1:-}" = "--no-run" ] && run=0

# python3-drgn, python3-libkdumpfile, pahole: test oracles and readers; makedumpfile: the peer;
# cross compilers: ELF32, big-endian and arm64 DWARF fixtures; linux-source-*: the trees
# `vmci audit source` is tested on; chromium: renders the coverage page in a test;
# python3-docutils: parses the generated reStructuredText reference in the tests;
# build-essential ... busybox-static: the kernel-tree build and the QEMU end-to-end proof.
packages="python3 python3-venv python3-pip python3-drgn python3-libkdumpfile python3-docutils makedumpfile pahole
  gcc libc6-dev binutils xz-utils gcc-aarch64-linux-gnu gcc-s390x-linux-gnu gcc-arm-linux-gnueabihf
  gcc-i686-linux-gnu linux-source-6.1 linux-source-6.12 chromium
  build-essential flex bison bc libelf-dev libssl-dev cpio qemu-system-x86 busybox-static"
missing=$(for p in $packages; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq || true  # a foreign arch missing from one suite fails the update; installs still work
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# Debian's python3, so that its drgn and libkdumpfile modules (the test oracles) import.
if [ ! -x .venv/bin/vmci ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
fi

# The real kernels: every gold kernel under tests/data/gold.
export VMCI_KERNEL_CACHE=${VMCI_KERNEL_CACHE:-/var/cache/vmci/kernels}
for meta in tests/data/gold/*/meta.json; do
  read -r rel arch suite < <(.venv/bin/python -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["release"], m["debian_arch"], m.get("apt_suite",""))' "$meta")
  tools/fetch-kernel.sh "$rel" "$arch" "$suite" >/dev/null
done

if [ "$run" = 1 ]; then
  default=6.1.0-57-cloud-amd64
  .venv/bin/vmci validate
  .venv/bin/vmci list --arch x86_64 --kernel-version "$default" --config "$VMCI_KERNEL_CACHE/$default/config"
fi
