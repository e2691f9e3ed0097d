"""Real dumps of a real kernel: boot a gold Debian kernel under QEMU, let the guest read
/proc/kcore, then dump the guest's memory and have the real makedumpfile write its
formats from that dump.

The guest is the gold kernel's own boot image (vmlinuz, fetched by tools/fetch-kernel.sh)
with a busybox initramfs whose /init
- loads qemu_fw_cfg.ko, which hands QEMU's vmcoreinfo device the physical address of the
  kernel's VMCOREINFO note (drivers/firmware/qemu_fw_cfg.c, fw_cfg_write_vmcoreinfo()), so
  that QEMU's `dump-guest-memory` puts that note into the ELF core it writes, as a
  hypervisor dump (virsh dump --memory-only) does;
- hex-dumps the head of /proc/kcore to the serial console, as tests/e2e does.

Then, from QEMU's monitor: `dump-guest-memory` (ELF) and `dump-guest-memory -z` (QEMU's
own kdump-compressed writer). QEMU writes the ELF section header table (kept for
PN_XNUM) between the ELF header and the program headers; makedumpfile, like the kernel's
/proc/vmcore, expects the program headers right after the ELF header
(get_elf64_phdr() in makedumpfile's elf_info.c), so they are moved there (the data and
the notes stay where they are). makedumpfile then writes, from that core, a
kdump-compressed file (-c -d 31), a flattened one (-F) and an ELF one (-E).
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from kcore_note import kcore_head  # noqa: E402  the e2e proof's reader of the guest's hex dump

INIT = """#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B insmod /qemu_fw_cfg.ko
echo KCORE-BEGIN
$B head -c 65536 /proc/kcore | $B hexdump -v -e '16/1 " %02x" "\\n"'
echo KCORE-END
echo VMCI-READY
$B sleep 600
"""


def build_initrd(work, module):
    tree = os.path.join(work, "initramfs")
    for directory in ("bin", "proc", "sys", "dev"):
        os.makedirs(os.path.join(tree, directory), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(tree, "bin", "busybox"))
    shutil.copy(module, os.path.join(tree, "qemu_fw_cfg.ko"))
    with open(os.path.join(tree, "init"), "w") as handle:
        handle.write(INIT)
    os.chmod(os.path.join(tree, "init"), 0o755)
    initrd = os.path.join(work, "initrd.gz")
    subprocess.run(f"find . | cpio -o -H newc --quiet | gzip -6 > {initrd}", shell=True, check=True, cwd=tree)
    return initrd


class Monitor:
    """QEMU's human monitor on a unix socket: one command at a time, up to the next prompt."""

    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX)
        self.socket.connect(path)
        self.socket.settimeout(600)
        self._prompt()

    def _prompt(self):
        buffer = b""
        while not buffer.endswith(b"(qemu) "):
            chunk = self.socket.recv(4096)
            if not chunk:
                raise RuntimeError(f"QEMU's monitor closed: {buffer[-400:]!r}")
            buffer += chunk
        return buffer.decode("latin-1")

    def command(self, line):
        self.socket.sendall(line.encode() + b"\n")
        return self._prompt()

    def quit(self):
        self.socket.sendall(b"quit\n")
        while self.socket.recv(4096):  # QEMU closes the monitor as it ends
            pass
        self.socket.close()


def program_headers_after_elf_header(path):
    """Move an ELF64 core's program header table to offset 64 and drop the section headers."""
    with open(path, "r+b") as handle:
        header = bytearray(handle.read(64))
        assert header[:5] == b"\x7fELF\x02", "an ELF64 core is expected"
        order = "<" if header[5] == 1 else ">"
        phoff, = struct.unpack_from(order + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
        struct.pack_into(order + "QQ", header, 32, 64, 0)  # e_phoff, e_shoff
        struct.pack_into(order + "HHH", header, 58, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
        handle.seek(0)
        handle.write(header)
        handle.write(table)


def capture(kernel_dir, work, memory_mb=1024, timeout=600):
    """Boot, dump, convert. Returns {name: path} of the files written in `work`."""
    initrd = build_initrd(work, os.path.join(kernel_dir, "qemu_fw_cfg.ko"))
    serial, monitor_socket = os.path.join(work, "serial.log"), os.path.join(work, "monitor.sock")
    command = ["qemu-system-x86_64", "-m", str(memory_mb), "-display", "none", "-nic", "none", "-no-reboot",
               "-device", "vmcoreinfo", "-serial", f"file:{serial}",
               "-monitor", f"unix:{monitor_socket},server=on,wait=off",
               "-kernel", os.path.join(kernel_dir, "vmlinuz"), "-initrd", initrd,
               "-append", "console=ttyS0 nokaslr panic=-1 quiet loglevel=1"]
    qemu = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    files = {}
    try:
        started = time.monotonic()
        text = ""
        while "VMCI-READY" not in text:
            if qemu.poll() is not None:
                raise RuntimeError(f"QEMU ended early: {qemu.stderr.read().decode()[-2000:]}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the guest did not get ready in {timeout} s; serial log: {text[-2000:]}")
            time.sleep(0.5)
            if os.path.exists(serial):
                text = open(serial, "rb").read().decode("latin-1").replace("\r", "")
        files["kcore-head"] = os.path.join(work, "kcore-head")
        with open(files["kcore-head"], "wb") as handle:
            handle.write(kcore_head(text))
        monitor = Monitor(monitor_socket)
        monitor.command("stop")
        files["qemu-elf"] = os.path.join(work, "qemu.elf")
        files["qemu-kdump"] = os.path.join(work, "qemu.kdump")
        for flags, path in (("", files["qemu-elf"]), ("-z ", files["qemu-kdump"])):
            reply = monitor.command(f"dump-guest-memory {flags}{path}")
            assert os.path.getsize(path) > 0, reply
        monitor.quit()
        qemu.wait(60)
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    os.chmod(files["qemu-elf"], 0o600)
    program_headers_after_elf_header(files["qemu-elf"])
    outputs = {"makedumpfile-kdump": ["-c", "-d", "31"], "makedumpfile-elf": ["-E", "-d", "31"]}
    for name, flags in outputs.items():
        files[name] = os.path.join(work, name)
        subprocess.run(["makedumpfile", *flags, files["qemu-elf"], files[name]], check=True, capture_output=True)
    for name, flags in {"makedumpfile-flat": ["-F", "-c", "-d", "31"],
                        "makedumpfile-flat-elf": ["-F", "-E", "-d", "31"]}.items():
        files[name] = os.path.join(work, name)
        with open(files[name], "wb") as out:
            subprocess.run(["makedumpfile", *flags, files["qemu-elf"]], check=True, stdout=out,
                           stderr=subprocess.PIPE)
    return files
