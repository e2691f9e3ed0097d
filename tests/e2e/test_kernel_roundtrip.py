"""The end-to-end proof as a test target: VMCI_E2E=1 runs tests/e2e/kernel-roundtrip.sh
for Debian's linux-source-6.12 in both config variants (NUMA on and off) and for
linux-source-6.1 with NUMA; each builds the kernel stock and with vmci's generated C,
boots both under QEMU and compares the notes."""
import os
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("version, variant", [("6.12", "numa"), ("6.12", "nonuma"), ("6.1", "numa")])
def test_generated_kernel_writes_the_same_note_as_the_stock_kernel(version, variant):
    script = os.path.join(ROOT, "tests", "e2e", "kernel-roundtrip.sh")
    result = subprocess.run(["bash", script, variant, version], capture_output=True, text=True, timeout=7200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 unexpected differences" in result.stdout
