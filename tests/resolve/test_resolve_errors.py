"""Bad input to vmci resolve: one line naming the file, a non-zero exit, no traceback."""
import shutil
import subprocess


from conftest import gold, kernel_path, run_vmci

RELEASE = "6.1.0-57-cloud-amd64"


def assert_one_line_error(code, out, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]


def test_not_an_elf(tmp_path):
    path = tmp_path / "config"
    shutil.copy(gold(RELEASE)[2], path)
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", str(path), "--config", str(path)), str(path))


def test_truncated_vmlinux(tmp_path):
    path = tmp_path / "vmlinux"
    with open(kernel_path(RELEASE), "rb") as source, open(path, "wb") as target:
        target.write(source.read(1 << 20))
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", str(path), "--config", gold(RELEASE)[2], "--no-cache"),
                          str(path))


def test_stripped_image_without_dwarf(tmp_path):
    path = tmp_path / "vmlinux-stripped"
    subprocess.run(["objcopy", "--strip-debug", kernel_path(RELEASE), str(path)], check=True)
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", str(path), "--config", gold(RELEASE)[2], "--no-cache"),
                          str(path), "no DWARF")


def test_missing_config_says_how_to_supply_it():
    # Debian's image does not embed its config (no CONFIG_IKCONFIG)
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", kernel_path(RELEASE)), "--config")


def test_missing_files():
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", "/nonexistent/vmlinux", "--config", gold(RELEASE)[2]),
                          "/nonexistent/vmlinux")
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", kernel_path(RELEASE), "--config", "/nonexistent/config"),
                          "/nonexistent/config")


def test_version_outside_every_spec():
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", kernel_path(RELEASE), "--config", gold(RELEASE)[2],
                                    "--kernel-version", "4.19"), "outside every spec's range")


def test_unresolvable_entry_is_reported_with_reason(tmp_path):
    """An entry that applies but cannot be resolved is never dropped silently."""
    import os
    from conftest import ROOT
    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs"), specs)
    text = (specs / "printk.yaml").read_text().replace("name: latched_seq\n        member: val",
                                                       "name: latched_seq\n        member: no_such_member")
    (specs / "printk.yaml").write_text(text)
    code, out, err = run_vmci("resolve", "--vmlinux", kernel_path(RELEASE), "--config", gold(RELEASE)[2],
                              "--specs", str(specs), "--no-cache")
    assert code == 1
    assert "OFFSET(latched_seq.no_such_member) not resolved: member 'no_such_member' not found in struct latched_seq" in err
    assert "specs/printk.yaml:" in err
    assert "OFFSET(latched_seq.no_such_member)" not in out


def test_unwritable_output_is_one_line(tmp_path):
    target = tmp_path / "no-such-dir" / "vmcoreinfo.txt"
    assert_one_line_error(*run_vmci("resolve", "--vmlinux", kernel_path(RELEASE), "--config", gold(RELEASE)[2],
                                    "-o", str(target)), str(target), "cannot write")
    assert not target.parent.exists()
