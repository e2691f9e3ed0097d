"""vmci audit source on a miniature kernel tree (tests/data/audit/mini-tree) with the
shapes real trees have: a multi-line vmcoreinfo_append_str(), #ifndef/#if/#elif/#else,
an in-function #define, a composite Kbuild object named with $(BITS), Kconfig select
chains and def_bool. Against its specs (tests/data/audit/mini-specs) it has no drift;
each kind of drift a spec edit introduces is reported with both places."""
import os
import shutil
import tarfile

import pytest

from conftest import DATA, json_document, run_vmci

TREE = os.path.join(DATA, "audit", "mini-tree")
SPECS = os.path.join(DATA, "audit", "mini-specs")


def audit(tree=TREE, specs=SPECS, *extra):
    code, out, err = run_vmci("audit", "source", tree, "--specs", str(specs), "--format", "json", *extra)
    assert "Traceback" not in err
    return code, (json_document(out, "audit-source") if out else None), err


def edited_specs(tmp_path, path, old, new):
    target = tmp_path / "specs"
    shutil.copytree(SPECS, target)
    file = target / path
    text = file.read_text()
    assert old in text, old
    file.write_text(text.replace(old, new, 1))
    return target


def drift_of(payload, category):
    return [d for d in payload["drift"] if d["category"] == category]


def in_tree(item):
    """The drift's kernel place as the text output prints it, file:line."""
    place = item["kernel_location"]
    return f"{place['file']}:{place['line']}"


def test_no_drift_against_its_own_specs():
    code, payload, err = audit()
    assert code == 0, err
    assert payload["drift"] == []
    assert payload["kernel_version"] == "6.12.3"
    files = {f["file"]: f for f in payload["files"]}
    assert sorted(files) == ["arch/demo/kernel/vmcore_info_64.c", "kernel/printk/printk.c", "kernel/vmcore_info.c"]
    # the gate comes from the makefiles: a composite object named vmcore_info_$(BITS).o
    arch = files["arch/demo/kernel/vmcore_info_64.c"]
    assert arch["gate"] == "CONFIG_KEXEC_CORE && !CONFIG_DEMO_32"
    assert arch["gate_from"] == [{"file": "arch/demo/kernel/Makefile", "line": 4},
                                 {"file": "arch/demo/kernel/Makefile", "line": 3}, {"file": "arch/demo/Kbuild", "line": 1}]
    assert files["kernel/vmcore_info.c"]["gate"] == "CONFIG_VMCORE_INFO"


def test_emissions_conditions_order_and_calls_are_read_from_the_c():
    _, payload, _ = audit()
    common = {f["file"]: f for f in payload["files"]}["kernel/vmcore_info.c"]["functions"]
    # vmcoreinfo_append_str's own definition and the weak arch stub are no emissions
    assert sorted(common) == ["crash_save_vmcoreinfo_init"]
    items = [(i["key"], i["condition"]) for i in common["crash_save_vmcoreinfo_init"]]
    assert items == [
        ("OSRELEASE", None), ("PAGESIZE", None), ("SYMBOL(init_uts_ns)", None),
        ("SYMBOL(mem_map)", "!CONFIG_NUMA"),
        ("SYMBOL(mem_section)", "CONFIG_SPARSEMEM"),
        ("OFFSET(pglist_data.node_mem_map)", "!CONFIG_SPARSEMEM && CONFIG_FLATMEM"),
        ("NUMBER(NO_MEMORY_MODEL)", "!CONFIG_SPARSEMEM && !CONFIG_FLATMEM"),
        ("NUMBER(VMALLOC_START)", None),  # the multi-line append: key from the literal
        ("log_buf_vmcoreinfo_setup()", None),
        ("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", None),
        ("arch_crash_save_vmcoreinfo()", None),
    ]
    printk = {f["file"]: f for f in payload["files"]}["kernel/printk/printk.c"]["functions"]
    # the macro name inside a string literal is not an emission
    assert [(i["key"], i["condition"]) for i in printk["log_buf_vmcoreinfo_setup"]] == [
        ("SYMBOL(prb)", "CONFIG_PRINTK && CONFIG_VMCORE_INFO"),
        ("SIZE(printk_ringbuffer)", "CONFIG_PRINTK && CONFIG_VMCORE_INFO")]
    # 15 emissions: the commented-out one and the #define in lib/ are not counted
    assert payload["emissions"] == 15


def test_a_removed_spec_entry_is_reported_by_name(tmp_path):
    specs = edited_specs(tmp_path, "common.yaml",
                         "      - kind: symbol\n        name: init_uts_ns\n        doc: UTS namespace.\n", "")
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    [item] = payload["drift"]
    assert item["category"] == "specs-lack" and item["key"] == "SYMBOL(init_uts_ns)"
    assert in_tree(item) == "kernel/vmcore_info.c:18"


def test_a_spec_entry_the_tree_lacks(tmp_path):
    specs = edited_specs(tmp_path, "printk.yaml", "      - kind: struct-size\n",
                         "      - kind: symbol\n        name: clear_seq\n        doc: Not in the tree.\n"
                         "      - kind: struct-size\n")
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    [item] = payload["drift"]
    assert (item["category"], item["key"]) == ("tree-lacks", "SYMBOL(clear_seq)")
    assert item["spec"]["file"] == "printk.yaml" and item["spec"]["line"] > 1


def test_order(tmp_path):
    specs = edited_specs(tmp_path, "arch/demo.yaml",
                         "      - kind: number\n        name: phys_base\n        doc: Physical base.\n", "")
    text = (specs / "arch/demo.yaml").read_text()
    (specs / "arch/demo.yaml").write_text(text + "      - kind: number\n        name: phys_base\n        doc: Moved.\n")
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    [item] = payload["drift"]
    assert (item["category"], item["key"], in_tree(item)) == ("order", "NUMBER(phys_base)", "arch/demo/kernel/vmcore_info_64.c:6")


def test_a_condition_that_differs_in_some_config_names_one(tmp_path):
    specs = edited_specs(tmp_path, "common.yaml", 'when: "!CONFIG_NUMA"', "when: CONFIG_FLATMEM")
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    [item] = drift_of(payload, "condition")
    assert item["key"] == "SYMBOL(mem_map)" and in_tree(item) == "kernel/vmcore_info.c:20"
    assert "e.g." in item["message"] and "CONFIG_NUMA" in item["message"]


@pytest.mark.parametrize("gate", [
    "CONFIG_KEXEC_CORE && !CONFIG_DEMO_32",   # the makefile's own words
    "CONFIG_64BIT && CONFIG_KEXEC_CORE",      # DEMO_32 is def_bool y, depends on !64BIT
    "CONFIG_KEXEC_CORE",                      # the machine (CONFIG_64BIT) implies the rest
])
def test_conditions_are_compared_semantically(tmp_path, gate):
    specs = edited_specs(tmp_path, "arch/demo.yaml", "gate: CONFIG_KEXEC_CORE && CONFIG_64BIT", f"gate: {gate}")
    code, payload, err = audit(TREE, specs)
    assert (code, payload["drift"]) == (0, []), err


def test_a_select_chain_makes_gates_agree(tmp_path):
    # KEXEC selects KEXEC_CORE selects VMCORE_INFO, and the call from the common list needs
    # VMCORE_INFO anyway: `KEXEC && VMCORE_INFO` is not KEXEC_CORE (KEXEC_CORE can be y alone)
    specs = edited_specs(tmp_path, "arch/demo.yaml", "gate: CONFIG_KEXEC_CORE && CONFIG_64BIT",
                         "gate: CONFIG_KEXEC && CONFIG_VMCORE_INFO")
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    assert {d["category"] for d in payload["drift"]} == {"condition"}
    assert "CONFIG_KEXEC unset" in payload["drift"][0]["message"]
    assert "CONFIG_KEXEC_CORE=y" in payload["drift"][0]["message"]


def test_argument_format_and_define(tmp_path):
    specs = edited_specs(tmp_path, "arch/demo.yaml", "c: MAX_NUMNODES", "c: MAX_NUMNODES + 1")
    (specs / "arch/demo.yaml").write_text((specs / "arch/demo.yaml").read_text().replace('format: "%lx"', 'format: "%llx"'))
    (specs / "common.yaml").write_text((specs / "common.yaml").read_text().replace("value: (~PG_buddy)", "value: (PGTY_buddy << 24)"))
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    found = {(d["category"], d["key"]) for d in payload["drift"]}
    assert found == {("argument", "LENGTH(node_data)"), ("format", "KERNELOFFSET"),
                     ("define", "PAGE_BUDDY_MAPCOUNT_VALUE")}
    define = drift_of(payload, "define")[0]
    assert in_tree(define) == "kernel/vmcore_info.c:32" and "(~PG_buddy)" in define["message"]


def test_a_file_the_specs_give_to_another_architecture(tmp_path):
    specs = edited_specs(tmp_path, "arch/demo.yaml", "arch: demo", "arch: other")
    code, payload, _ = audit(TREE, specs)
    assert code == 1
    assert [d["category"] for d in payload["drift"]][:1] == ["arch"]


def test_a_tarball_audits_like_the_directory(tmp_path):
    tarball = tmp_path / "linux-source-6.12.tar.xz"
    with tarfile.open(tarball, "w:xz") as archive:
        archive.add(TREE, arcname="linux-source-6.12")
    code, from_tarball, err = audit(str(tarball))
    assert code == 0, err
    _, from_directory, _ = audit()
    from_tarball.pop("tree"), from_directory.pop("tree")
    assert from_tarball == from_directory


def test_a_tarball_without_a_top_directory(tmp_path):
    tarball = tmp_path / "flat.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(TREE, arcname=".")
    code, payload, err = audit(str(tarball))
    assert (code, payload["drift"], payload["emissions"]) == (0, [], 15), err


def test_emissions_under_if_0_are_not_emissions(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree)
    c = tree / "kernel/printk/printk.c"
    c.write_text(c.read_text().replace("\tVMCOREINFO_SYMBOL(prb);\n",
                                       "\tVMCOREINFO_SYMBOL(prb);\n#if 0\n\tVMCOREINFO_SYMBOL(old);\n#endif\n"))
    code, payload, err = audit(str(tree))
    assert (code, payload["drift"], payload["emissions"]) == (0, [], 15), err


def test_text_report(tmp_path):
    specs = edited_specs(tmp_path, "common.yaml",
                         "      - kind: symbol\n        name: init_uts_ns\n        doc: UTS namespace.\n", "")
    code, out, err = run_vmci("audit", "source", TREE, "--specs", str(specs))
    assert code == 1
    assert "kernel/vmcore_info.c:18: specs-lack: SYMBOL(init_uts_ns): crash_save_vmcoreinfo_init() emits it " \
           "unconditionally" in out
    assert out.rstrip().endswith("1 drift items")


def one_line_error(code, out, err, *fragments):
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_trees(tmp_path):
    one_line_error(*run_vmci("audit", "source", "/nonexistent/linux"), "/nonexistent/linux")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(*run_vmci("audit", "source", str(empty)), f"{empty}/Makefile")
    damaged = tmp_path / "linux.tar.xz"
    damaged.write_bytes(b"\xfd7zXZ\x00\x00garbage" * 10)
    one_line_error(*run_vmci("audit", "source", str(damaged)), str(damaged))
    old = tmp_path / "old"
    shutil.copytree(TREE, old)
    (old / "Makefile").write_text((old / "Makefile").read_text().replace("PATCHLEVEL = 12", "PATCHLEVEL = 19")
                                  .replace("VERSION = 6", "VERSION = 4"))
    one_line_error(*run_vmci("audit", "source", str(old), "--specs", SPECS), str(old), "4.19.3")


def test_an_unbalanced_if_is_reported_not_fatal(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree)
    c = tree / "kernel/printk/printk.c"
    c.write_text(c.read_text().replace("#endif /* CONFIG_PRINTK */\n", ""))
    code, payload, _ = audit(str(tree))
    assert code == 1
    [item] = payload["drift"]
    assert item["category"] == "unreadable" and in_tree(item) == "kernel/printk/printk.c:4"
    assert "#if without #endif" in item["message"]
