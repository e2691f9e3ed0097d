#!/usr/bin/env bash
# Fetch Debian's linux-source-VERSION tarball from a suite the system's sources lack,
# without installing it system-wide: the .deb is downloaded through a private apt
# configuration (tools/apt-suite.sh) and only its tarball is kept.
#
#   tools/fetch-source.sh VERSION SUITE
#   e.g. tools/fetch-source.sh 5.10 bullseye
#        tools/fetch-source.sh 7.2 sid
#        tools/fetch-source.sh 7.3 experimental
#
# Result: $VMCI_SOURCE_TARBALLS/linux-source-VERSION.tar.xz (default
# /var/cache/vmci/linux-source), plus linux-source-VERSION.version naming the package
# version it came from; prints the tarball's path. A tarball already there is kept
# (delete it to fetch the suite's newer one). Needs root (apt-get update).
set -euo pipefail
version=${1:?usage: fetch-source.sh VERSION SUITE}
suite=${2:?usage: fetch-source.sh VERSION SUITE}
cache=${VMCI_SOURCE_TARBALLS:-/var/cache/vmci/linux-source}
tarball=$cache/linux-source-$version.tar.xz
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi
mkdir -p "$cache"
APT_CONFIG=$("$(dirname "$(readlink -f "$0")")/apt-suite.sh" "$suite"); export APT_CONFIG
work=$(mktemp -d "$cache/.fetch-XXXXXX"); trap 'rm -rf "$work"' EXIT
chmod 777 "$work"   # apt's _apt user downloads into the current directory
cd "$work"
apt-get download -qq "linux-source-$version" 2>/dev/null \
  || { apt-get update -qq || true; apt-get download -qq "linux-source-$version"; }
deb=$(ls ./linux-source-"$version"_*.deb)
# The package holds usr/src/linux-source-VERSION.tar.xz (and a debian patch series beside it).
dpkg-deb --fsys-tarfile "$deb" | tar -x -O "./usr/src/linux-source-$version.tar.xz" > tarball
[ -s tarball ] || { echo "fetch-source.sh: $deb holds no usr/src/linux-source-$version.tar.xz" >&2; exit 1; }
dpkg-deb -f "$deb" Version > "$cache/linux-source-$version.version"
mv tarball "$tarball"   # last, so a present tarball means a complete fetch
echo "$tarball"
