#!/usr/bin/env bash
# Prove the generated kernel C end to end: build Debian's linux-source-VERSION twice with
# a small config -- stock, then with vmci's generated common file (kernel/crash_core.c
# before 6.9, kernel/vmcore_info.c since) and x86_64 arch_crash_save_vmcoreinfo() in
# place (an incremental rebuild: the swapped objects and the link) -- boot both under
# qemu-system-x86_64 (TCG) with a busybox initramfs that hex-dumps the head of /proc/kcore
# to the console, read the VMCOREINFO out of it with `vmci show`, and compare the two notes.
#
#   tests/e2e/kernel-roundtrip.sh [VARIANT [VERSION]]
#     VARIANT  numa (default): NUMA, SPARSEMEM_VMEMMAP, KALLSYMS
#              nonuma:         the same with NUMA off
#     VERSION  6.12 (default) or 6.1: the Debian linux-source package
#
# Reuses built trees under $VMCI_E2E_DIR (default /var/cache/vmci/e2e); the build with
# the generated C is redone whenever those files change. Writes the two notes, the
# comparison and the timings to $VMCI_E2E_DIR/<version>-<variant>/ (6.12: <variant>/).
# Exit 0 when the notes are identical except for the lines whose values are fixed at
# run time.
set -euo pipefail
variant=${1:-numa}
version=${2:-6.12}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${VMCI_E2E_DIR:-/var/cache/vmci/e2e}
case "$version" in
  6.12) tag=$variant; common=kernel/vmcore_info.c; arch_file=arch/x86/kernel/vmcore_info_64.c
        gate=VMCORE_INFO; common_is_part=0 ;;
  # before 6.9 the generated common file is the VMCOREINFO part of crash_core.c, which
  # also holds the crashkernel= parser: splice_part.py keeps the kernel's parser
  6.1)  tag=$version-$variant; common=kernel/crash_core.c; arch_file=arch/x86/kernel/crash_core_64.c
        gate=CRASH_CORE; common_is_part=1 ;;
  *) echo "unknown version $version (6.12, 6.1)" >&2; exit 2 ;;
esac
out=$work/$tag
mkdir -p "$out"
log() { echo "[e2e $version $variant] $*" >&2; }
now() { date +%s; }

# --- packages -------------------------------------------------------------------------
need="linux-source-$version build-essential flex bison bc libelf-dev libssl-dev cpio qemu-system-x86 busybox-static xz-utils"
missing=$(for p in $need; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  log "installing $missing"
  apt-get update -qq || true  # a foreign arch missing from one suite fails the update; installs still work
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# --- source tree ----------------------------------------------------------------------
src=$work/linux-source-$version
if [ ! -e "$src/Makefile" ]; then
  log "extracting /usr/src/linux-source-$version.tar.xz"
  tar -xJf "/usr/src/linux-source-$version.tar.xz" -C "$work"
fi
build=$work/build-$tag

# --- config ---------------------------------------------------------------------------
if [ ! -e "$build/.config" ]; then
  mkdir -p "$build"
  make -s -C "$src" ARCH=x86_64 O="$build" tinyconfig
  set_opts=(64BIT PRINTK PRINTK_TIME PROC_FS PROC_KCORE SYSFS TTY SERIAL_8250 SERIAL_8250_CONSOLE
            BLK_DEV_INITRD RD_GZIP BINFMT_ELF BINFMT_SCRIPT DEVTMPFS KALLSYMS MULTIUSER
            SPARSEMEM_VMEMMAP HUGETLBFS MEMORY_FAILURE FUTEX EPOLL SIGNALFD TIMERFD EVENTFD SHMEM
            X86_64 SMP CRASH_CORE DEBUG_KERNEL DEBUG_INFO_DWARF5)
  unset_opts=(RANDOMIZE_BASE)
  case "$variant" in
    numa)   set_opts+=(NUMA X86_64_ACPI_NUMA ACPI) ;;
    nonuma) unset_opts+=(NUMA) ;;
    *) echo "unknown variant $variant (numa, nonuma)" >&2; exit 2 ;;
  esac
  for o in "${set_opts[@]}"; do "$src/scripts/config" --file "$build/.config" -e "$o"; done
  for o in "${unset_opts[@]}"; do "$src/scripts/config" --file "$build/.config" -d "$o"; done
  make -s -C "$src" ARCH=x86_64 O="$build" olddefconfig
fi
for o in PROC_KCORE $gate KALLSYMS SPARSEMEM_VMEMMAP PRINTK; do
  grep -q "^CONFIG_$o=y" "$build/.config" || { echo "config lacks CONFIG_$o" >&2; exit 1; }
done

# --- initramfs ------------------------------------------------------------------------
initrd=$work/initrd.gz
if [ ! -s "$initrd" ]; then
  ir=$(mktemp -d)
  mkdir -p "$ir"/{bin,proc,sys,dev}
  cp /bin/busybox "$ir/bin/busybox"
  for t in sh mount hexdump head reboot cat echo; do ln -s busybox "$ir/bin/$t"; done
  cat > "$ir/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "VMCI-VMCOREINFO: $(cat /sys/kernel/vmcoreinfo)"
echo KCORE-BEGIN
head -c 65536 /proc/kcore | hexdump -v -e '16/1 " %02x" "\n"'
echo KCORE-END
reboot -f  # with -no-reboot QEMU exits; poweroff needs ACPI, which tinyconfig lacks
INIT
  chmod +x "$ir/init"
  (cd "$ir" && find . | cpio -o -H newc --quiet | gzip -9) > "$initrd"
  rm -rf "$ir"
fi

boot() {  # boot IMAGE SERIAL_LOG
  timeout 900 qemu-system-x86_64 -m 512 -smp 1 -display none -nic none -no-reboot \
    -serial "file:$2" -kernel "$1" -initrd "$initrd" \
    -append "console=ttyS0 nokaslr panic=-1 quiet loglevel=1" </dev/null >/dev/null 2>&1 || true
}

note_from_serial() {  # SERIAL_LOG OUT_NOTE_TXT: the guest's /proc/kcore head, read by `vmci show`
  "$root/.venv/bin/python" "$here/kcore_note.py" "$1" "$2.kcore-head"
  "$root/.venv/bin/vmci" show "$2.kcore-head" -o "$2"
}

# --- stock build and boot ---------------------------------------------------------------
if [ ! -s "$out/stock.bzImage" ]; then
  log "building the stock kernel (make -j$(nproc) bzImage)"
  t0=$(now)
  make -s -C "$src" ARCH=x86_64 O="$build" -j"$(nproc)" bzImage
  echo "stock_build_seconds=$(( $(now) - t0 ))" > "$out/times.txt"
  cp "$build/arch/x86/boot/bzImage" "$out/stock.bzImage"
  cp "$build/vmlinux" "$out/stock.vmlinux"
fi
if ! grep -q KCORE-END "$out/stock.serial" 2>/dev/null; then
  log "booting the stock kernel"
  t0=$(now); boot "$out/stock.bzImage" "$out/stock.serial"; echo "stock_boot_seconds=$(( $(now) - t0 ))" >> "$out/times.txt"
fi
note_from_serial "$out/stock.serial" "$out/stock.vmcoreinfo.txt"

# --- the same kernel with vmci's generated C ------------------------------------------------
gen_common=$root/generated/c/$version/$common
gen_arch=$root/generated/c/$version/$arch_file
for f in "$gen_common" "$gen_arch"; do [ -s "$f" ] || { echo "missing generated file $f (run vmci generate)" >&2; exit 1; }; done
generated_sum=$(cat "$gen_common" "$gen_arch" "$here/splice_part.py" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/vmci.sources.sha256" 2>/dev/null)" != "$generated_sum" ]; then
  rm -f "$out/vmci.bzImage" "$out/vmci.serial"  # built from other generated C
fi
if [ ! -s "$out/vmci.bzImage" ]; then
  cp "$src/$common" "$out/orig.common.c"
  cp "$src/$arch_file" "$out/orig.arch.c"
  restore() {
    cp "$out/orig.common.c" "$src/$common"
    cp "$out/orig.arch.c" "$src/$arch_file"
  }
  trap restore EXIT
  if [ "$common_is_part" = 1 ]; then
    "$root/.venv/bin/python" "$here/splice_part.py" "$out/orig.common.c" "$gen_common" > "$src/$common"
  else
    cp "$gen_common" "$src/$common"
  fi
  cp "$gen_arch" "$src/$arch_file"
  log "rebuilding with the generated files (incremental)"
  t0=$(now)
  make -s -C "$src" ARCH=x86_64 O="$build" -j"$(nproc)" bzImage 2> "$out/vmci.build.stderr" || { cat "$out/vmci.build.stderr" >&2; exit 1; }
  echo "vmci_rebuild_seconds=$(( $(now) - t0 ))" >> "$out/times.txt"
  echo "vmci_build_warnings=$(grep -c 'warning:' "$out/vmci.build.stderr" || true)" >> "$out/times.txt"
  cp "$build/arch/x86/boot/bzImage" "$out/vmci.bzImage"
  cp "$build/vmlinux" "$out/vmci.vmlinux"
  echo "$generated_sum" > "$out/vmci.sources.sha256"
  restore; trap - EXIT
  # put the tree back to stock for the next run (the originals are older than the objects)
  touch "$src/$common" "$src/$arch_file"
fi
if ! grep -q KCORE-END "$out/vmci.serial" 2>/dev/null; then
  log "booting the kernel built with vmci's C"
  t0=$(now); boot "$out/vmci.bzImage" "$out/vmci.serial"; echo "vmci_boot_seconds=$(( $(now) - t0 ))" >> "$out/times.txt"
fi
note_from_serial "$out/vmci.serial" "$out/vmci.vmcoreinfo.txt"

# --- compare -------------------------------------------------------------------------------
status=0
"$root/.venv/bin/python" "$here/compare_notes.py" "$out/stock.vmcoreinfo.txt" "$out/vmci.vmcoreinfo.txt" \
  | tee "$out/comparison.txt" || status=1
# and what `vmci resolve` makes of the stock vmlinux, against the note that kernel wrote
if "$root/.venv/bin/vmci" resolve --vmlinux "$out/stock.vmlinux" --config "$build/.config" --no-cache \
     -o "$out/resolved.vmcoreinfo.txt"; then
  echo "vmci resolve of the stock vmlinux against its booted note:" | tee -a "$out/comparison.txt"
  "$root/.venv/bin/python" "$here/compare_notes.py" "$out/stock.vmcoreinfo.txt" "$out/resolved.vmcoreinfo.txt" \
    | tee -a "$out/comparison.txt" || status=1
else
  status=1
fi
exit $status
