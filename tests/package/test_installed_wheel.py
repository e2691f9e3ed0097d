"""The installed product: the wheel and the sdist build, the wheel installs into a fresh
virtualenv (no access to this checkout), and every subcommand run from a directory
outside the checkout gives what the checkout gives.

The fresh virtualenv gets vmci's dependencies from the package index, as a user's
`pip install` would; it does not see this checkout's `compiler/` (the folder is not
named `vmci`, and the working directory is elsewhere)."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import DATA, GOLD, ROOT, gold, kernel_path, run_vmci

AMD64 = "6.1.0-57-cloud-amd64"
ARM64 = "6.1.0-50-cloud-arm64"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel, the wheel built from the sdist (python -m build does both)."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), ROOT],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list(out.glob("vmci-*.whl"))
    sdists = list(out.glob("vmci-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, os.listdir(out)
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """A fresh virtualenv with the wheel (and pytest, for the API tests) installed, and a
    working directory that is not the checkout."""
    wheel, _ = dist
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    result = subprocess.run(pip + [str(wheel), "pytest"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return venv, elsewhere


def run_installed(installed, *args, input=None):
    venv, elsewhere = installed
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(elsewhere / ".cache")
    result = subprocess.run([str(venv / "bin" / "vmci"), *args], cwd=elsewhere, capture_output=True, text=True,
                            input=input, env=env, timeout=600)
    return result.returncode, result.stdout, result.stderr


def test_wheel_holds_the_whole_product(dist):
    wheel, _ = dist
    names = set(zipfile.ZipFile(wheel).namelist())
    spec_files = sorted(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "specs"))
                        for d, _, fs in os.walk(os.path.join(ROOT, "specs")) for f in fs
                        if f.endswith((".yaml", ".json")))
    for relative in spec_files:
        assert f"vmci/specs/{relative}" in names, relative
    templates = sorted(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "templates"))
                       for d, _, fs in os.walk(os.path.join(ROOT, "templates")) for f in fs if f.endswith(".j2"))
    for relative in templates:
        assert f"vmci/templates/{relative}" in names, relative
    for module in os.listdir(os.path.join(ROOT, "generated", "python", "vmcoreinfo")):
        if module.endswith(".py"):
            assert f"vmci/vmcoreinfo/{module}" in names, module
    for folder, _, files in os.walk(os.path.join(ROOT, "compiler")):  # every stage package
        for module in files:
            if module.endswith(".py"):
                relative = os.path.relpath(os.path.join(folder, module), os.path.join(ROOT, "compiler"))
                assert f"vmci/{relative}" in names, relative
    assert any(n.startswith("vmci/schemas/") and n.endswith(".json") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: GPL-2.0-only" in metadata
    assert "Classifier: Topic :: System :: Operating System Kernels :: Linux" in metadata
    assert not any(n.startswith(("compiler/", "tests/", "specs/")) for n in names)


def test_sdist_holds_what_building_and_testing_needs(dist):
    _, sdist = dist
    names = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "MANIFEST.in", "specs/common.yaml",
                   "specs/schema/vmci-1.json", "templates/c/vmcore_info.c.j2", "generated/c/vmcoreinfo_note.c",
                   "generated/python/vmcoreinfo/__init__.py", "tests/conftest.py", "docs/spec-format.md",
                   "tools/setup.sh", "tools/test.sh", "compiler/cli/main.py"):
        assert needed in names, needed
    assert any(n.startswith("tests/data/gold/") and n.endswith("vmcoreinfo.txt") for n in names)


def test_import_vmci_and_the_generated_generator(installed):
    venv, elsewhere = installed
    code = ("import vmci, vmci.vmcoreinfo, vmci.cli.main; "
            "print(vmci.__version__); print(vmci.__file__); print(vmci.vmcoreinfo.for_elf(62, 64, 'little').__name__)")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=elsewhere, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    version, location, module = result.stdout.split()
    assert location.startswith(str(venv)) and location.endswith("vmci/__init__.py")
    assert module == "vmci.vmcoreinfo.x86_64"
    code, out, _ = run_installed(installed, "--version")
    assert code == 0 and out.strip() == f"vmci {version}"


def test_help_lists_every_command(installed):
    code, out, _ = run_installed(installed, "--help")
    assert code == 0
    _, checkout_help, _ = run_vmci("--help")
    assert out == checkout_help
    for command in ("validate", "list", "resolve", "generate", "note", "audit", "coverage", "diff", "show", "export"):
        assert f"    {command}" in out, command


def same_as_checkout(installed, *args, input=None, compare=lambda out: out):
    """Run a subcommand from the installed wheel outside the checkout and in the checkout;
    both give the same exit status and output."""
    code, out, err = run_installed(installed, *args, input=input)
    assert "Traceback" not in err, err
    checkout_code, checkout_out, checkout_err = run_vmci(*args, input=input)
    assert (code, compare(out)) == (checkout_code, compare(checkout_out)), (err, checkout_err)
    return code, out, err


def test_validate(installed):
    code, out, err = same_as_checkout(installed, "validate", compare=lambda out: out.count("\n"))
    assert code == 0 and " 0 errors" in err


def test_list(installed):
    code, out, _ = same_as_checkout(installed, "list", "--arch", "x86_64", "--kernel-version", AMD64,
                                    "--config", gold(AMD64)[2])
    assert code == 0 and "OSRELEASE" in out and "SYMBOL(swapper_pg_dir)" in out


def test_resolve_a_real_kernel(installed):
    _, gold_text, config = gold(AMD64)
    code, out, _ = same_as_checkout(installed, "resolve", "--vmlinux", kernel_path(AMD64), "--config", config)
    assert code == 0
    differing = [line for line, want in zip(out.splitlines(), gold_text.splitlines()) if line != want]
    assert len(out.splitlines()) == len(gold_text.splitlines()) and len(differing) == 1, differing
    assert differing[0].startswith("SYMBOL(mem_section)=")


def test_resolve_json(installed):
    code, out, _ = same_as_checkout(installed, "resolve", "--vmlinux", kernel_path(ARM64), "--config",
                                    gold(ARM64)[2], "--format", "json",
                                    compare=lambda out: [(line["key"], line["value"]) for line in json.loads(out)["lines"]])
    assert code == 0


def test_generate_check_against_the_checkouts_generated(installed, tmp_path):
    shutil.copytree(os.path.join(ROOT, "generated"), tmp_path / "generated")
    code, _, err = run_installed(installed, "generate", "--check", "-o", str(tmp_path / "generated"))
    assert code == 0, err
    code, _, err = run_installed(installed, "generate", "-o", str(tmp_path / "fresh"))
    assert code == 0, err
    for directory, folders, files in os.walk(os.path.join(ROOT, "generated")):
        # the bytecode an earlier test's import of the generated package left in the checkout
        folders[:] = [f for f in folders if f != "__pycache__"]
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), os.path.join(ROOT, "generated"))
            with open(os.path.join(directory, name), "rb") as want, open(tmp_path / "fresh" / relative, "rb") as got:
                assert got.read() == want.read(), relative


def test_note(installed, tmp_path):
    text = os.path.join(GOLD, AMD64, "vmcoreinfo.txt")
    code, _, err = run_installed(installed, "note", "--from", text, "-o", str(tmp_path / "note.bin"))
    assert code == 0, err
    with open(os.path.join(GOLD, AMD64, "note.bin"), "rb") as want:
        assert (tmp_path / "note.bin").read_bytes() == want.read()


def test_audit_source(installed):
    same_as_checkout(installed, "audit", "source", os.path.join(DATA, "audit", "mini-tree"),
                     "--specs", os.path.join(DATA, "audit", "mini-specs"), "--format", "json",
                     compare=lambda out: json.loads(out)["drift"])


def test_audit_note(installed):
    code, _, _ = same_as_checkout(installed, "audit", "note", os.path.join(GOLD, AMD64, "note.bin"), "--vmlinux",
                                  kernel_path(AMD64), "--config", gold(AMD64)[2])
    assert code == 0


def test_audit_consumers(installed):
    same_as_checkout(installed, "audit", "consumers", "--arch", "x86_64", "--kernel-version", "6.12")


def test_coverage(installed):
    code, _, _ = same_as_checkout(installed, "coverage", "--format", "json",
                                  compare=lambda out: json.loads(out).get("rows", json.loads(out)))
    assert code in (0, 1)
    code, out, err = run_installed(installed, "coverage", "--format", "html")
    assert code in (0, 1) and "<html" in out.lower(), err


def test_diff(installed):
    same_as_checkout(installed, "diff", "x86_64@6.1", "x86_64@6.12")


def test_show(installed):
    code, out, _ = same_as_checkout(installed, "show", os.path.join(GOLD, AMD64, "note.bin"))
    assert code == 0 and out == gold(AMD64)[1]
    code, out, _ = same_as_checkout(installed, "show", "-", "--format", "json", input=gold(AMD64)[1])
    assert code == 0 and json.loads(out)["lines"][0] == {"key": "OSRELEASE", "value": AMD64, "note_line": 1}


def test_export(installed):
    code, out, _ = same_as_checkout(installed, "export")
    assert code == 0 and json.loads(out)["format"] == "vmci-export/1"
    code, out, _ = same_as_checkout(installed, "export", "--format", "csv")
    assert code == 0 and out.startswith("key,kind,value_format,")


def test_the_api_tests_pass_against_the_installed_wheel(installed):
    """tests/package/test_api.py, run by the wheel's Python: `import vmci` there is the
    installed package (the checkout's folder is compiler/, and it is not on the path)."""
    venv, elsewhere = installed
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(elsewhere / ".cache")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import vmci; print(vmci.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, env=env, timeout=120)
    assert probe.stdout.startswith(str(venv)), probe.stdout + probe.stderr
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "package", "test_api.py")],
                            cwd=elsewhere, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
