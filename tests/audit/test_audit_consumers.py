"""vmci audit consumers: per dump tool, the keys it reads on a machine that the kernel
does not emit, each with the tool's source line; and the consumer data itself cites,
for every read, the file of the tool that reads the key."""
import re
import shutil

import pytest

from conftest import ROOT, gold, json_document, run_vmci
from vmci.spec.load import load_specs

AMD64 = "6.1.0-57-cloud-amd64"


def consumers(*args, specs=None):
    extra = ["--specs", str(specs)] if specs else []
    code, out, err = run_vmci("audit", "consumers", "--format", "json", *args, *extra)
    assert "Traceback" not in err, err
    assert code in (0, 1), err
    return code, json_document(out, "audit-consumers")


def tool(payload, name, machine=None):
    [entry] = [m for m in payload["machines"] if machine is None or m["machine"] == machine]
    [found] = [t for t in entry["tools"] if t["tool"] == name]
    return found


def test_makedumpfile_gets_every_required_key_from_6_1_x86_64():
    _, payload = consumers("--arch", "x86_64", "--kernel-version", "6.1")
    makedumpfile = tool(payload, "makedumpfile")
    assert makedumpfile["missing_required"] == []
    # without a config, what depends on options is conditional, not missing
    conditional = {c["key"]: c["condition"] for c in makedumpfile["conditional"]}
    assert conditional["SYMBOL(mem_section)"] == "CONFIG_SPARSEMEM"
    assert makedumpfile["satisfied"] > 40


def test_with_the_real_config_nothing_is_conditional():
    _, payload = consumers("--arch", "x86_64", "--kernel-version", AMD64, "--config", gold(AMD64)[2])
    makedumpfile = tool(payload, "makedumpfile")
    assert makedumpfile["missing_required"] == [] and makedumpfile["conditional"] == []
    # a key only older kernels emit is listed as optional and missing, with its citation
    missing = {r["key"]: r for r in makedumpfile["missing_optional"]}
    assert missing["OFFSET(folio._folio_dtor)"]["tool_location"].startswith("makedumpfile.c:")


def test_reads_limited_to_other_machines_do_not_count():
    _, payload = consumers("--arch", "aarch64", "--kernel-version", "6.12")
    makedumpfile = tool(payload, "makedumpfile")
    keys = {r["key"] for r in makedumpfile["missing_required"] + makedumpfile["missing_optional"]}
    assert "SYMBOL(init_top_pgt)" not in keys  # makedumpfile reads it on x86_64 only
    assert "SYMBOL(swapper_pg_dir)" not in keys


def test_every_tool_and_every_read_cites_the_tools_source():
    specs, problems = load_specs()
    assert set(specs.tools) >= {"makedumpfile", "crash", "drgn", "libkdumpfile", "kexec-tools"}
    for name, data in specs.tools.items():
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", data.get("repository", "")), name
        assert re.fullmatch(r"[0-9a-f]{40}", data.get("commit", "")), name
    for read in specs.consumers:
        # file:line function() in the tool's repository at that commit
        assert re.match(r"^[\w./+-]+\.[a-z]+:\d+ [\w.]+\(\)", read.where), (read.tool, read.key, read.where)


def test_a_required_key_the_kernel_does_not_emit(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(f"{ROOT}/specs", specs)
    path = specs / "consumers.yaml"
    text = path.read_text()
    anchor = "    reads:\n"
    text = text.replace(anchor, anchor + '      - key: SYMBOL(not_emitted)\n        required: true\n'
                                         '        where: "makedumpfile.c:1 imaginary()"\n', 1)
    path.write_text(text)
    code, payload = consumers("--arch", "x86_64", "--kernel-version", "6.1", specs=specs)
    assert code == 1
    [missing] = tool(payload, "makedumpfile")["missing_required"]
    assert missing == {"key": "SYMBOL(not_emitted)", "required": True, "required_when": None,
                       "tool_location": "makedumpfile.c:1 imaginary()", "doc": None}
    code, out, _ = run_vmci("audit", "consumers", "--arch", "x86_64", "--kernel-version", "6.1", "--specs", str(specs))
    assert "missing, required: SYMBOL(not_emitted)  (makedumpfile.c:1 imaginary())" in out


def test_a_requirement_can_depend_on_the_memory_model(tmp_path):
    """makedumpfile needs the mem_section set only on SPARSEMEM kernels, and mem_map only
    on FLATMEM ones: with a FLATMEM config, the missing mem_section keys are optional."""
    flatmem = tmp_path / "config"
    text = open(gold(AMD64)[2]).read()
    flatmem.write_text("\n".join(line for line in text.splitlines()
                                 if not line.startswith(("CONFIG_SPARSEMEM", "CONFIG_NUMA=")))
                       + "\nCONFIG_FLATMEM=y\n")
    code, payload = consumers("--arch", "x86_64", "--kernel-version", AMD64, "--config", str(flatmem))
    makedumpfile = tool(payload, "makedumpfile")
    assert code == 0 and makedumpfile["missing_required"] == []
    optional = {r["key"]: r for r in makedumpfile["missing_optional"]}
    assert optional["SYMBOL(mem_section)"]["required"] is True
    assert optional["SYMBOL(mem_section)"]["required_when"] == "CONFIG_SPARSEMEM"
    assert {"SIZE(mem_section)", "OFFSET(mem_section.section_mem_map)"} <= set(optional)
    # a NUMA kernel without SPARSEMEM (no architecture allows it) would lack mem_map too
    (tmp_path / "numa").write_text(flatmem.read_text() + "CONFIG_NUMA=y\n")
    code, payload = consumers("--arch", "x86_64", "--kernel-version", AMD64, "--config", str(tmp_path / "numa"))
    assert code == 1
    assert [r["key"] for r in tool(payload, "makedumpfile")["missing_required"]] == ["SYMBOL(mem_map)"]


def test_every_machine_without_arch():
    specs, _ = load_specs()
    _, payload = consumers("--kernel-version", "6.12")
    machines = [m["machine"] for m in payload["machines"]]
    expected = [m.name for e, m in specs.machines() if e.versions.contains((6, 12))]
    assert machines == expected


@pytest.mark.parametrize("args, fragment", [
    (["--arch", "vax"], "unknown architecture 'vax'"),
    (["--arch", "x86_64", "--kernel-version", "4.19"], "outside every spec's range"),
    (["--arch", "x86_64", "--config", "/nonexistent/config"], "/nonexistent/config"),
])
def test_bad_arguments(args, fragment):
    code, out, err = run_vmci("audit", "consumers", *args)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err
