#!/usr/bin/env bash
# Prepare a kernel tree for the kernel-tree compile tests (VMCI_KERNEL_BUILD=1):
# the Debian linux-source-VERSION tree, and per architecture an out-of-tree build
# directory with `make defconfig && make prepare` done. Idempotent; the result is cached
# outside the repository because `make prepare` takes minutes.
#
#   tests/emit/prepare-ktree.sh 6.12 x86_64      # or arm64 (gcc-aarch64-linux-gnu)
#
# Layout: $VMCI_KTREE_CACHE/<version>/src (a hard-linked copy of the extracted source,
# or the extracted tarball /usr/src/linux-source-<version>.tar.xz), .../<arch>/ (O=).
set -euo pipefail
version=${1:?kernel version, e.g. 6.12}
arch=${2:?architecture: x86_64 or arm64}
root=${VMCI_KTREE_CACHE:-/var/cache/vmci/ktree}/$version
extracted=/var/cache/vmci-setup/src/linux-source-$version
tarball=/usr/src/linux-source-$version.tar.xz

case "$arch" in
  x86_64) make_args=(ARCH=x86_64) ;;
  arm64) make_args=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-) ;;
  *) echo "prepare-ktree.sh: no recipe for architecture $arch" >&2; exit 2 ;;
esac

mkdir -p "$root"
if [ ! -f "$root/src/.vmci-complete" ]; then
  rm -rf "$root/src.tmp"
  if [ -d "$extracted/kernel" ]; then
    cp -al "$extracted" "$root/src.tmp"
  elif [ -f "$tarball" ]; then
    mkdir -p "$root/src.tmp"
    tar -C "$root/src.tmp" --strip-components=1 -xJf "$tarball"
  else
    echo "prepare-ktree.sh: neither $extracted nor $tarball exists (apt-get install linux-source-$version)" >&2
    exit 2
  fi
  touch "$root/src.tmp/.vmci-complete"
  rm -rf "$root/src"
  mv "$root/src.tmp" "$root/src"
fi

build=$root/$arch
if [ ! -f "$build/.vmci-prepared" ]; then
  mkdir -p "$build"
  make -s -C "$root/src" O="$build" "${make_args[@]}" defconfig
  make -s -C "$root/src" O="$build" "${make_args[@]}" -j"$(nproc)" prepare
  touch "$build/.vmci-prepared"
fi
echo "$build"
