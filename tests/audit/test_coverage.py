"""vmci coverage: machines x versions x the config variants each architecture's Kconfig
offers, entries and consumer gaps per cell; the HTML report is one self-contained page
that headless Chromium (Debian's `chromium`) lays out at 1400 px with every version
column on screen, whose tool filter recolours the cells, and whose cells link to the
spec lines behind them."""
import html
import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from conftest import ROOT, json_document, run_vmci
from vmci.spec.load import load_specs

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--allow-file-access-from-files"]


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
    assert len([k for k in x86_64 if k[0] == "6.1"]) == 8
    vmemmap = x86_64[("6.12", "NUMA SPARSEMEM_VMEMMAP KALLSYMS")]
    extreme = x86_64[("6.12", "UMA SPARSEMEM_EXTREME no-KALLSYMS")]
    assert vmemmap["entries"] > extreme["entries"]
    assert vmemmap["gaps"]["makedumpfile"] == [] and extreme["gaps"]["makedumpfile"] == []
    assert summary["6.12"]["variants"] == 8 and summary["6.12"]["min"] <= summary["6.12"]["max"]
    # FLATMEM is i386's (without NUMA): makedumpfile then needs mem_map, which a UMA kernel emits
    i386, _ = cells(coverage, "i386")
    flat = i386[("6.12", "UMA FLATMEM no-KALLSYMS")]
    assert flat["gaps"]["makedumpfile"] == [] and ("6.12", "NUMA FLATMEM KALLSYMS") not in i386
    assert flat["entries"] < i386[("6.12", "UMA SPARSEMEM KALLSYMS")]["entries"]
    # 5.10 tests FLAT_NODE_MEM_MAP, which a variant derives from FLATMEM as mm/Kconfig did:
    # the UMA FLATMEM cell has mem_map; no kallsyms lines before 6.0, so KALLSYMS changes nothing
    assert "5.10" in coverage["versions"]
    assert i386[("5.10", "UMA FLATMEM KALLSYMS")]["gaps"]["makedumpfile"] == []
    assert i386[("5.10", "UMA FLATMEM KALLSYMS")]["entries"] == i386[("5.10", "UMA FLATMEM no-KALLSYMS")]["entries"]
    # machines outside a spec's versions have no cells there
    ia64, ia64_summary = cells(coverage, "ia64")
    assert ia64_summary["6.12"] is None and ("6.12", "UMA FLATMEM KALLSYMS") not in ia64
    riscv64, riscv_summary = cells(coverage, "riscv64")
    assert riscv_summary["6.1"] is None and riscv_summary["6.2"] is not None


def test_only_the_variants_the_architecture_s_kconfig_offers(coverage, specs):
    """arch/*/Kconfig and mm/Kconfig (6.1, 6.12): x86_64 has no FLATMEM (ARCH_FLATMEM_ENABLE
    depends on X86_32) and always SPARSEMEM_EXTREME (SPARSEMEM_STATIC only if X86_32);
    arm64 and s390x select SPARSEMEM_VMEMMAP; 32-bit powerpc has only FLATMEM and no NUMA;
    ARM has no NUMA; i386, riscv32 and sh select SPARSEMEM_STATIC (no SPARSEMEM_EXTREME)."""
    def models(machine, version="6.12"):
        [entry] = [m for m in coverage["machines"] if m["machine"] == machine]
        return {tuple(c["variant"].split()[:2]) for c in entry["cells"] if c["kernel_version"] == version}
    assert models("x86_64") == models("x86_64", "5.10") == \
        {(numa, model) for numa in ("NUMA", "UMA") for model in ("SPARSEMEM_VMEMMAP", "SPARSEMEM_EXTREME")}
    assert models("aarch64") == models("s390x") == {("NUMA", "SPARSEMEM_VMEMMAP"), ("UMA", "SPARSEMEM_VMEMMAP")}
    # arm64 before 6.1: FLATMEM without NUMA, and SPARSEMEM_VMEMMAP a choice (the 5.10 tree)
    assert models("aarch64", "5.10") == {("UMA", "FLATMEM")} | {(numa, model) for numa in ("NUMA", "UMA")
                                                               for model in ("SPARSEMEM_VMEMMAP", "SPARSEMEM_EXTREME")}
    assert models("ppc") == {("UMA", "FLATMEM")}
    assert models("armv7l") == {("UMA", "SPARSEMEM"), ("UMA", "FLATMEM")}
    assert models("i386") == models("riscv32") == models("sh4") == \
        {("NUMA", "SPARSEMEM"), ("UMA", "SPARSEMEM"), ("UMA", "FLATMEM")}
    offered = {m["machine"]: set(m["variants"]) for m in coverage["machines"]}
    assert all(any("no-KALLSYMS" in n for n in names) and any(" KALLSYMS" in n for n in names)
               for names in offered.values())
    # the condition is the spec's, shown as it is written
    by_name = {m.name: m for _, m in specs.machines()}
    [x86_64] = [m for m in coverage["machines"] if m["machine"] == "x86_64"]
    assert x86_64["kconfig_allows"] == by_name["x86_64"].allows((6, 12)).text
    every = {c["variant"] for m in coverage["machines"] for c in m["cells"]}
    assert every <= {n for names in offered.values() for n in names}


def test_text_matrix_has_a_row_per_machine(specs):
    code, out, _ = run_vmci("coverage")
    assert code == 0
    lines = out.splitlines()
    for _, machine in specs.machines():
        assert any(line.split()[0] == machine.name for line in lines[2:]), machine.name


class _Matrix(HTMLParser):
    relative_specs = "../"

    def __init__(self):
        super().__init__()
        self.stack, self.rows, self.headers, self.external = [], [], [], []
        self.cell_links, self.header_links = [], []
        self.in_matrix = False
        self.in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "coverage-matrix":
            self.in_matrix = True
        if self.in_matrix and tag == "tr" and "machine" in (attrs.get("class") or ""):
            self.rows.append(attrs["data-machine"])
        if self.in_matrix and tag == "th":
            self.stack.append("th")
        if self.in_matrix and tag == "thead":
            self.in_head = True
        if self.in_matrix and tag == "a":
            (self.header_links if self.in_head else self.cell_links).append(attrs["href"])
        for name in ("src", "href"):
            if attrs.get(name):
                self.external.append(attrs[name])
        if tag == "link" or tag == "script":
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_matrix = False
        if tag == "thead":
            self.in_head = False
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


# Run by the test on a copy of the page (the page itself has no script): what Chromium
# lays out at 1400 px and what the tool filter does to the computed styles.
PROBE = """<script>
function probe() {
  const matrix = document.getElementById("coverage-matrix");
  const cells = [...matrix.querySelectorAll("thead th, tbody th, tbody td")];
  return {
    viewport: document.documentElement.clientWidth,
    table: matrix.getBoundingClientRect().right,
    overflowing: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim()),
    headers: [...matrix.querySelectorAll("thead th")].map(th => [th.textContent.trim(), th.getBoundingClientRect().width]),
    cells: [...matrix.querySelectorAll("tbody td.cell")].map(td => [td.className, getComputedStyle(td).backgroundColor,
      [...td.querySelectorAll(".mark")].filter(m => getComputedStyle(m).display != "none").map(m => m.className)]),
  };
}
window.addEventListener("load", () => {
  const result = {all: probe()};
  for (const radio of document.querySelectorAll("input[name=tool]")) { radio.checked = true; result[radio.id] = probe(); }
  document.getElementById("tool-all").checked = true;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def rendered(page, tmp_path):
    probed = page.parent / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = run_chromium("--dump-dom", "--window-size=1400,1000", probed.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, json.loads(html.unescape(result.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]))


@pytest.fixture
def page_dir():
    """A directory in the checkout beside specs/, where a user keeps the page: its links to
    the spec files are then ../specs/..."""
    directory = tempfile.mkdtemp(prefix=".coverage-page-", dir=ROOT)
    yield pathlib.Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


def test_html_renders_in_headless_chromium_with_one_row_per_architecture(tmp_path, page_dir, specs):
    page = page_dir / "coverage.html"
    code, _, err = run_vmci("coverage", "--format", "html", "-o", str(page))
    assert code == 0, err
    source = page.read_text()
    static = _Matrix()
    static.feed(source)
    assert [link for link in static.external if not link.startswith(static.relative_specs)] == [], \
        "the page must be self-contained: its only links are to the spec files"
    # no absolute path: not the checkout's, not the page's, no file: or rooted link
    assert ROOT not in source and str(page_dir) not in source and "file://" not in source
    assert all(not link.startswith("/") for link in static.external)

    dom_text, probe = rendered(page, tmp_path)
    dom = _Matrix()
    dom.feed(dom_text)
    machines = [m.name for _, m in specs.machines()]
    assert dom.rows == machines  # one row per architecture, in the specs' order
    assert {"Architecture", "6.1", "6.12"} <= set(dom.headers)

    # every version column is on the screen at 1400 px, and nothing in a cell is cut
    shown = probe["all"]
    assert shown["viewport"] <= 1400 and shown["table"] <= shown["viewport"], shown["table"]
    assert shown["overflowing"] == []
    assert [h for h, _ in shown["headers"][1:]] == json_versions()
    assert min(width for _, width in shown["headers"][1:]) >= 45  # a version and a cell's count fit

    screenshot = tmp_path / "coverage.png"
    result = run_chromium(f"--screenshot={screenshot}", "--window-size=1400,1300", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 1300)
    if os.environ.get("VMCI_KEEP_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["VMCI_KEEP_SCREENSHOT"])


def json_versions():
    code, out, err = run_vmci("coverage", "--format", "json")
    return json.loads(out)["versions"]


def test_the_tool_filter_shows_one_tool_s_gaps(tmp_path, page_dir):
    page = page_dir / "coverage.html"
    assert run_vmci("coverage", "--format", "html", "-o", str(page))[0] == 0
    _, probe = rendered(page, tmp_path)
    colour = {}
    for cls, background, _ in probe["all"]["cells"]:
        for level in ("ok", "some", "all"):
            if level in cls.split():
                colour.setdefault(level, background)
    tools = [key[len("tool-"):] for key in probe if key.startswith("tool-") and key != "tool-all"]
    assert {"makedumpfile", "crash", "drgn", "libkdumpfile", "kexec-tools"} <= set(tools)
    with_gaps = 0
    for tool in tools:
        for cls, background, marks in probe["tool-" + tool]["cells"]:
            classes = cls.split()
            if "na" in classes:
                continue
            level = "all" if f"{tool}-all" in classes else "some" if f"{tool}-some" in classes else "ok"
            with_gaps += level != "ok"
            assert background == colour.get(level, background), (tool, cls, background)
            assert all(f"mark-{tool}" in mark for mark in marks), (tool, marks)
    assert with_gaps > 0  # some tool has a gap somewhere: the filter recolours real cells


def test_cells_link_to_the_spec_lines_behind_them(page_dir, specs):
    page = page_dir / "coverage.html"
    assert run_vmci("coverage", "--format", "html", "-o", str(page))[0] == 0
    static = _Matrix()
    static.feed(page.read_text())
    assert static.cell_links, "matrix cells link to the specs"
    for href in set(static.cell_links + static.header_links):
        path, _, line = href.partition("#L")
        target = os.path.normpath(os.path.join(page.parent, path))
        assert os.path.isfile(target) and target.startswith(os.path.join(ROOT, "specs")), href
        text = open(target).read().splitlines()[int(line) - 1]
        assert text.strip().startswith("- file:"), (href, text)  # a source: the kernel file and its gate
    x86_links = {h for h in static.cell_links if "x86_64.yaml" in h}
    assert len(x86_links) == 2  # arch/x86/kernel/crash_core_64.c until 6.9, vmcore_info_64.c since
    assert any("common.yaml" in h for h in static.header_links)


def test_an_unwritable_output_is_one_line():
    code, out, err = run_vmci("coverage", "--format", "html", "-o", "/nonexistent/dir/coverage.html")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == "vmci coverage: /nonexistent/dir/coverage.html: cannot write: No such file or directory"
