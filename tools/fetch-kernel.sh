#!/usr/bin/env bash
# Fetch one real Debian kernel build: its vmlinux with DWARF and its .config.
#
#   tools/fetch-kernel.sh RELEASE DEBIAN_ARCH [SUITE]
#   e.g. tools/fetch-kernel.sh 6.1.0-57-cloud-amd64 amd64
#        tools/fetch-kernel.sh 6.1.0-50-cloud-arm64 arm64
#        tools/fetch-kernel.sh 7.2.13+deb14-cloud-amd64 amd64 sid
#
# Result: $VMCI_KERNEL_CACHE/RELEASE/{vmlinux,config} (default /var/cache/vmci/kernels)
# and, where the image package has them (6.x layout), the boot image (vmlinuz) and the
# qemu_fw_cfg.ko module (tests/note boots the kernel under QEMU and dumps its memory);
# prints that directory. Needs root for apt-get. A SUITE the system's sources lack
# (bullseye, trixie, sid, experimental, bookworm-backports) is reached through a private
# apt configuration per suite and architecture (tools/apt-suite.sh), which names the
# architecture (riscv64 is no bookworm port); from the system's suite, a foreign
# DEBIAN_ARCH is added with dpkg --add-architecture.
#
# Debian has two package layouts:
#  - up to 6.x (bullseye, bookworm, trixie): the image package is linux-image-REL-unsigned
#    (arches with signed images) or linux-image-REL, holding boot/config-REL; the -dbg
#    package holds the DWARF vmlinux at usr/lib/debug/boot/vmlinux-REL.
#  - 7.x (sid, experimental): the image is usr/lib/modules/REL/vmlinuz* in
#    linux-binary-unsigned-REL or linux-binary-REL, the config usr/lib/modules/REL/config
#    in linux-base-REL, and the -dbg vmlinux a regular file at
#    usr/lib/debug/lib/modules/REL/vmlinux (usr/lib/debug/boot/vmlinux-REL, if present,
#    is a symlink to it).
set -euo pipefail
rel=${1:?usage: fetch-kernel.sh RELEASE DEBIAN_ARCH [SUITE]}
arch=${2:?usage: fetch-kernel.sh RELEASE DEBIAN_ARCH [SUITE]}
suite=${3:-}
cache=${VMCI_KERNEL_CACHE:-/var/cache/vmci/kernels}
out=$cache/$rel
if [ -s "$out/vmlinux" ] && [ -s "$out/config" ] && [ -e "$out/image.done" ]; then echo "$out"; exit 0; fi
mkdir -p "$out"
work=$(mktemp -d "$cache/.fetch-XXXXXX"); trap 'rm -rf "$work"' EXIT
native=$(dpkg --print-architecture)
suffix=""
if [ "$arch" != "$native" ]; then suffix=":$arch"; fi
case "$suite" in
  ""|bookworm|bookworm-security|bookworm-updates)
    if [ -n "$suffix" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      dpkg --add-architecture "$arch"
      apt-get update -qq || true
    fi
    ;;
  *) APT_CONFIG=$("$(dirname "$(readlink -f "$0")")/apt-suite.sh" "$suite" "$arch"); export APT_CONFIG ;;
esac
cd "$work"
chmod 777 "$work"   # apt's _apt user downloads into the current directory
get() { apt-get download -qq "$1$suffix" 2>/dev/null || { apt-get update -qq || true; apt-get download -qq "$1$suffix"; }; }
quiet_get() { get "$1" >/dev/null 2>&1; }

vmlinux=""
if [ ! -s "$out/vmlinux" ]; then  # a cache from before image.done lacks only the image's parts
  get "linux-image-$rel-dbg"
  dpkg-deb --fsys-tarfile ./linux-image-"$rel"-dbg_*.deb \
    | tar -x --wildcards "./usr/lib/debug/boot/vmlinux-$rel" "./usr/lib/debug/lib/modules/$rel/vmlinux" 2>/dev/null || true
  for candidate in "usr/lib/debug/lib/modules/$rel/vmlinux" "usr/lib/debug/boot/vmlinux-$rel"; do
    if [ -f "$candidate" ] && [ ! -L "$candidate" ]; then vmlinux=$candidate; break; fi
  done
  [ -n "$vmlinux" ] || { echo "fetch-kernel.sh: $rel: no vmlinux in linux-image-$rel-dbg" >&2; exit 1; }
fi

if quiet_get "linux-image-$rel-unsigned" || quiet_get "linux-image-$rel"; then
  for deb in ./linux-image-"$rel"_*.deb ./linux-image-"$rel"-unsigned_*.deb; do
    [ -e "$deb" ] || continue
    dpkg-deb --fsys-tarfile "$deb" | tar -x -O "./boot/config-$rel" > config 2>/dev/null || true
    dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards "./boot/vmlinuz-$rel" \
      "./lib/modules/$rel/kernel/drivers/firmware/qemu_fw_cfg.ko" 2>/dev/null || true
    [ -s config ] && break
  done
fi
# The 7.x layout: linux-image-REL is then a metapackage without boot/config-REL.
if [ ! -s config ]; then
  get "linux-base-$rel"
  dpkg-deb --fsys-tarfile ./linux-base-"$rel"_*.deb | tar -x -O "./usr/lib/modules/$rel/config" > config
fi
[ -s config ] || { echo "fetch-kernel.sh: $rel: no config in linux-image-$rel or linux-base-$rel" >&2; exit 1; }
if [ -s "boot/vmlinuz-$rel" ]; then mv "boot/vmlinuz-$rel" "$out/vmlinuz"; fi
if [ -s "lib/modules/$rel/kernel/drivers/firmware/qemu_fw_cfg.ko" ]; then
  mv "lib/modules/$rel/kernel/drivers/firmware/qemu_fw_cfg.ko" "$out/qemu_fw_cfg.ko"
fi
mv config "$out/config"
touch "$out/image.done"
if [ -n "$vmlinux" ]; then mv "$vmlinux" "$out/vmlinux"; fi   # last, so a present vmlinux means a complete fetch
echo "$out"
