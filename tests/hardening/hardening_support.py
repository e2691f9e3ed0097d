"""Shared helpers of the hardening tests: run the command line in-process with a time
limit, check the output contract, build the kernel-shaped fixture.

The contract every input must meet (README, docs/errors.md): exit status 0 with a
correct result, or 1/2 with problems printed one per line, each naming the file and
place (`file:line:col: ...` for specs, `vmci COMMAND: FILE: PLACE: message` for other
inputs), and never a traceback. Fuzz cases run through `vmci.cli.main.main()` in this
process, which is fast and shows an escaping exception with its own traceback; a sample
runs as a real subprocess to show the same end to end.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
FIXTURE_C = os.path.join(DATA, "fixture.c")
FIXTURE_SPECS = os.path.join(DATA, "specs")
FIXTURE_CONFIG = os.path.join(DATA, "config")
KERNEL_CACHE = os.environ.get("VMCI_KERNEL_CACHE", "/var/cache/vmci/kernels")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# VMCI_FUZZ_LONG=1: the long run. The CI run tries at least SPEC_CASES generated specs
# and ELF_CASES damaged ELF files.
LONG = os.environ.get("VMCI_FUZZ_LONG", "") not in ("", "0")
SPEC_CASES = 10_000 if LONG else 2_000
ELF_CASES = 2_000 if LONG else 500
CASE_SECONDS = 30  # one input that takes longer than this is a hang


class Hang(Exception):
    pass


class Escaped(AssertionError):
    """An exception escaped the command line: the traceback a user would have seen."""


@dataclass
class Result:
    code: int
    out: str
    err: str
    argv: Sequence[str]

    def __str__(self) -> str:
        return f"vmci {' '.join(self.argv)} -> exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "case"):
    def expire(signum, frame):
        raise Hang(f"{what} took longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: Sequence[str], seconds: float = CASE_SECONDS) -> Result:
    """vmci.cli.main.main(argv) in this process: exit status, stdout, stderr.

    SystemExit is an exit status like any other; every other exception is a bug (it
    would reach the user as a traceback) and fails the test with the input named."""
    from vmci.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    try:
        with time_limit(seconds, "vmci " + " ".join(argv)), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(argv))
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except Hang:
        raise
    except Exception as error:  # noqa: BLE001 - this is what the test looks for
        raise Escaped(f"vmci {' '.join(argv)} raised {type(error).__name__}: {error}\n"
                      f"--- stderr so far\n{err.getvalue()[-2000:]}") from error
    return Result(code, out.getvalue(), err.getvalue(), tuple(argv))


def run_subprocess(argv: Sequence[str], timeout: float = 120) -> Result:
    result = subprocess.run([sys.executable, "-m", "vmci", *argv], cwd=ROOT, capture_output=True,
                            text=True, errors="replace", timeout=timeout)
    return Result(result.returncode, result.stdout, result.stderr, tuple(argv))


# --- the output contract ---------------------------------------------------------------

_SPEC_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<label>error|warning(?: \[[A-Z_]+\])?): (?P<message>\S.*)$")
_SUMMARY = re.compile(r"^\d+ spec files, \d+ entries: \d+ errors, \d+ warnings$")
_UNRESOLVED = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<key>\S+) not resolved: \S.*$")
# text resolve names on stderr the lines whose values the kernel fixes at boot (--quiet
# silences it): a note, not a problem
_BOOT_TIME = re.compile(r"^vmci resolve: \d+ (?:line holds a value|lines hold values) fixed at boot, given as the image starts them: [^\n]*\n?$")
_TRUNCATED = re.compile(r"^vmci resolve: warning: the text reaches VMCOREINFO_BYTES \(\d+\); [^\n]*\n$")
_VALUE_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_()\-.]*=[^\n]*$")


def _line_count(path: str) -> int:
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n") + 1
    except OSError:
        return 1


def check_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.out + result.err, str(result)


def check_spec_problems(result: Result, lines: List[str], files: Sequence[str]) -> None:
    """Each line is `file:line:col: severity: message` naming a real place in a real file."""
    known = {os.path.abspath(f): f for f in files}
    for text in lines:
        match = _SPEC_LINE.match(text)
        assert match, f"not a file:line:col line: {text!r}\n{result}"
        path = os.path.abspath(match["file"])
        assert path in known or os.path.isdir(path), f"names no input file: {text!r}\n{result}"
        if os.path.isfile(path):
            assert 1 <= int(match["line"]) <= _line_count(path), f"line out of range: {text!r}\n{result}"
        assert int(match["col"]) >= 1, text


def check_validate(result: Result, files: Sequence[str]) -> None:
    check_no_traceback(result)
    assert result.code in (0, 1), str(result)
    out = result.out.splitlines()
    check_spec_problems(result, out, files)
    err = result.err.splitlines()
    assert len(err) == 1 and _SUMMARY.match(err[0]), str(result)
    errors = [line for line in out if ": error: " in line]
    assert (result.code == 1) == bool(errors), str(result)


def check_one_line_error(result: Result, command: str, *fragments: str) -> None:
    """Exit 2 and exactly one line `vmci COMMAND: ...` on stderr."""
    check_no_traceback(result)
    assert result.code == 2, str(result)
    lines = result.err.splitlines()
    assert len(lines) == 1, str(result)
    assert lines[0].startswith(f"vmci {command}: "), str(result)
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def _check_value_lines(result: Result) -> None:
    lines = result.out.splitlines()
    if _TRUNCATED.match(result.err.split("\n", 1)[0] + "\n"):
        lines = lines[:-1]  # cut at VMCOREINFO_BYTES as the kernel cuts it: the last line may be a stub
    for line in lines:
        assert _VALUE_LINE.match(line), f"not KEY=VALUE: {line!r}\n{result}"


def check_resolve(result: Result, vmlinux: str, spec_files: Sequence[str] = ()) -> str:
    """The resolve contract; returns which outcome it was: ok, unresolved, spec, refused."""
    check_no_traceback(result)
    assert result.code in (0, 1, 2), str(result)
    err = "".join(line for line in result.err.splitlines(keepends=True) if not _BOOT_TIME.match(line))
    if result.code == 0:
        assert err == "" or _TRUNCATED.match(err), str(result)
        _check_value_lines(result)
        return "ok"
    if result.code == 2:
        check_one_line_error(result, "resolve")
        line = result.err.strip()
        # the file it names: the vmlinux, the config, the specs, or an argument
        assert vmlinux in line or "--" in line or "config" in line or "version" in line, str(result)
        return "refused"
    lines = [line for line in err.splitlines() if not _TRUNCATED.match(line + "\n")]
    if all(_UNRESOLVED.match(line) for line in lines) and lines:
        _check_value_lines(result)
        return "unresolved"
    check_spec_problems(result, lines, spec_files)  # the specs did not load
    return "spec"


# --- the kernel-shaped fixture ------------------------------------------------------------

_built = {}


def have_gcc() -> bool:
    return shutil.which("gcc") is not None


def build_fixture(directory: str, flags: Sequence[str] = ("-gdwarf-5",)) -> str:
    """Compile data/fixture.c into an x86_64 executable with DWARF; cached per flags."""
    key = tuple(flags)
    if key in _built and os.path.exists(_built[key]):
        return _built[key]
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "fixture" + "".join(f.replace("-", "_") for f in flags))
    subprocess.run(["gcc", "-g", *flags, "-O0", "-no-pie", "-Wl,--build-id", "-o", path, FIXTURE_C],
                   check=True, capture_output=True)
    _built[key] = path
    return path


def kernel_file(release: str, name: str = "vmlinux") -> Optional[str]:
    path = os.path.join(KERNEL_CACHE, release, name)
    return path if os.path.exists(path) else None
