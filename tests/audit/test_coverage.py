"""vmci coverage: machines x versions x the 16 config variants, entries and consumer
gaps per cell; the HTML report is one self-contained page that headless Chromium
(Debian's `chromium`) renders with one matrix row per architecture."""
import os
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from conftest import json_document, run_vmci
from vmci.specset import load_specs

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def specs():
    specs, _ = load_specs()
    return specs


@pytest.fixture(scope="module")
def coverage():
    code, out, err = run_vmci("coverage", "--format", "json")
    assert code == 0, err
    return json_document(out, "coverage")


def test_matrix_has_every_machine_the_versions_and_16_variants(coverage, specs):
    assert [m["machine"] for m in coverage["machines"]] == [m.name for _, m in specs.machines()]
    assert {"6.1", "6.12"} <= set(coverage["versions"])
    assert len(coverage["variants"]) == 16
    assert len({v["name"] for v in coverage["variants"]}) == 16
    # the newest version any spec mentions is a column
    bounds = {b for e in specs.emitters
              for r in [e.versions] + [x.versions for x in list(e.entries()) + e.sources + e.defines]
              for b in (r.since, r.until) if b}
    assert ".".join(map(str, max(bounds))) == coverage["versions"][-1]
    assert "definition" in coverage and "KALLSYMS" in coverage["definition"]


def cells(coverage, machine):
    [entry] = [m for m in coverage["machines"] if m["machine"] == machine]
    return {(c["kernel_version"], c["variant"]): c for c in entry["cells"]}, entry["summary"]


def test_cells_follow_the_specs(coverage):
    x86_64, summary = cells(coverage, "x86_64")
    assert len([k for k in x86_64 if k[0] == "6.1"]) == 16
    vmemmap = x86_64[("6.12", "NUMA SPARSEMEM_VMEMMAP KALLSYMS")]
    flat = x86_64[("6.12", "UMA FLATMEM no-KALLSYMS")]
    assert vmemmap["entries"] > flat["entries"]
    # FLATMEM has no mem_section, which makedumpfile requires on SPARSEMEM kernels only;
    # it needs mem_map instead, which only a UMA kernel emits
    assert flat["gaps"]["makedumpfile"] == [] and vmemmap["gaps"]["makedumpfile"] == []
    assert x86_64[("6.12", "NUMA FLATMEM KALLSYMS")]["gaps"]["makedumpfile"] == ["SYMBOL(mem_map)"]
    assert summary["6.12"]["variants_with_gaps"] == 2
    # 5.10 tests NEED_MULTIPLE_NODES and FLAT_NODE_MEM_MAP, which a variant derives from NUMA
    # and FLATMEM as mm/Kconfig did: the same gap, and the UMA FLATMEM cell has mem_map
    assert "5.10" in coverage["versions"]
    assert x86_64[("5.10", "NUMA FLATMEM KALLSYMS")]["gaps"]["makedumpfile"] == ["SYMBOL(mem_map)"]
    assert x86_64[("5.10", "UMA FLATMEM KALLSYMS")]["gaps"]["makedumpfile"] == []
    assert summary["5.10"]["variants_with_gaps"] == 2
    # no kallsyms lines before 6.0: KALLSYMS changes nothing in 5.10
    assert x86_64[("5.10", "UMA FLATMEM KALLSYMS")]["entries"] == x86_64[("5.10", "UMA FLATMEM no-KALLSYMS")]["entries"]
    assert summary["6.12"]["variants"] == 16 and summary["6.12"]["min"] <= summary["6.12"]["max"]
    # machines outside a spec's versions have no cells there
    ia64, ia64_summary = cells(coverage, "ia64")
    assert ia64_summary["6.12"] is None and ("6.12", "NUMA FLATMEM KALLSYMS") not in ia64
    riscv64, riscv_summary = cells(coverage, "riscv64")
    assert riscv_summary["6.1"] is None and riscv_summary["6.2"] is not None


def test_text_matrix_has_a_row_per_machine(specs):
    code, out, _ = run_vmci("coverage")
    assert code == 0
    lines = out.splitlines()
    for _, machine in specs.machines():
        assert any(line.split()[0] == machine.name for line in lines[2:]), machine.name


class _Matrix(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.rows, self.headers, self.external = [], [], [], []
        self.in_matrix = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "coverage-matrix":
            self.in_matrix = True
        if self.in_matrix and tag == "tr" and "machine" in (attrs.get("class") or ""):
            self.rows.append(attrs["data-machine"])
        if self.in_matrix and tag == "th":
            self.stack.append("th")
        for name in ("src", "href"):
            if attrs.get(name):
                self.external.append(attrs[name])
        if tag == "link" or tag == "script":
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_matrix = False
        if tag == "th" and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.in_matrix and self.stack and data.strip():
            self.headers.append(data.strip())


def chromium():
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is missing: apt-get install chromium (tools/setup.sh)")
    return path


def run_chromium(*args):
    profile = tempfile.mkdtemp(prefix="vmci-chromium-")
    try:
        return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_html_renders_in_headless_chromium_with_one_row_per_architecture(tmp_path, specs):
    page = tmp_path / "coverage.html"
    code, _, err = run_vmci("coverage", "--format", "html", "-o", str(page))
    assert code == 0, err
    source = page.read_text()
    static = _Matrix()
    static.feed(source)
    assert static.external == [], "the page must be self-contained"

    result = run_chromium("--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _Matrix()
    dom.feed(result.stdout)
    machines = [m.name for _, m in specs.machines()]
    assert dom.rows == machines  # one row per architecture, in the specs' order
    assert {"Architecture", "6.1", "6.12"} <= set(dom.headers)

    screenshot = tmp_path / "coverage.png"
    result = run_chromium(f"--screenshot={screenshot}", "--window-size=1920,1300", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1920, 1300)
    assert len(data) > 100_000  # a rendered table, not a blank page
    if os.environ.get("VMCI_KEEP_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["VMCI_KEEP_SCREENSHOT"])


def test_an_unwritable_output_is_one_line():
    code, out, err = run_vmci("coverage", "--format", "html", "-o", "/nonexistent/dir/coverage.html")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == "vmci coverage: /nonexistent/dir/coverage.html: cannot write (No such file or directory)"
