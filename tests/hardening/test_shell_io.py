"""Inputs and outputs as a shell user expects: `-` is standard input for every input
file argument and standard output for -o; text `resolve` stays the kernel's bytes while
one line on standard error names the values fixed at boot (--quiet silences it);
progress is drawn on a terminal only, overall and never backwards (checked through a
real pseudo-terminal), and nothing of it reaches a pipe."""
import os
import pty
import re
import subprocess
import sys
import tarfile

import pytest

from conftest import DATA, GOLD, ROOT, gold, kernel_path

AMD64 = "6.1.0-57-cloud-amd64"


def vmci(*args, stdin=None):
    """Run vmci with a file (or nothing) on standard input; bytes out."""
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as handle:
        result = subprocess.run([sys.executable, "-m", "vmci", *args], cwd=ROOT, stdin=handle,
                                capture_output=True, timeout=600)
    assert b"Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr.decode()


@pytest.fixture(scope="module")
def amd64():
    meta, text, config = gold(AMD64)
    return kernel_path(AMD64), config, os.path.join(GOLD, AMD64)


def test_resolve_reads_the_vmlinux_and_the_config_from_standard_input(amd64):
    vmlinux, config, _ = amd64
    expected = vmci("resolve", "--vmlinux", vmlinux, "--config", config)
    assert expected[0] == 0 and expected[1].count(b"\n") == 108
    assert vmci("resolve", "--vmlinux", "-", "--config", config, stdin=vmlinux)[:2] == expected[:2]
    assert vmci("resolve", "--vmlinux", vmlinux, "--config", "-", stdin=config)[:2] == expected[:2]
    code, out, _ = vmci("resolve", "--vmlinux", "-", "--config", config, "--format", "json", stdin=vmlinux)
    assert code == 0 and b'"vmlinux": "<stdin>"' in out


def test_standard_input_is_read_once_and_bad_input_is_named_stdin(amd64):
    vmlinux, config, _ = amd64
    code, out, err = vmci("resolve", "--vmlinux", "-", "--config", "-", stdin=vmlinux)
    assert code == 2 and out == b""
    assert err == "vmci resolve: standard input can be read once; --vmlinux and --config both say -\n"
    code, _, err = vmci("resolve", "--vmlinux", "-", "--config", config, stdin=config)
    assert code == 2 and err.startswith("vmci resolve: <stdin>: ") and len(err.splitlines()) == 1
    assert "vmci-stdin" not in err  # the spooled copy is never named


def test_note_list_and_audit_read_standard_input(amd64):
    vmlinux, config, directory = amd64
    text, note = os.path.join(directory, "vmcoreinfo.txt"), os.path.join(directory, "note.bin")
    with open(note, "rb") as handle:
        assert vmci("note", "--from", "-", "-o", "-", stdin=text)[1] == handle.read()
    listed = vmci("list", "--arch", "x86_64", "--kernel-version", AMD64, "--config", config)
    assert listed[0] == 0 and vmci("list", "--arch", "x86_64", "--kernel-version", AMD64, "--config", "-",
                                   stdin=config)[1] == listed[1]
    for args, stdin in [(["audit", "note", "-", "--vmlinux", vmlinux, "--config", config], note),
                        (["audit", "note", note, "--vmlinux", "-", "--config", config], vmlinux),
                        (["audit", "note", note, "--vmlinux", vmlinux, "--config", "-"], config)]:
        code, out, err = vmci(*args, stdin=stdin)
        assert code == 0, err
        assert out.decode().splitlines()[-1] == "108 lines: 107 match, 1 runtime, 0 differs, 0 missing, " \
                                                "0 unexpected, 0 unresolved"
    code, out, _ = vmci("audit", "note", "-", "--vmlinux", vmlinux, "--config", config, stdin=text)
    assert out.decode().splitlines()[0] == "vmci audit note: <stdin>: VMCOREINFO text"
    code, out, _ = vmci("diff", "-", vmlinux, "--config-b", config, stdin=note)
    assert code == 1 and out.decode().splitlines()[0].startswith("--- A: <stdin> (note: raw note")
    assert "~ SYMBOL(mem_section): ffff88803feb5000 -> 0" in out.decode()
    code, _, err = vmci("audit", "note", "-", "--vmlinux", vmlinux, "--config", "-", stdin=config)
    assert code == 2 and "standard input can be read once" in err


def test_dash_output_is_standard_output(amd64):
    vmlinux, config, _ = amd64
    plain = vmci("resolve", "--vmlinux", vmlinux, "--config", config)[1]
    assert vmci("resolve", "--vmlinux", vmlinux, "--config", config, "-o", "-")[1] == plain
    assert not os.path.exists(os.path.join(ROOT, "-"))
    code, out, _ = vmci("coverage", "--format", "json", "-o", "-")
    assert code == 0 and out.startswith(b'{\n  "format": "vmci-coverage/1"')


def test_text_resolve_is_the_kernels_bytes_and_boot_time_values_are_told_on_stderr(amd64):
    vmlinux, config, directory = amd64
    code, out, err = vmci("resolve", "--vmlinux", vmlinux, "--config", config)
    with open(os.path.join(directory, "vmcoreinfo.txt"), "rb") as handle:
        booted = handle.read().splitlines(keepends=True)
    ours = out.splitlines(keepends=True)
    assert [a for a, b in zip(ours, booted) if a != b] == [b"SYMBOL(mem_section)=0\n"]  # no marker in the text
    [summary] = err.splitlines()
    listed = summary.split(": ", 2)[2].split(" (")[0].split(", ")
    code, json_out, _ = vmci("resolve", "--vmlinux", vmlinux, "--config", config, "--format", "json")
    import json
    runtime = [line["key"] for line in json.loads(json_out)["lines"] if line["runtime"]]
    assert listed == runtime and "SYMBOL(mem_section)" in runtime and "KERNELOFFSET" in runtime
    assert summary.startswith(f"vmci resolve: {len(runtime)} lines hold values fixed at boot")
    code, quiet_out, quiet_err = vmci("resolve", "--vmlinux", vmlinux, "--config", config, "--quiet")
    assert (code, quiet_out, quiet_err) == (0, out, "")


def on_a_terminal(*args):
    """Run vmci with standard error on a pseudo-terminal, standard output on a pipe."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vmci", *args], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        err += chunk
    out = process.stdout.read()
    process.wait(timeout=600)
    os.close(master)
    return process.returncode, out, err.decode()


def percentages(err):
    return [int(n) for n in re.findall(r"(\d+)% ", err)]


def assert_progress(err, label):
    shown = percentages(err)
    assert len(shown) >= 5 and shown == sorted(shown), shown  # overall: never backwards
    assert shown[-1] >= 90
    assert err.count(label) == len(shown)
    # the last drawing is wiped, so what follows starts at the left margin
    assert re.search(r"\r {40,}\r", err)


def test_cold_resolve_shows_progress_on_a_terminal_only(amd64, tmp_path):
    vmlinux, config, _ = amd64
    code, out, err = on_a_terminal("resolve", "--vmlinux", vmlinux, "--config", config, "--no-cache", "--quiet")
    assert code == 0
    assert_progress(err, "vmci resolve:")
    piped = vmci("resolve", "--vmlinux", vmlinux, "--config", config, "--no-cache", "--quiet")
    assert piped == (0, out, "")


def test_audit_source_shows_progress_on_a_terminal_only(tmp_path):
    tarball = tmp_path / "mini-tree.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(os.path.join(DATA, "audit", "mini-tree"), arcname="linux-mini")
    args = ("audit", "source", str(tarball), "--specs", os.path.join(DATA, "audit", "mini-specs"))
    code, out, err = on_a_terminal(*args)
    assert code == 0 and out.decode().endswith("no drift\n")
    assert_progress(err, "vmci audit source:")
    assert vmci(*args) == (0, out, "")


def test_a_vmlinux_from_standard_input_is_cached_by_digest(amd64, tmp_path):
    """Standard input is read from a temporary copy, gone by the next run: its answers are
    saved under the digest of its bytes (a file's own are saved unhashed, by its
    fingerprint, until a copy needs the digest: elf/cache.py)."""
    vmlinux, config, _ = amd64
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    for source, shape in ((vmlinux, "-unhashed-"), ("-", "")):
        with open(vmlinux, "rb") as handle:
            result = subprocess.run([sys.executable, "-m", "vmci", "resolve", "--vmlinux", source, "--config", config],
                                    cwd=ROOT, stdin=handle, capture_output=True, timeout=600, env=env)
        assert result.returncode == 0, result.stderr
        names = [n for n in os.listdir(tmp_path / "vmci") if n.startswith("vmlinux-")]
        assert len(names) == 1 and (shape in names[0] if shape else "-unhashed-" not in names[0]), names
        os.unlink(tmp_path / "vmci" / names[0])
