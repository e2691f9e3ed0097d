"""`vmci coverage` is linear in the entries and in the cells (issue 14, item 4): each
entry's condition is decided once per machine, variant and base config, not once per
cell, and every cell is still what select.py's walk gives for it (coverage._cell)."""
import pytest

from test_bounds import COMMON, specs_dir

from vmci.audit.coverage import VARIANTS, _cell, compute_coverage, coverage_versions, offered
from vmci.lang.condition import Condition
from vmci.spec.model import format_version
from vmci.spec.load import load_specs


def own_ranges(count):
    """`count` entries, each with a version range of its own: 2 * count versions."""
    entries = "".join(f"      - kind: number\n        name: N{i}\n        value: {i}\n        since: \"6.{i + 1}\"\n"
                      f"        until: \"7.{i + 1}\"\n        doc: Example.\n" for i in range(count))
    return COMMON.replace("      - kind: osrelease\n", entries + "      - kind: osrelease\n", 1)


def loaded(tmp_path, common):
    specs_dir(tmp_path, common)
    specs, problems = load_specs(str(tmp_path))
    assert problems == []
    return specs


def check_cells(specs, machines=None):
    found = compute_coverage(specs)
    versions = coverage_versions(specs)
    compared = 0
    for (emitter, machine), row in zip(specs.machines(), found.rows):
        if machines and machine.name not in machines:
            continue
        for version in versions:
            for variant in VARIANTS:
                if not offered(specs, machine, version, variant):  # the machine's Kconfig has no such config
                    assert (format_version(version), variant.name) not in row.cells
                    continue
                expected = _cell(specs, emitter, machine, version, variant)
                assert row.cells[(format_version(version), variant.name)] == expected, (machine.name, version, variant)
                compared += 1
    return compared


def test_every_cell_is_the_walk_of_its_kernel(tmp_path):
    specs = loaded(tmp_path, own_ranges(40))
    assert check_cells(specs) == 1 * 80 * 16


@pytest.mark.parametrize("machine", ["x86_64", "s390x", "aarch64"])
def test_every_cell_of_the_shipped_specs_is_the_walk_of_its_kernel(machine):
    specs, _ = load_specs()
    [found] = [m for _, m in specs.machines() if m.name == machine]
    offered_cells = sum(offered(specs, found, version, variant)
                        for version in coverage_versions(specs) for variant in VARIANTS)
    assert 0 < offered_cells < len(coverage_versions(specs)) * 16  # their Kconfig has no NUMA with FLATMEM, for one
    assert check_cells(specs, {machine}) == offered_cells


def test_600_entries_with_ranges_of_their_own_are_decided_once_per_variant(tmp_path, monkeypatch):
    """1,200 versions x 16 variants: a walk per cell decided 12 million conditions (past
    100 s); one walk per variant and base config decides each entry's once."""
    specs = loaded(tmp_path, own_ranges(600))
    decided = []
    original = Condition.evaluate
    monkeypatch.setattr(Condition, "evaluate", lambda self, config: decided.append(1) or original(self, config))
    result = compute_coverage(specs)
    entries = sum(1 for _ in specs.all_entries())
    assert result.size == (1, 1200, 16)
    groups = 2  # CONFIG_CRASH_CORE before 6.9, CONFIG_VMCORE_INFO after
    assert len(decided) <= 2 * groups * len(VARIANTS) * entries, len(decided)
    cells = result.rows[0].cells
    assert cells[("6.300", VARIANTS[0].name)].entries == cells[("6.1", VARIANTS[0].name)].entries + 299
