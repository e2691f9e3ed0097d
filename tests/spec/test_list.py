"""vmci list: for each real Debian kernel in tests/data/gold, the keys listed for its
architecture, version and config are exactly the keys that kernel emitted when booted,
in the same order."""
import pytest

from conftest import GOLD_RELEASES, gold, json_document, run_vmci
from vmci.lang.kconfig import KernelConfig
from vmci.spec.model import parse_kernel_version
from vmci.select import SelectionError, find_target, select_entries
from vmci.spec.load import load_specs


def listed_keys(arch, version, config_path):
    code, out, err = run_vmci("list", "--arch", arch, "--kernel-version", version, "--config", config_path,
                              "--format", "json")
    assert code == 0, err
    return [entry["key"] for entry in json_document(out, "list")["entries"]]


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_list_equals_the_keys_the_booted_kernel_emitted(release):
    meta, text, config = gold(release)
    gold_keys = [line.split("=", 1)[0] for line in text.splitlines()]
    keys = listed_keys(meta["vmci_arch"], release, config)
    assert keys == gold_keys


def test_list_json_carries_key_kind_format_source_and_spec_place():
    meta, _, config = gold("6.1.0-57-cloud-amd64")
    code, out, _ = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.1", "--config", config, "--format", "json")
    entries = {e["key"]: e for e in json_document(out, "list")["entries"]}
    node_data = entries["LENGTH(node_data)"]
    assert node_data["kind"] == "length" and node_data["value_format"] == "%lu"
    assert node_data["value_source"] == "expression MAX_NUMNODES"
    assert node_data["spec"]["file"] == "arch/x86_64.yaml" and node_data["spec"]["line"] > 1
    assert entries["NUMBER(VMALLOC_START)" if "NUMBER(VMALLOC_START)" in entries else "SYMBOL(_stext)"]["kind"]
    assert entries["KERNELOFFSET"]["value_format"] == "%lx"
    assert entries["SYMBOL(swapper_pg_dir)"]["kind"] == "symbol-array"


def test_without_config_conditions_are_shown_unevaluated():
    code, out, _ = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.12")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "[if CONFIG_VMCORE_INFO && !CONFIG_NUMA]" in rows["SYMBOL(mem_map)"]
    assert "[if CONFIG_VMCORE_INFO && CONFIG_NUMA]" in rows["SYMBOL(node_data)"]
    # the machine name settles CONFIG_X86_64, so it does not appear in any residual condition
    assert "CONFIG_X86_64" not in out


@pytest.mark.parametrize("name", ["x86_64", "amd64", "x86"])
def test_arch_aliases_select_the_same_entries(name):
    _, _, config = gold("6.1.0-57-cloud-amd64")
    assert listed_keys(name, "6.1.192", config) == listed_keys("x86_64", "6.1", config)


@pytest.mark.parametrize("version", ["6.1", "6.1.192", "6.1.0-57-cloud-amd64"])
def test_version_spellings(version):
    assert parse_kernel_version(version)[:2] == (6, 1)


def test_bad_requests_are_one_line_exit_2():
    for args, message in [(("--arch", "vax", "--kernel-version", "6.1"), "unknown architecture 'vax'"),
                          (("--arch", "x86_64", "--kernel-version", "5.4"), "outside every spec's range"),
                          (("--arch", "x86_64", "--kernel-version", "banana"), "is not a kernel version"),
                          (("--arch", "x86_64", "--kernel-version", "6.1", "--config", "/nonexistent"), "cannot read the config")]:
        code, out, err = run_vmci("list", *args)
        assert code == 2, (args, err)
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- Kconfig toggles: each adds or removes exactly the entries the kernel gates on it ---

SPECS, _ = load_specs()


def keys_for(config, version="6.1"):
    target = find_target(SPECS, "x86_64", config)
    return [s.key for s in select_entries(SPECS, target, parse_kernel_version(version), config)]


def toggled(release, version, changes):
    _, _, path = gold(release)
    base = KernelConfig.from_file(path)
    before, after = keys_for(base, version), keys_for(base.with_changes(changes), version)
    return set(after) - set(before), set(before) - set(after)


# The expected sets below are read from the kernel sources, not from the specs:
# kernel/crash_core.c (6.1) / kernel/vmcore_info.c (6.12) and
# arch/x86/kernel/crash_core_64.c / vmcore_info_64.c.
def test_numa_off():
    added, removed = toggled("6.1.0-57-cloud-amd64", "6.1", {"CONFIG_NUMA": None})
    assert added == {"SYMBOL(mem_map)", "SYMBOL(contig_page_data)"}  # #ifndef CONFIG_NUMA
    assert removed == {"SYMBOL(node_data)", "LENGTH(node_data)"}  # arch: #ifdef CONFIG_NUMA


def test_sparsemem_off_is_flatmem():
    added, removed = toggled("6.1.0-57-cloud-amd64", "6.1", {"CONFIG_SPARSEMEM": None, "CONFIG_SPARSEMEM_EXTREME": None,
                                                            "CONFIG_SPARSEMEM_VMEMMAP": None, "CONFIG_FLATMEM": "y"})
    assert added == {"OFFSET(pglist_data.node_mem_map)"}  # #ifdef CONFIG_FLATMEM
    assert removed == {"SYMBOL(mem_section)", "LENGTH(mem_section)", "SIZE(mem_section)",
                       "OFFSET(mem_section.section_mem_map)", "NUMBER(SECTION_SIZE_BITS)",
                       "NUMBER(MAX_PHYSMEM_BITS)"}  # #ifdef CONFIG_SPARSEMEM


def test_sparsemem_vmemmap_off_612():
    added, removed = toggled("6.12.117+deb12-cloud-amd64", "6.12", {"CONFIG_SPARSEMEM_VMEMMAP": None})
    assert added == set()
    assert removed == {"SYMBOL(vmemmap)"}  # #ifdef CONFIG_SPARSEMEM_VMEMMAP


def test_sparsemem_extreme_changes_no_key():
    # SPARSEMEM_EXTREME changes values (LENGTH(mem_section)), never which keys appear
    assert toggled("6.1.0-57-cloud-amd64", "6.1", {"CONFIG_SPARSEMEM_EXTREME": None}) == (set(), set())


def test_kallsyms_off():
    kallsyms = {"SYMBOL(kallsyms_names)", "SYMBOL(kallsyms_num_syms)", "SYMBOL(kallsyms_token_table)",
                "SYMBOL(kallsyms_token_index)", "SYMBOL(kallsyms_offsets)", "SYMBOL(kallsyms_relative_base)"}
    for release, version in (("6.1.0-57-cloud-amd64", "6.1"), ("6.12.117+deb12-cloud-amd64", "6.12")):
        added, removed = toggled(release, version, {"CONFIG_KALLSYMS": None})
        assert (added, removed) == (set(), kallsyms)


def test_kallsyms_absolute_addresses_before_611():
    added, removed = toggled("6.1.0-57-cloud-amd64", "6.1", {"CONFIG_KALLSYMS_BASE_RELATIVE": None})
    assert added == {"SYMBOL(kallsyms_addresses)"}
    assert removed == {"SYMBOL(kallsyms_offsets)", "SYMBOL(kallsyms_relative_base)"}


def test_crash_core_off_is_refused_not_answered_with_nothing():
    _, _, path = gold("6.1.0-57-cloud-amd64")
    with pytest.raises(SelectionError, match="this config builds no VMCOREINFO: kernel/crash_core.c"):
        keys_for(KernelConfig.from_file(path).with_changes({"CONFIG_CRASH_CORE": None}))


def test_crashtime_only_at_crash():
    _, _, config = gold("6.1.0-57-cloud-amd64")
    code, out, _ = run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.1", "--config", config, "--at-crash")
    assert out.splitlines()[-1].startswith("CRASHTIME ")
    assert "CRASHTIME" not in run_vmci("list", "--arch", "x86_64", "--kernel-version", "6.1", "--config", config)[1]
