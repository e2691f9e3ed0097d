#!/usr/bin/env bash
# Fetch one real Debian kernel build: its vmlinux with DWARF and its .config.
#
#   tools/fetch-kernel.sh RELEASE DEBIAN_ARCH [SUITE]
#   e.g. tools/fetch-kernel.sh 6.1.0-57-cloud-amd64 amd64
#        tools/fetch-kernel.sh 6.1.0-50-cloud-arm64 arm64
#
# Result: $VMCI_KERNEL_CACHE/RELEASE/{vmlinux,config} (default /var/cache/vmci/kernels);
# prints that directory. Needs root for apt-get. A SUITE the system's sources lack
# (trixie, bookworm-backports) is reached through a private apt configuration per suite
# and architecture, which names the architecture (riscv64 is no bookworm port); from the
# system's suite, a foreign DEBIAN_ARCH is added with dpkg --add-architecture.
set -euo pipefail
rel=${1:?usage: fetch-kernel.sh RELEASE DEBIAN_ARCH [SUITE]}
arch=${2:?usage: fetch-kernel.sh RELEASE DEBIAN_ARCH [SUITE]}
suite=${3:-}
cache=${VMCI_KERNEL_CACHE:-/var/cache/vmci/kernels}
out=$cache/$rel
if [ -s "$out/vmlinux" ] && [ -s "$out/config" ]; then echo "$out"; exit 0; fi
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
  *)
    # The private configuration names the architecture itself, so that one the system's
    # suite does not carry (riscv64 is no bookworm port) is never added to dpkg.
    dir=$cache/.apt-$suite-$arch
    mkdir -p "$dir"/{lists/partial,cache/archives/partial,parts}
    uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
    [ -n "$uri" ] || uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security | awk '{print $2}' | head -1)
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" > "$dir/sources.list"
    printf 'Dir::Etc::SourceList "%s/sources.list";\nDir::Etc::SourceParts "%s/parts";\nDir::State::Lists "%s/lists";\nDir::Cache "%s/cache";\nAPT::Architectures { "%s"; "%s"; };\n' "$dir" "$dir" "$dir" "$dir" "$native" "$arch" > "$dir/apt.conf"
    export APT_CONFIG=$dir/apt.conf
    apt-get update -qq || true
    ;;
esac
cd "$work"
chmod 777 "$work"   # apt's _apt user downloads into the current directory
get() { apt-get download -qq "$1$suffix" 2>/dev/null || { apt-get update -qq || true; apt-get download -qq "$1$suffix"; }; }
get "linux-image-$rel-dbg"
# The image package is linux-image-REL-unsigned on arches with signed images, else linux-image-REL.
get "linux-image-$rel-unsigned" 2>/dev/null || get "linux-image-$rel"
dpkg-deb --fsys-tarfile ./linux-image-"$rel"-dbg_*.deb | tar -x -O "./usr/lib/debug/boot/vmlinux-$rel" > vmlinux
for deb in ./linux-image-"$rel"_*.deb ./linux-image-"$rel"-unsigned_*.deb; do
  [ -e "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -O "./boot/config-$rel" > config
done
[ -s vmlinux ] && [ -s config ] || { echo "fetch-kernel.sh: $rel: no vmlinux or config in the packages" >&2; exit 1; }
mv config "$out/config"
mv vmlinux "$out/vmlinux"   # last, so a present vmlinux means a complete fetch
echo "$out"
