"""`vmci audit source TREE --update-specs`: the next kernel in one command.

Two ways of showing that the edit describes a tree's version exactly, both on Debian's
real linux-source-6.12 (audit_helpers.kernel_source):

- Regain: a copy of the specs without what 6.12 (and 6.10, 6.11) introduced (the items
  that begin there, the bounds that end there) is brought back by the 6.12 tree. With
  only 6.12's changes removed, the files come back byte for byte; with 6.10 to 6.12
  removed, they come back as changes at 6.12, and every machine's list for 6.12 is the
  original's.
- A synthetic next version: the 6.12 tree relabelled 6.13 by its Makefile, one entry
  added to the common file, one removed, one added to x86_64's file under a Kconfig
  condition. Afterwards `audit source` finds no drift on the new tree and on the real
  6.12 tree, `vmci list` for 6.13 is 6.12's list with exactly those three edits in the
  kernel's order, and the YAML diff is only the added lines.
"""
import difflib
import json
import os
import re
import shutil


from audit_helpers import kernel_source
from conftest import ROOT, run_vmci

MACHINES = ["x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64", "sh4"]


def specs_copy(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs"), specs)
    return specs


def yaml_files(specs):
    return {os.path.relpath(os.path.join(root, name), specs): open(os.path.join(root, name)).read()
            for root, _, names in os.walk(specs) for name in names if name.endswith(".yaml")}


def strip_version(text, version):
    """`text` without what `version` (or a stable release of it) introduced among what the
    audit reads: the entries and in-file defines whose own `since` is it, and the `until`
    of those that it ends."""
    own_version = re.compile(r'"%s(\.\d+)?"' % re.escape(version))
    lines = text.splitlines(keepends=True)
    out, i = [], 0
    while i < len(lines):
        match = re.match(r"^( *)- ", lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        dash = len(match.group(1))
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip(" ")) > dash):
            j += 1
        while j > i + 1 and not lines[j - 1].strip():
            j -= 1
        own = {}
        for line in [" " * (dash + 2) + lines[i][dash + 2:]] + lines[i + 1:j]:
            field = re.match(r"^ {%d}([a-z-]+): (.*)$" % (dash + 2), line)
            if field:
                own[field.group(1)] = field.group(2)
        if "kind" not in own and own.get("in-file") != "true":
            out.append(lines[i])
            i += 1
            continue
        if own_version.fullmatch(own.get("since", "")):
            i = j
            continue
        block = lines[i:j]
        out += [line for line in block if not (line.startswith(" " * (dash + 2) + "until: ")
                                                and own_version.fullmatch(line.split(": ", 1)[1].strip()))]
        i = j
    return "".join(out)


def strip(specs, versions):
    for name, text in yaml_files(specs).items():
        for version in versions:
            text = strip_version(text, version)
        (specs / name).write_text(text)


def set_audited(specs, version):
    common = specs / "common.yaml"
    text, count = re.subn(r'^audited: "[0-9.]+"$', f'audited: "{version}"', common.read_text(), flags=re.M)
    assert count == 1
    common.write_text(text)


def update(tree, specs):
    code, out, err = run_vmci("audit", "source", str(tree), "--specs", str(specs), "--update-specs")
    assert "Traceback" not in err, err
    return code, out, err


def drift(tree, specs):
    code, out, err = run_vmci("audit", "source", str(tree), "--specs", str(specs), "--format", "json")
    assert code in (0, 1), err
    return [f"{d['category']}: {d['key']}: {d['message']}" for d in json.loads(out)["drift"]]


def listed(specs, machine, version):
    code, out, err = run_vmci("list", "--arch", machine, "--kernel-version", version, "--specs", str(specs),
                              "--format", "json")
    assert code == 0, err
    return [(e["key"], e["condition"], e["c"]) for e in json.loads(out)["entries"]]


def test_the_6_12_changes_come_back_byte_for_byte(tmp_path):
    tree = kernel_source("6.12")
    specs = specs_copy(tmp_path)
    original = yaml_files(specs)
    strip(specs, ["6.12"])
    set_audited(specs, "6.11")
    stripped = yaml_files(specs)
    assert stripped["common.yaml"].count("\n") < original["common.yaml"].count("\n") - 15
    code, out, _ = update(tree, specs)
    assert code == 0, out
    assert "after the update: no drift" in out
    # the four page-type defines that 6.12 changed, each closed and followed by its new value
    assert len(re.findall(r"closed define PAGE_\w+_MAPCOUNT_VALUE: until 6.12 \(its value changes\)", out)) == 4
    assert len(re.findall(r"added define PAGE_\w+_MAPCOUNT_VALUE = \(PGTY_\w+ << 24\) since 6.12", out)) == 4
    assert "audited: 6.11 -> 6.12" in out
    regained = yaml_files(specs)
    expected = dict(original)
    expected["common.yaml"] = re.sub(r'^audited: "[0-9.]+"$', 'audited: "6.12"', original["common.yaml"], flags=re.M)
    assert regained == expected


def test_6_10_to_6_12_come_back_as_changes_at_6_12(tmp_path):
    tree = kernel_source("6.12")
    specs = specs_copy(tmp_path)
    before = {machine: listed(os.path.join(ROOT, "specs"), machine, "6.12") for machine in MACHINES}
    strip(specs, ["6.10", "6.11", "6.12"])
    code, out, _ = update(tree, specs)
    assert code == 0, out
    assert "added SYMBOL(kallsyms_offsets) since 6.12, if CONFIG_KALLSYMS" in out
    assert "closed SYMBOL(kallsyms_addresses): until 6.12 (the tree does not emit it)" in out
    assert "added KERNELOFFPHYS since 6.12" in out and "closed SAMODE31: until 6.12 (its C changes)" in out
    assert drift(tree, specs) == []
    code, out, err = run_vmci("validate", str(specs))
    assert code == 0, out + err
    for machine in MACHINES:
        assert listed(specs, machine, "6.12") == before[machine], machine


# --- a synthetic next version ----------------------------------------------------------------

def edit(path, old, new):
    """Replace text in a file of a hard-linked tree copy without touching the original."""
    text = open(path).read()
    assert old in text, (path, old)
    os.unlink(path)
    with open(path, "w") as handle:
        handle.write(text.replace(old, new, 1))


def next_tree(tmp_path):
    source = kernel_source("6.12")
    tree = tmp_path / "linux-6.13"
    shutil.copytree(source, tree, copy_function=os.link)
    edit(tree / "Makefile", "PATCHLEVEL = 12\nSUBLEVEL = ", "PATCHLEVEL = 13\nSUBLEVEL = 0\nOLDSUBLEVEL = ")
    common = tree / "kernel" / "vmcore_info.c"
    edit(common, "\tVMCOREINFO_OFFSET(zone, spanned_pages);\n",
         "\tVMCOREINFO_OFFSET(zone, spanned_pages);\n\tVMCOREINFO_OFFSET(zone, present_pages);\n")
    edit(common, "\tVMCOREINFO_NUMBER(PG_swapcache);\n", "")
    edit(tree / "arch" / "x86" / "kernel" / "vmcore_info_64.c", "\tvmcoreinfo_append_str(\"KERNELOFFSET=",
         "#ifdef CONFIG_RANDOMIZE_MEMORY\n\tVMCOREINFO_SYMBOL(kaslr_regions);\n#endif\n"
         "\tvmcoreinfo_append_str(\"KERNELOFFSET=")
    return source, tree


def test_a_synthetic_next_version(tmp_path):
    previous, tree = next_tree(tmp_path)
    specs = specs_copy(tmp_path)
    before = yaml_files(specs)
    lists_612 = {machine: listed(specs, machine, "6.12") for machine in ("x86_64", "aarch64")}
    code, out, _ = update(tree, specs)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].endswith("(Linux 6.13.0): 3 changes to the specs in 2 files")
    assert re.search(r"/specs/common.yaml:\d+: added OFFSET\(zone.present_pages\) since 6.13 "
                     r"\[tree kernel/vmcore_info.c:190\]$", out, re.M)
    assert re.search(r"/specs/common.yaml:\d+: closed NUMBER\(PG_swapcache\): until 6.13 \(the tree does not "
                     r"emit it\)$", out, re.M)
    assert re.search(r"/specs/arch/x86_64.yaml:\d+: added SYMBOL\(kaslr_regions\) since 6.13 \(if "
                     r"CONFIG_RANDOMIZE_MEMORY\) \[tree arch/x86/kernel/vmcore_info_64.c:22\]$", out, re.M)
    assert "after the update: no drift" in out

    # reviewable YAML: nothing removed, only the new lines
    added, removed = [], []
    after = yaml_files(specs)
    for name in before:
        for line in difflib.unified_diff(before[name].splitlines(), after[name].splitlines(), lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                added.append((name, line[1:]))
            elif line.startswith("-") and not line.startswith("---"):
                removed.append((name, line[1:]))
    assert removed == []
    # (compared as sets of lines: a diff may show an insertion before `- kind: offset` as one after it)
    assert sorted(added) == sorted([
        ("arch/x86_64.yaml", "      - kind: symbol"), ("arch/x86_64.yaml", "        name: kaslr_regions"),
        ("arch/x86_64.yaml", "        when: CONFIG_RANDOMIZE_MEMORY"), ("arch/x86_64.yaml", '        since: "6.13"'),
        ("common.yaml", "      - kind: offset"), ("common.yaml", "        name: zone"),
        ("common.yaml", "        member: present_pages"), ("common.yaml", '        since: "6.13"'),
        ("common.yaml", '        until: "6.13"'),
    ])

    assert drift(tree, specs) == []
    assert drift(previous, specs) == []
    code, out, err = run_vmci("validate", str(specs))
    assert code == 0, out + err

    # 6.13's list is 6.12's with the three edits, in the kernel's order; 6.12's is unchanged
    for machine, old in lists_612.items():
        assert listed(specs, machine, "6.12") == old
        keys = [key for key, _, _ in old]
        keys.remove("NUMBER(PG_swapcache)")
        keys.insert(keys.index("OFFSET(zone.spanned_pages)") + 1, "OFFSET(zone.present_pages)")
        if machine == "x86_64":
            keys.insert(keys.index("KERNELOFFSET"), "SYMBOL(kaslr_regions)")
        new = listed(specs, machine, "6.13")
        assert [key for key, _, _ in new] == keys
    conditions = {key: condition for key, condition, _ in listed(specs, "x86_64", "6.13")}
    assert conditions["SYMBOL(kaslr_regions)"] == "CONFIG_VMCORE_INFO && CONFIG_RANDOMIZE_MEMORY"
