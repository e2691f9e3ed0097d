"""Damaged ELF files through `vmci resolve`: a correct result or one line, never a traceback.

The inputs are real images damaged the ways files on disk get damaged and the ways a
hostile file lies (tests/hardening/elf_mutations.py): the kernel-shaped fixture
(data/fixture.c, gcc -g, DWARF 5 like Debian's GCC 12) truncated at random points,
with flipped bytes in its headers, section table, .debug_info, .debug_abbrev,
.debug_str, symbol and string tables, with section and ELF headers lying about offsets,
sizes, counts and links, and with DWARF type references turned into self-references
and cycles; and pieces of a real Debian vmlinux (see test_damaged_real_vmlinux).

Every case must end in exit 0 with KEY=VALUE lines (identical to the intact image's
when the damage was a truncation, which can only remove facts), exit 1 with one
`spec:line: KEY not resolved: reason` line per entry the damage made unanswerable, or
exit 2 with exactly one line `vmci resolve: FILE: PLACE: message`. Damage the reader
finds is unusable input (exit 2), never an unresolved entry (exit 1): an entry may be
unresolved because damage removed a fact, not because vmci noticed damage. Every line is
short, printable (no control characters) and in plain words: no Python exception names,
reprs or construct/struct messages (PYTHON_WORDS). The CI run tries ELF_CASES files; VMCI_FUZZ_LONG=1 tries 2,000
with a new seed each run. A failing case names its seed and the mutations, so
`Mutator(...).mutant(random.Random(seed))` rebuilds the file.
"""
import collections
import os
import random
import re

import pytest

from elf_mutations import Mutator
from hardening_support import (ELF_CASES, FIXTURE_CONFIG, FIXTURE_SPECS, LONG, build_fixture, check_resolve,
                               have_gcc, run_cli, run_subprocess)

pytestmark = pytest.mark.skipif(not have_gcc(), reason="gcc is not installed")

# cases built from a real vmlinux; the rest of ELF_CASES mutate the fixture
REAL_CASES = 200 if LONG else 40
SEED = int(os.environ.get("VMCI_FUZZ_SEED", "0")) if not LONG else random.randrange(1 << 30)


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory):
    return build_fixture(str(tmp_path_factory.mktemp("hardening-fixture")))


def resolve_args(path, config=FIXTURE_CONFIG, specs=FIXTURE_SPECS):
    return ["resolve", "--vmlinux", path, "--config", config, "--specs", specs, "--no-cache"]


# what a message must not contain: Python's words for its own failures
PYTHON_WORDS = ("KeyError", "IndexError", "AttributeError", "TypeError", "ValueError", "AssertionError",
                "ELFParseError", "ELFError", "DWARFError", "ConstructError", "FieldError", "struct.error",
                "unpack requires", "object has no attribute", "Traceback", "Error:", "Exception", "NoneType",
                "(<")
# the DWARF type entries a sound file may refer to that vmci does not read; any other
# entry referred to as a type (a member, a variable, a unit) is damage: exit 2
OTHER_DWARF_TYPES = ("DW_TAG_string_type", "DW_TAG_set_type", "DW_TAG_subrange_type", "DW_TAG_file_type",
                     "DW_TAG_packed_type", "DW_TAG_shared_type", "DW_TAG_interface_type", "DW_TAG_thrown_type",
                     "DW_TAG_coarray_type", "DW_TAG_dynamic_type", "DW_TAG_generic_subrange",
                     "DW_TAG_template_alias")
# what the command line prints of a damaged name: no control characters (it escapes them)
_PRINTABLE = re.compile("^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$")


def message_kind(line, path):
    """A message with its file and numbers taken out: what kind of message it is."""
    line = line.replace(path, "FILE")
    line = re.sub(r"^.*? not resolved: (\w+ (?=is |has |at ))?", "not resolved: ", line)
    return re.sub(r"0x[0-9a-f]+|\b\d+\b|'[^']*'", "N", line)


def check_plain_words(result):
    """Each line of stderr is printable, short, and free of Python's words."""
    for line in result.err.splitlines():
        assert _PRINTABLE.match(line) and len(line) < 400, f"not a plain line: {line!r}\n{result}"
        leaked = [word for word in PYTHON_WORDS if word in line]
        assert not leaked, f"Python's words {leaked} in {line!r}\n{result}"
        tag = re.search(r"unsupported DWARF tag (\S+) used as a type", line)
        assert tag is None or tag[1] in OTHER_DWARF_TYPES, f"damage reported as an unresolved entry: {line!r}"


def check_damaged(result, path, original, truncated, kinds=None):
    outcome = check_resolve(result, path)
    check_plain_words(result)
    if outcome == "refused":
        assert result.err.startswith(f"vmci resolve: {path}: "), result
    if kinds is not None:
        for line in result.err.splitlines():
            kinds[(result.code, message_kind(line, path))] += 1
    if outcome == "ok" and truncated:
        assert result.out == original, f"a truncated file resolved differently\n{result}"
    if outcome == "ok":
        outcome = "ok (identical)" if result.out == original else "ok (values changed)"
    return outcome


def test_intact_fixture_resolves_completely(fixture_image):
    result = run_cli(resolve_args(fixture_image))
    assert result.code == 0, result
    assert "OSRELEASE=6.1.0-99-fuzz\n" in result.out
    assert "OFFSET(page._refcount)=52\n" in result.out
    assert "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n" in result.out


def test_damaged_fixture(fixture_image, tmp_path):
    original = run_cli(resolve_args(fixture_image)).out
    with open(fixture_image, "rb") as handle:
        mutator = Mutator(handle.read())
    assert mutator.refs and mutator.sizes
    path = str(tmp_path / "vmlinux")
    outcomes = collections.Counter()
    kinds = collections.Counter()
    cases = ELF_CASES - REAL_CASES
    for case in range(cases):
        seed = SEED * 100_003 + case
        data, done = mutator.mutant(random.Random(seed))
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            result = run_cli(resolve_args(path))
            outcome = check_damaged(result, path, original, truncated=all(d.startswith("truncate") for d in done),
                                    kinds=kinds)
        except AssertionError as error:
            raise AssertionError(f"seed {seed}: {'; '.join(done)}\n{error}") from None
        outcomes[outcome] += 1
    refusals = sorted(kind for code, kind in kinds if code == 2)
    print(f"\n{cases} damaged fixture images (seed {SEED}): {dict(outcomes)}; {len(kinds)} kinds of message, "
          f"{len(refusals)} kinds of refusal:\n  " + "\n  ".join(refusals))
    assert sum(outcomes.values()) == cases
    # the damage must really reach the reader: most cases are refused or lose values, in
    # many different places
    assert outcomes["refused"] + outcomes["unresolved"] > cases // 3
    assert len(refusals) >= 20, refusals


def test_damaged_fixture_end_to_end(fixture_image, tmp_path):
    """A sample as real subprocesses: no traceback on the terminal, the same outcome."""
    with open(fixture_image, "rb") as handle:
        mutator = Mutator(handle.read())
    original = run_cli(resolve_args(fixture_image)).out
    for case in range(12):
        data, done = mutator.mutant(random.Random(f"subprocess-{case}"))
        path = str(tmp_path / f"vmlinux-{case}")
        with open(path, "wb") as handle:
            handle.write(data)
        result = run_subprocess(resolve_args(path))
        in_process = run_cli(resolve_args(path))
        try:
            check_damaged(result, path, original, truncated=False)
            assert (result.code, result.out, result.err) == (in_process.code, in_process.out, in_process.err)
        except AssertionError as error:
            raise AssertionError(f"{'; '.join(done)}\n{error}") from None


def test_a_damaged_copy_does_not_poison_the_cache(fixture_image, tmp_path, monkeypatch):
    """The answer cache is keyed by build ID, and a damaged copy has the intact image's
    build ID (and here its size: one DWARF byte differs, so page._refcount reads 60
    instead of 52). Resolved through one cache, in either order, cold and warm, each
    file gives its own answer."""
    import shutil

    from test_bounds import dies_by_name

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    intact = str(tmp_path / "intact")
    shutil.copy(fixture_image, intact)
    data = bytearray(open(intact, "rb").read())
    position = dies_by_name(bytes(data), "DW_AT_data_member_location")["page._refcount"][2]
    assert data[position] == 52
    data[position] = 60
    damaged = str(tmp_path / "damaged")
    open(damaged, "wb").write(bytes(data))
    for order in ((damaged, intact), (intact, damaged)):
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        for _ in range(2):
            for path in order:
                result = run_cli(resolve_args(path)[:-1])  # without --no-cache
                assert result.code == 0, result
                value = 60 if path == damaged else 52
                assert f"OFFSET(page._refcount)={value}\n" in result.out, (order, path, result)


def test_damaged_copies_through_one_cache(fixture_image, tmp_path, monkeypatch):
    """Damaged images resolved with the cache on, as a user would, then the intact
    image: it resolves exactly as it does without a cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    original = run_cli(resolve_args(fixture_image)).out
    with open(fixture_image, "rb") as handle:
        mutator = Mutator(handle.read())
    path = str(tmp_path / "vmlinux")
    for case in range(40):
        data, done = mutator.mutant(random.Random(f"cached-{SEED}-{case}"))
        with open(path, "wb") as handle:
            handle.write(data)
        check_damaged(run_cli(resolve_args(path)[:-1]), path, original, truncated=False)
    for _ in range(2):  # cold, then warm
        result = run_cli(resolve_args(fixture_image)[:-1])
        assert (result.code, result.out) == (0, original), result


REAL_KERNELS = ["6.1.0-57-cloud-amd64", "6.1.0-50-cloud-arm64"]


@pytest.mark.parametrize("release", REAL_KERNELS)
def test_damaged_real_vmlinux(release, tmp_path):
    """Heads of a real Debian vmlinux's .debug_info (whole units, or cut inside one) with
    its real symbol table, strings and data, in a small file whose section header table
    is rewritten to point into it (real_pieces.py), then damaged like the fixture."""
    from conftest import GOLD, kernel_path
    from real_pieces import RealImage

    image = RealImage(kernel_path(release))
    config = os.path.join(GOLD, release, "config")
    path = str(tmp_path / "vmlinux")
    outcomes = collections.Counter()
    kinds = collections.Counter()
    cases = REAL_CASES // len(REAL_KERNELS)
    try:
        for case in range(cases):
            seed = SEED * 100_003 + case
            rng = random.Random(seed)
            data, done = image.compact(image.head(rng, 24 << 20))
            if rng.random() < 0.7:
                data, more = Mutator(data, dwarf=False).mutant(rng)
                done += more
            with open(path, "wb") as handle:
                handle.write(data)
            try:
                result = run_cli(["resolve", "--vmlinux", path, "--config", config, "--no-cache"])
                outcome = check_damaged(result, path, None, truncated=False, kinds=kinds)
            except AssertionError as error:
                raise AssertionError(f"{release} seed {seed}: {'; '.join(done)}\n{error}") from None
            outcomes[outcome] += 1
    finally:
        image.close()
    print(f"\n{cases} damaged pieces of {release} (seed {SEED}): {dict(outcomes)}; {len(kinds)} kinds of message:"
          f"\n  " + "\n  ".join(sorted(kind for _, kind in kinds)))
    assert sum(outcomes.values()) == cases
