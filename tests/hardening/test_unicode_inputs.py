"""Unicode and terminal classes of hostile text (issue 14, item 10): direction controls in
spec strings, links with schemes docutils makes live, escape sequences in names that
vmci echoes, and spec file names that are not UTF-8."""
import os
import random
import shutil
import unicodedata

import pytest

from hardening_support import FIXTURE_SPECS, check_validate, run_cli
from test_bounds import COMMON, specs_dir

from vmci.emit.render import rst

DIRECTION_CONTROLS = [chr(c) for c in list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))]
ESCAPES = ["\x1b[2J", "\x1b]0;owned\x07", "\x9b31m", "\r", "\x08"]


@pytest.mark.parametrize("control", DIRECTION_CONTROLS)
def test_direction_controls_in_spec_strings_are_refused_where_they_stand(tmp_path, control):
    common = COMMON.replace("        doc: The release.\n", f"        doc: The {control}release.\n", 1)
    files = specs_dir(tmp_path, common)
    result = run_cli(["validate", str(tmp_path)])
    check_validate(result, files)
    line = common[:common.index(control)].count("\n") + 1
    column = common.index(control) - common.rindex("\n", 0, common.index(control))
    assert f"common.yaml:{line}:{column}: error: Unicode direction control U+{ord(control):04X}" in result.out
    generated = run_cli(["generate", "--specs", str(tmp_path), "-o", str(tmp_path / "out")])
    assert generated.code == 1 and "nothing generated" in generated.err
    assert not (tmp_path / "out").exists() or not any(os.scandir(tmp_path / "out"))


def test_escaped_direction_controls_are_refused_at_their_scalar(tmp_path):
    common = COMMON.replace("        doc: The release.\n", '        doc: "The \\u2067release."\n', 1)
    files = specs_dir(tmp_path, common)
    result = run_cli(["validate", str(tmp_path)])
    check_validate(result, files)
    line = common[:common.index('"The \\u2067')].count("\n") + 1
    assert f"common.yaml:{line}:14: error: Unicode direction control U+2067" in result.out


def test_a_fuzz_of_format_and_control_characters_in_docs(tmp_path):
    """Every character of the classes that change how text displays (Cc, Cf, Zl, Zp), in
    a doc string: refused with a located error, or generated into C that gcc accepts
    with -Werror=bidi-chars (tested in test_injection) and rst without it."""
    rng = random.Random(10)
    classes = [c for c in map(chr, range(0x110000)) if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    for index, character in enumerate(rng.sample(classes, 60) + DIRECTION_CONTROLS):
        directory = tmp_path / str(index)
        directory.mkdir()
        escaped = character.encode("unicode_escape").decode("ascii").replace("\\x", "\\x")
        common = COMMON.replace("        doc: The release.\n", f'        doc: "The {escaped} release."\n', 1)
        files = specs_dir(directory, common)
        result = run_cli(["validate", str(directory)])
        check_validate(result, files)
        if unicodedata.category(character) in ("Cc", "Zl", "Zp") and character not in "\t\n" or \
                character in DIRECTION_CONTROLS:
            assert result.code == 1, f"U+{ord(character):04X} accepted: {result}"
        if result.code == 0:
            generated = run_cli(["generate", "--specs", str(directory), "-o", str(directory / "out")])
            assert generated.code == 0, str(generated)
            for root, _, names in os.walk(directory / "out"):
                for name in names:
                    text = open(os.path.join(root, name), encoding="utf-8").read()
                    assert not any(c in text for c in DIRECTION_CONTROLS), name


@pytest.mark.parametrize("link", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=",
                                  "vbscript:msgbox", "file:///etc/passwd"])
def test_links_with_other_schemes_are_not_live_in_rst(link):
    docutils_core = pytest.importorskip("docutils.core")
    html = docutils_core.publish_string(f"See {rst(link)} here.", writer_name="html",
                                        settings_overrides={"report_level": 5}).decode()
    assert "<a " not in html.split("<body>", 1)[1], html
    live = docutils_core.publish_string(f"See {rst('https://git.kernel.org/')} here.", writer_name="html",
                                        settings_overrides={"report_level": 5}).decode()
    assert '<a class="reference external" href="https://git.kernel.org/">' in live


@pytest.mark.parametrize("escape", ESCAPES)
def test_escape_sequences_in_echoed_names_reach_no_terminal(tmp_path, escape):
    name = str(tmp_path / f"in{escape}put.txt")
    results = [run_cli(["note", "--from", name, "-o", str(tmp_path / "n")]),
               run_cli(["audit", "source", name]),
               run_cli(["generate", "--specs", str(tmp_path / f"sp{escape}ecs"), "-o", str(tmp_path / "o")]),
               run_cli(["coverage", "--specs", str(tmp_path / f"sp{escape}ecs")])]
    for result in results:
        assert result.code in (1, 2), str(result)
        assert escape not in result.out + result.err, str(result)
        assert escape.encode("unicode_escape").decode("ascii") in result.out + result.err, str(result)


def test_a_spec_file_name_that_is_not_utf8(tmp_path):
    directory = tmp_path / "specs"
    shutil.copytree(FIXTURE_SPECS, directory)
    bad = os.path.join(os.fsencode(directory / "arch"), b"x86_64\xff.yaml")
    os.rename(directory / "arch" / "x86_64.yaml", bad)
    result = run_cli(["validate", str(directory)])
    assert result.code == 1, str(result)
    assert f"{directory}/arch/x86_64\\xff.yaml:1:1: error: the file name is not valid UTF-8" in result.out
    generated = run_cli(["generate", "--specs", str(directory), "-o", str(tmp_path / "out")])
    assert generated.code == 1 and "nothing generated" in generated.err, str(generated)
    assert not (tmp_path / "out").exists()
