#!/usr/bin/env bash
# Make (once) and refresh a private apt configuration for a Debian suite the system's
# sources lack (bullseye, trixie, sid, experimental, bookworm-backports), reusing the
# mirror the system is configured with, without touching the system's sources.
#
#   APT_CONFIG=$(tools/apt-suite.sh SUITE [DEBIAN_ARCH]) apt-get download PACKAGE[:DEBIAN_ARCH]
#
# The configuration names its architectures itself (the native one and DEBIAN_ARCH), so
# that one the system's suite does not carry (riscv64 is no bookworm port) is never added
# to dpkg. It lives in $VMCI_APT_DIR/SUITE-ARCH (default /var/cache/vmci/apt); prints the
# path of its apt.conf. Needs root (apt-get update).
set -euo pipefail
suite=${1:?usage: apt-suite.sh SUITE [DEBIAN_ARCH]}
native=$(dpkg --print-architecture)
arch=${2:-$native}
dir=${VMCI_APT_DIR:-/var/cache/vmci/apt}/$suite-$arch
uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
[ -n "$uri" ] || uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security \
  | awk '{for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit }}' | head -1 || true)
[ -n "$uri" ] || { echo "apt-suite.sh: no mirror URI in the system's apt sources" >&2; exit 1; }
mkdir -p "$dir"/{lists/partial,cache/archives/partial,parts}
# bullseye's archive still has its own security/updates suites; the main suite is enough.
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" > "$dir/sources.list"
printf 'Dir::Etc::SourceList "%s/sources.list";\nDir::Etc::SourceParts "%s/parts";\nDir::State::Lists "%s/lists";\nDir::Cache "%s/cache";\nAPT::Architectures { "%s"; "%s"; };\n' \
  "$dir" "$dir" "$dir" "$dir" "$native" "$arch" > "$dir/apt.conf"
# Refresh at most once an hour: sid and experimental move, and a stale list names gone .debs.
if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -60 2>/dev/null | head -1)" ]; then
  APT_CONFIG="$dir/apt.conf" apt-get update -qq >&2 || true
fi
echo "$dir/apt.conf"
