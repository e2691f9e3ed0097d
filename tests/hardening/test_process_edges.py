"""What the process around vmci can do to it: standard output on a full disk or closed,
Ctrl-C while Python is still importing, a working directory removed under it. Each is
one line and a non-zero exit, never a traceback.

The full disk is /dev/full (only ever written to); the Ctrl-C is a real SIGINT, sent
from inside the import of a chosen module, so that it lands during start-up every time
whatever the machine's load.
"""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

from hardening_support import FIXTURE_CONFIG, FIXTURE_SPECS, ROOT, check_one_line_error, run_cli

PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": ROOT}
LIST = ["list", "--specs", FIXTURE_SPECS, "--arch", "x86_64", "--kernel-version", "6.1", "--config", FIXTURE_CONFIG]


def run(argv, stdout=subprocess.PIPE):
    return subprocess.run([PYTHON, "-m", "vmci", *argv], cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=120, env=ENV)


def one_line(result, prefix, *fragments):
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr


# --- standard output that cannot be written -----------------------------------------------------

def bad_specs(tmp_path):
    """Specs with more problems than fit in one buffer of standard output."""
    specs = tmp_path / "specs"
    specs.mkdir()
    for number in range(300):
        (specs / f"broken{number:03d}.yaml").write_text("emitter: [unclosed\n")
    return str(specs)


def own_stdout(tmp_path):
    """A link like /dev/stdout: the system's own is never given to vmci in a test, where a
    vmci that replaced it would break the machine."""
    os.symlink("/proc/self/fd/1", tmp_path / "stdout")
    return str(tmp_path / "stdout")


@pytest.mark.parametrize("case", ["list", "list -o -", "list -o /dev/stdout", "validate", "generate --check",
                                  "note -o -"])
def test_standard_output_on_a_full_disk(tmp_path, case):
    text = tmp_path / "vmcoreinfo.txt"
    text.write_text("OSRELEASE=6.1.0\nPAGESIZE=4096\n")
    argv = {"list": LIST, "list -o -": LIST + ["-o", "-"], "list -o /dev/stdout": LIST + ["-o", own_stdout(tmp_path)],
            "validate": ["validate", bad_specs(tmp_path)],
            "generate --check": ["generate", "--check", "--specs", FIXTURE_SPECS, "-o", str(tmp_path / "none")],
            "note -o -": ["note", "--from", str(text), "-o", "-"]}[case]
    with open("/dev/full", "w") as full:
        result = run(argv, stdout=full)
    command = argv[0]
    assert result.returncode == 2, result.stderr
    one_line(result, f"vmci {command}: ", "No space left on device")


@pytest.mark.parametrize("case", ["list", "validate", "list -o /dev/stdout"])
def test_standard_output_closed(tmp_path, case):
    argv = {"list": LIST, "validate": ["validate", bad_specs(tmp_path)],
            "list -o /dev/stdout": LIST + ["-o", own_stdout(tmp_path)]}[case]
    result = subprocess.run(["bash", "-c", '"$@" >&-', "bash", PYTHON, "-m", "vmci", *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode == 2, result.stderr
    one_line(result, f"vmci {argv[0]}: ", "standard output", "closed")


def test_a_reader_that_stops_early_is_no_error():
    """`vmci ... | head -c 10` (Python ignores SIGPIPE: a broken pipe) ends quietly, exit 0."""
    result = subprocess.run(["bash", "-c", '"$@" | head -c 10 >/dev/null; echo "${PIPESTATUS[0]}"', "bash",
                             PYTHON, "-m", "vmci", *LIST], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=ENV)
    assert result.stdout == "0\n" and result.stderr == "", result


# --- Ctrl-C during start-up -----------------------------------------------------------------------

# A real SIGINT from inside the import of one module: Python turns it into KeyboardInterrupt
# in the middle of importing, as a Ctrl-C in the first 0.2 s does.
INTERRUPT_DURING_IMPORT = textwrap.dedent('''
    import importlib.abc, os, signal, sys
    TARGET = sys.argv.pop(1)

    class Interrupt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == TARGET:
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, Interrupt())
    sys.argv[0] = "vmci"
    from vmci.cli.entry import main
    sys.exit(main())
''')

# the modules a command imports on its way, from the first to the last, with nothing in
# vmci's cache yet (`python -X importtime -m vmci validate` lists them); each must be
# imported, or the signal is never sent and the exit status is 0, not 130
# (jsonschema is no longer among them: a valid spec is accepted by the compiled schema)
START_UP = ["vmci.cli.main", "argparse", "vmci.lang.kconfig", "yaml", "vmci.spec.model", "vmci.spec.load",
            "vmci.files.output", "vmci.cli.commands", "vmci.cli.spec", "vmci.spec.schema", "vmci.spec.schema_accept"]


@pytest.mark.parametrize("module", START_UP)
def test_ctrl_c_while_importing(module, tmp_path):
    # an empty cache: a warm one (another test's validate of the same specs) holds the
    # model, and validate would then import neither yaml nor the schema
    result = subprocess.run([PYTHON, "-c", INTERRUPT_DURING_IMPORT, module, "validate", "--specs", FIXTURE_SPECS],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**ENV, "XDG_CACHE_HOME": str(tmp_path)})
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.returncode == 130 and result.stderr in ("vmci: interrupted\n", "vmci validate: interrupted\n"), \
        result


def test_the_installed_command_starts_in_vmci_entry():
    """pip writes the `vmci` script from [project.scripts]: it must import nothing but
    vmci.cli.entry before the guard is in place (vmci.cli.main imports most of vmci)."""
    with open(os.path.join(ROOT, "pyproject.toml")) as handle:
        assert 'vmci = "vmci.cli.entry:main"' in handle.read().splitlines()
    with open(os.path.join(ROOT, "compiler", "__main__.py")) as handle:
        tree = ast.parse(handle.read())
    # of vmci, `python -m vmci` imports vmci.cli.entry alone, and its main
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    from_vmci = [node for node in imports
                 if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vmci")]
    assert [node.module for node in from_vmci] == ["vmci.cli.entry"]
    assert "main" in [alias.name for alias in from_vmci[0].names]
    assert not [alias.name for node in imports if isinstance(node, ast.Import) for alias in node.names
                if alias.name.startswith("vmci")]


# --- a working directory that no longer exists ----------------------------------------------------

COMMANDS = [
    ["validate"], LIST, ["generate", "--check", "--specs", FIXTURE_SPECS, "-o", "/nonexistent/generated"],
    ["coverage", "--specs", FIXTURE_SPECS], ["audit", "consumers", "--specs", FIXTURE_SPECS],
    ["diff", "x86_64@6.1", "x86_64@6.12", "--specs", FIXTURE_SPECS],
    ["note", "--from", "/nonexistent/vmcoreinfo.txt", "-o", "/nonexistent/note"],
    ["resolve", "--vmlinux", "/nonexistent/vmlinux"],
    ["audit", "source", "/nonexistent/tree"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_a_removed_working_directory(tmp_path, monkeypatch, argv):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    result = run_cli(argv)
    name = " ".join(argv[:2]) if argv[0] == "audit" else argv[0]
    check_one_line_error(result, name, "the working directory no longer exists")


def test_a_removed_working_directory_end_to_end(tmp_path):
    gone = tmp_path / "gone"
    result = subprocess.run(["bash", "-c", f'mkdir {gone} && cd {gone} && rmdir {gone} && exec "$@"', "bash",
                             PYTHON, "-m", "vmci", "validate"], capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode == 2
    one_line(result, "vmci validate: ", "the working directory no longer exists")
