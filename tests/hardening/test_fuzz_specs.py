"""Generated and mutated spec files: one located line per problem, never a traceback.

Each case is a specs directory that `vmci validate` checks in this process. Validate
must exit 0 or 1, print each problem as `file:line:col: severity: message` naming a
line that exists in the file, and print its summary. When a case is valid, `vmci list`
and `vmci resolve` (against the kernel-shaped fixture) run on it too, so random C
expressions and conditions reach the evaluator: they must end in a result, in
per-entry `not resolved` lines, or in one `vmci COMMAND: ...` line; and `vmci
generate`, which must succeed on every valid spec.

The CI run tries SPEC_CASES (2,000) documents, the same ones each time (derandomised);
VMCI_FUZZ_LONG=1 tries 10,000 new ones.
"""
import collections
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spec_strategies as S
from hardening_support import (FIXTURE_CONFIG, LONG, SPEC_CASES, build_fixture, check_resolve, check_validate,
                               have_gcc, run_cli)

# how the cases divide between the three families
SHARES = {"mutated": 0.55, "fresh": 0.2, "text": 0.25}
TALLY = collections.Counter()


def fuzz_settings(share):
    return settings(max_examples=int(SPEC_CASES * share) + 1, deadline=None, database=None, derandomize=not LONG,
                    suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def fixture_image(tmp_path_factory):
    if not have_gcc():
        pytest.skip("gcc is not installed")
    return build_fixture(str(tmp_path_factory.mktemp("hardening-fixture")))


def write_specs(directory, common=None, arch=True, name="common.yaml"):
    files = []
    if common is not None:
        path = os.path.join(directory, name)
        with open(path, "wb") as handle:
            handle.write(common if isinstance(common, bytes) else common.encode("utf-8", "surrogatepass"))
        files.append(path)
    if arch:
        os.makedirs(os.path.join(directory, "arch"), exist_ok=True)
        path = os.path.join(directory, "arch", "x86_64.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(S.ARCH_TEXT)
        files.append(path)
    return files


def exercise(directory, files, image, family):
    """validate, then list and resolve when the specs are valid; returns the outcome."""
    result = run_cli(["validate", directory])
    check_validate(result, files)
    TALLY[family] += 1
    if result.code != 0:
        TALLY[f"{family}: rejected"] += 1
        return
    TALLY[f"{family}: valid"] += 1
    listed = run_cli(["list", "--specs", directory, "--arch", "x86_64", "--kernel-version", "6.1",
                      "--config", FIXTURE_CONFIG])
    assert listed.code in (0, 2), listed
    if listed.code == 2:
        assert len(listed.err.splitlines()) == 1 and listed.err.startswith("vmci list: "), listed
    resolved = run_cli(["resolve", "--specs", directory, "--vmlinux", image, "--config", FIXTURE_CONFIG,
                        "--no-cache"])
    TALLY[f"{family}: resolve {check_resolve(resolved, image, files)}"] += 1
    with tempfile.TemporaryDirectory() as out:
        generated = run_cli(["generate", "--specs", directory, "-o", out, "--kernel-version", "6.1"])
        # a valid spec always generates, unless it does not describe 6.1 at all
        assert len(generated.err.splitlines()) == 1, generated
        if generated.code == 2 and generated.err == "vmci generate: kernel version 6.1 is outside the specs' versions\n":
            TALLY[f"{family}: generate: 6.1 not described"] += 1
            return
        assert generated.code == 0 and " written, " in generated.err, generated
        TALLY[f"{family}: generated"] += 1


def test_generated_specs(fixture_image):
    @fuzz_settings(SHARES["mutated"])
    @given(S.mutated_common(), st.integers(0, 3))
    def mutated(document, style):
        with tempfile.TemporaryDirectory() as directory:
            files = write_specs(directory, S.dump(document, style))
            exercise(directory, files, fixture_image, "mutated")

    @fuzz_settings(SHARES["fresh"])
    @given(S.fresh_document(), st.integers(0, 3))
    def fresh(document, style):
        with tempfile.TemporaryDirectory() as directory:
            files = write_specs(directory, S.dump(document, style), name="fuzz.yaml")
            exercise(directory, files, fixture_image, "fresh")

    @fuzz_settings(SHARES["text"])
    @given(st.one_of(S.yaml_text(), S.yaml_text(), st.binary(max_size=600),
                     st.tuples(S.yaml_text(), st.binary(min_size=1, max_size=4), st.integers(0, 5000)).map(
                         lambda t: t[0].encode()[:t[2]] + t[1] + t[0].encode()[t[2]:])))
    def text(content):
        with tempfile.TemporaryDirectory() as directory:
            files = write_specs(directory, content, arch=False)
            exercise(directory, files, fixture_image, "text")

    mutated()
    fresh()
    text()
    total = TALLY["mutated"] + TALLY["fresh"] + TALLY["text"]
    print(f"\n{total} generated spec directories: {dict(sorted(TALLY.items()))}")
    assert total >= SPEC_CASES
    # enough generated specs stay valid for list and resolve to see random C
    assert TALLY["mutated: valid"] + TALLY["fresh: valid"] >= SPEC_CASES // 10


def test_generated_specs_end_to_end(tmp_path):
    """A sample as real subprocesses: the terminal sees what the in-process run saw."""
    from hardening_support import run_subprocess

    @settings(max_examples=10, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(S.yaml_text(), S.mutated_common().map(S.dump)))
    def sample(text):
        with tempfile.TemporaryDirectory(dir=tmp_path) as directory:
            files = write_specs(directory, text)
            result = run_subprocess(["validate", directory])
            check_validate(result, files)
            in_process = run_cli(["validate", directory])
            assert (result.code, result.out, result.err) == (in_process.code, in_process.out, in_process.err)

    sample()


def test_specs_without_the_common_list_generate(tmp_path, fixture_image):
    """Found by the campaign above: a valid spec set whose general spec has no
    crash_save_vmcoreinfo_init() (here renamed) validates, so it generates too; its Python
    package then refuses no config, as `vmci list` and `vmci resolve` refuse none."""
    import copy

    document = copy.deepcopy(S.COMMON)
    (boot,) = [f for f in document["functions"] if f["name"] == "crash_save_vmcoreinfo_init"]
    boot["name"] = "init_uts_ns"
    directory = str(tmp_path / "specs")
    os.makedirs(directory)
    files = write_specs(directory, S.dump(document))
    assert run_cli(["validate", directory]).code == 0
    out = tmp_path / "out"
    generated = run_cli(["generate", "--specs", directory, "-o", str(out), "--kernel-version", "6.1"])
    assert generated.code == 0 and " written, " in generated.err, generated
    general = (out / "python" / "vmcoreinfo" / "_general.py").read_text()
    assert "VMCOREINFO_SPEC = None" in general and "    return True\n" in general
    exercise(directory, files, fixture_image, "no common list")
