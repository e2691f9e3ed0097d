"""vmci validate: the shipped specs pass, and each malformed spec is rejected with the
right file:line:col and message, exit status 1 and no traceback."""
import glob
import os
import shutil

import pytest

from conftest import DATA, run_vmci

BAD = sorted(glob.glob(os.path.join(DATA, "bad_specs", "*.yaml")))


def test_shipped_specs_validate_cleanly():
    code, out, err = run_vmci("validate")
    assert code == 0, out + err
    assert " 0 errors" in err
    # the only findings are the informational ones: entries the kernel exports that no
    # known dump tool reads (specs/consumers.yaml)
    for line in out.splitlines():
        assert "warning [NOT_READ_BY_ANY_TOOL]" in line, line


def test_there_are_at_least_fifteen_malformed_specs():
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=os.path.basename)
def test_malformed_spec_is_rejected_with_its_place(path, tmp_path):
    with open(path) as handle:
        expected = handle.readline().split("# expect: ", 1)[1].strip()
    shutil.copy(path, tmp_path)
    code, out, err = run_vmci("validate", str(tmp_path))
    assert code == 1
    assert "Traceback" not in out + err
    name = os.path.basename(path)
    place, message = expected.split(": ", 1)
    lines = [line for line in out.splitlines() if line.startswith(f"{tmp_path}/{name}:{place}:")]
    assert lines, f"no problem reported at {name}:{place}; got:\n{out}"
    assert any(message in line for line in lines), f"expected {message!r} in {lines}"
    # one line per problem, each starting with file:line:col
    for line in out.splitlines():
        assert line.startswith(f"{tmp_path}/{name}:"), line


def test_missing_specs_directory_is_one_line(tmp_path):
    code, out, err = run_vmci("validate", str(tmp_path / "nope"))
    assert code == 1
    assert "no such specs directory" in out
    assert "Traceback" not in out + err


def test_unknown_config_symbol_is_reported_against_a_kernel_tree(tmp_path):
    """--kernel-src checks every CONFIG_ symbol against the tree's Kconfig files."""
    tree = tmp_path / "linux"
    (tree / "mm").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\n")
    (tree / "mm" / "Kconfig").write_text("config NUMA\n\tbool\nmenuconfig MMU\n\tbool\n")
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(os.path.join(DATA, "bad_specs", "03-unknown-field.yaml"), specs / "x.yaml")
    text = (specs / "x.yaml").read_text().replace("nam: init_uts_ns", "name: mem_map\n        when: CONFIG_NUMA && !CONFIG_NUMAA")
    (specs / "x.yaml").write_text(text)
    code, out, _ = run_vmci("validate", str(specs), "--kernel-src", str(tree))
    assert code == 1
    assert "uses CONFIG_NUMAA, which no Kconfig file of the kernel tree declares" in out
    assert "CONFIG_NUMA," not in out and "uses CONFIG_NUMA " not in out
    # the gate's CONFIG_VMCORE_INFO is not in this tiny tree either
    assert "uses CONFIG_VMCORE_INFO" in out


def test_loading_never_builds_python_objects(tmp_path):
    (tmp_path / "x.yaml").write_text("schema: !!python/object/apply:os.system ['echo hacked']\n")
    code, out, err = run_vmci("validate", str(tmp_path))
    assert code == 1
    assert "is not allowed in specs" in out
    assert "hacked" not in out + err
