"""The kernel facts of vmci/abi.py against the kernel source they cite: the oldest tree
the specs pin (5.10, kernel/crash_core.c) and the newest (7.3, kernel/vmcore_info.c)."""
import json
import os

import pytest
from audit_helpers import kernel_source
from conftest import ROOT
from vmci import abi

FILES = {"5.10": "kernel/crash_core.c", "7.3": "kernel/vmcore_info.c"}


@pytest.mark.parametrize("version", sorted(FILES))
def test_the_line_buffer_note_and_call_graph_roots_are_the_kernels(version):
    with open(os.path.join(kernel_source(version), FILES[version]), encoding="utf-8") as handle:
        text = handle.read()
    assert f"\tchar buf[{abi.LINE_BUFFER_TEXT}];\n" in text  # vmcoreinfo_append_str()
    assert int(abi.LINE_BUFFER_TEXT, 16) == abi.LINE_BUFFER_BYTES
    assert f"append_elf_note(buf, VMCOREINFO_NOTE_NAME, {abi.NOTE_TYPE}, vmcoreinfo_data," in text
    assert f"\nvoid __weak {abi.ARCH_FUNCTION}(void)\n" in text
    assert f"\nstatic int __init {abi.COMMON_FUNCTION}(void)\n" in text
    assert "\tarch_crash_save_vmcoreinfo();\n" in text.split(f"{abi.COMMON_FUNCTION}(void)", 1)[1]


def test_the_schema_allows_an_append_exactly_the_conversions_vmci_knows():
    with open(os.path.join(ROOT, "specs", "schema", "vmci-1.json"), encoding="utf-8") as handle:
        entry = json.load(handle)["$defs"]["entry"]
    formats = [then["properties"]["format"]["enum"] for branch in entry["allOf"]
               for then in [branch["then"]] if "format" in then.get("properties", {})]
    assert len(formats) == 1 and sorted(formats[0]) == sorted(abi.APPEND_FORMATS)
    assert set(abi.APPEND_FORMATS) <= set(abi.FORMAT_WIDTH)
