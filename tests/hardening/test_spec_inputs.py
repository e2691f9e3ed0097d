"""Regression tests for spec inputs the fuzzers found: one located line each, no traceback."""
import os

from hardening_support import FIXTURE_SPECS, check_validate, run_cli

with open(os.path.join(FIXTURE_SPECS, "common.yaml"), encoding="utf-8") as handle:
    COMMON = handle.read()


def validate_text(tmp_path, text, name="x.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = run_cli(["validate", str(tmp_path)])
    check_validate(result, [str(path)])
    return result, str(path)


def test_control_character_is_one_line_at_its_place(tmp_path):
    text = "# é\n" + COMMON.replace("emitter: common", "emitter: co\u00e9\x00mon")
    line = text[:text.index("\x00")].count("\n") + 1
    col = text.index("\x00") - text.rindex("\n", 0, text.index("\x00"))
    result, path = validate_text(tmp_path, text)
    assert result.code == 1
    assert result.out == f"{path}:{line}:{col}: error: YAML syntax: control characters are not allowed " \
                         f"(character #x0000)\n"


def test_version_with_thousands_of_digits(tmp_path):
    """Python refuses int() of more than 4,300 digits; the spec gets a located error."""
    text = COMMON.replace('since: "6.1"', 'since: "' + "9" * 5000 + '.1"', 1)
    result, path = validate_text(tmp_path, text)
    assert result.code == 1
    line = text[:text.index("9" * 5000)].count("\n") + 1
    assert result.out.startswith(f"{path}:{line}:8: error: since: '999"), result.out
    assert "is not a kernel version" in result.out


def test_trailing_newline_does_not_satisfy_a_pattern(tmp_path):
    """JSON Schema patterns are ECMA-262, where `$` is the end of the text; Python's `$`
    also matches before a final newline, which let a name end in one and reach the
    generated C and Python (a key or identifier split over two lines)."""
    text = COMMON.replace("name: init_uts_ns\n", 'name: "init_uts_ns\\n"\n', 1) \
                 .replace("key: NUMBER(zone_levels)", 'key: "NUMBER(zone_levels)\\n"')
    result, path = validate_text(tmp_path, text)
    assert result.code == 1
    assert "'init_uts_ns\\n' does not match ^[A-Za-z_][A-Za-z0-9_]*$" in result.out
    assert "'NUMBER(zone_levels)\\n' does not match" in result.out


def test_line_numbers_count_newlines_only(tmp_path):
    """YAML also breaks lines at U+2028, U+2029 and U+0085; editors, grep -n and sed -n
    do not, so a place must be counted in newlines."""
    text = "# comments that end in a line separator\u2028\n# and a next-line\u0085\n" + \
        COMMON.replace("emitter: common", "emitter: common\nunknown_field: 1")
    result, path = validate_text(tmp_path, text)
    line = text[:text.index("unknown_field")].count("\n") + 1
    assert result.out.startswith(f"{path}:{line}:1: error: unknown field 'unknown_field'"), result.out
    result, path = validate_text(tmp_path, text.replace("unknown_field: 1", "anchored: &a 1"))
    assert result.out.startswith(f"{path}:{line}:11: error: YAML anchors"), result.out


def test_long_operator_chain_is_refused_before_it_reaches_a_recursive_walker(tmp_path):
    """`1+1+...+1` (499 terms, under the 1,000-character limit) is a tree 498 levels deep;
    cexpr.to_c() recursed twice per level and blew Python's stack in `vmci generate`."""
    from vmci.lang import cexpr

    chain = "+".join(["1"] * 499)
    text = COMMON.replace("c: NR_PAGE_ORDERS", f"c: {chain}", 1)
    result, path = validate_text(tmp_path, text)
    assert result.code == 1
    assert "expression nested deeper than" in result.out
    deepest = "+".join(["1"] * cexpr.MAX_TREE_DEPTH)  # a leaf and 199 operators: 200 levels
    assert cexpr.to_c(cexpr.parse_expression(deepest)).count("+") == cexpr.MAX_TREE_DEPTH - 1


def test_source_and_include_paths_stay_inside_the_kernel_tree(tmp_path):
    """A source file is a kernel-tree path by the schema's pattern (no `..`, no empty
    part); the includes' pattern admits them, so validate names those itself: `vmci
    generate` would write outside its output directory (it refuses)."""
    text = COMMON.replace("  - file: kernel/crash_core.c\n",
                          "  - file: ../../../tmp/escaped.c\n    includes: [linux/../../x.h, linux//y.h]\n", 1)
    result, path = validate_text(tmp_path, text)
    assert result.code == 1
    assert "sources[0].file: '../../../tmp/escaped.c' does not match" in result.out
    text = COMMON.replace("  - file: kernel/crash_core.c\n",
                          "  - file: kernel/crash_core.c\n    includes: [linux/../../x.h, linux//y.h]\n", 1)
    result, path = validate_text(tmp_path, text)
    assert result.code == 1
    assert "sources[0].includes[0]: 'linux/../../x.h' is not a path inside a kernel tree" in result.out
    assert "sources[0].includes[1]: 'linux//y.h' is not a path inside a kernel tree" in result.out


def test_control_characters_written_as_escapes_are_refused(tmp_path):
    """YAML refuses raw control characters but makes them from escapes ("\\0", "\\e",
    "\\x85", "\\L"); in a doc string a NUL reached the generated Python, which then did
    not parse. Newlines and tabs (literal and folded blocks) stay allowed."""
    for escape, code in (("\\0", "U+0000"), ("\\e", "U+001B"), ("\\x7f", "U+007F"), ("\\N", "U+0085"),
                         ("\\L", "U+2028"), ("\\P", "U+2029"), ("\\r", "U+000D")):
        text = COMMON.replace("doc: The hardening fixture's common list.", f'doc: "The list{escape}."')
        result, path = validate_text(tmp_path, text)
        assert result.code == 1, result
        assert f"{path}:8:6: error: control character {code} in a string" in result.out, result.out
    text = COMMON.replace("doc: The hardening fixture's common list.", 'doc: "two\\n\\tlines"')
    assert validate_text(tmp_path, text)[0].code == 0


def test_a_function_that_calls_itself(tmp_path):
    """validate names the cycle; list and resolve (which do not run the lints) name the
    call that goes too deep, file and line."""
    text = COMMON.replace("        function: arch_crash_save_vmcoreinfo\n",
                          "        function: crash_save_vmcoreinfo_init\n", 1)
    (tmp_path / "arch").mkdir()
    with open(os.path.join(FIXTURE_SPECS, "arch", "x86_64.yaml"), encoding="utf-8") as handle:
        (tmp_path / "arch" / "x86_64.yaml").write_text(handle.read(), encoding="utf-8")
    result, path = validate_text(tmp_path, text, name="common.yaml")
    line = text[:text.index("function: crash_save_vmcoreinfo_init")].count("\n")  # the entry's `- kind: call`
    assert f"{path}:{line}:9: error: call to crash_save_vmcoreinfo_init() makes a cycle: " \
           f"crash_save_vmcoreinfo_init() -> crash_save_vmcoreinfo_init()" in result.out, result.out
    listed = run_cli(["list", "--specs", str(tmp_path), "--arch", "x86", "--kernel-version", "6.1"])
    assert listed.code == 2 and listed.err.startswith(f"vmci list: {path}:{line}: calls nest deeper than 8 levels"), \
        listed
