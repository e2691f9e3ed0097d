"""The pieces of `audit source` on small inputs: the C scanner, Kbuild gates, Kconfig
rules and the condition comparison."""
from vmci.audit.csource import scan_c_file
from vmci.audit.kbuild import Kbuild
from vmci.audit.kconfig_rules import KconfigTree, translate
from vmci.audit.logic import differing_config, where_they_differ
from vmci.lang.condition import Condition


def conditions(text):
    return [(e.macro, e.args, str(e.condition)) for e in scan_c_file("f.c", text).emissions]


def test_nested_elif_else_and_opaque_conditions():
    text = """
void f(void)
{
#if defined(CONFIG_A) && !defined CONFIG_B
    VMCOREINFO_SYMBOL(a);
#elif IS_ENABLED(CONFIG_C)
    VMCOREINFO_SYMBOL(c);
#  ifdef __powerpc64__
    VMCOREINFO_SYMBOL(ppc);
#  endif
#else
    VMCOREINFO_SYMBOL(other);
#endif
}
"""
    assert conditions(text) == [
        ("VMCOREINFO_SYMBOL", ["a"], "CONFIG_A && !CONFIG_B"),
        ("VMCOREINFO_SYMBOL", ["c"], "!(CONFIG_A && !CONFIG_B) && IS_ENABLED(CONFIG_C)"),
        ("VMCOREINFO_SYMBOL", ["ppc"], "!(CONFIG_A && !CONFIG_B) && IS_ENABLED(CONFIG_C) && <#ifdef __powerpc64__>"),
        ("VMCOREINFO_SYMBOL", ["other"], "!(CONFIG_A && !CONFIG_B) && !IS_ENABLED(CONFIG_C)"),
    ]


def test_append_format_from_concatenated_literals_and_nested_arguments():
    text = 'void g(void) {\n  vmcoreinfo_append_str("NUMBER(X)" "=0x%lx\\n",\n      f(a, (b, c)) + 1);\n}\n'
    [emission] = scan_c_file("g.c", text).emissions
    assert emission.literal == "NUMBER(X)=0x%lx\n"
    assert emission.args[1] == "f(a, (b, c)) + 1"
    assert (emission.function, emission.line) == ("g", 2)


def test_file_scope_initialisers_are_not_functions():
    text = "static struct s x = { .f = 1 };\nint __init h(void)\n{\n  VMCOREINFO_NUMBER(N);\n}\n"
    [emission] = scan_c_file("h.c", text).emissions
    assert emission.function == "h"


def kbuild(files):
    return Kbuild(files.get)


def test_gate_through_subst_ifneq_and_directories():
    files = {
        "drivers/Makefile": "obj-$(CONFIG_DRV) += x/\n",
        "drivers/x/Makefile": "ifneq ($(CONFIG_Y),)\nobj-$(subst m,y,$(CONFIG_Z)) += a.o\nendif\n",
    }
    gate = kbuild(files).gate("drivers/x/a.c")
    assert str(gate.condition) == "IS_ENABLED(CONFIG_Z) && IS_ENABLED(CONFIG_Y) && CONFIG_DRV"
    assert gate.places == ["drivers/x/Makefile:2", "drivers/Makefile:1"] and gate.unknown == []


def test_an_object_no_makefile_names_is_reported():
    gate = kbuild({"kernel/Makefile": "obj-y += other.o\n"}).gate("kernel/missing.c")
    assert gate.unknown == ["kernel/Makefile: missing.o is not in any obj- line"]


def test_kconfig_translation_is_exact_only_without_negated_tristates():
    types = {"A": "bool", "T": "tristate"}
    assert translate("A && !B", types) == ("(CONFIG_A && !CONFIG_B)", False)  # B's type unknown
    assert translate("!A || T", types) == ("(!CONFIG_A || CONFIG_T)", True)
    assert translate("T = n", types) == ("!IS_ENABLED(CONFIG_T)", True)
    assert translate('A = "x"', types) is None
    assert translate("$(cc-option,-m64)", types) is None


def test_kconfig_rules_from_a_small_tree():
    files = {
        "Kconfig": 'source "arch/$(SRCARCH)/Kconfig"\nsource "lib/Kconfig"\n',
        "arch/toy/Kconfig": "config TOY\n\tdef_bool y\n\tselect HAS_THING\n",
        "lib/Kconfig": ("config HAS_THING\n\tbool\n\nconfig THING\n\tbool \"thing\"\n\tdepends on HAS_THING\n"
                        "\thelp\n\t  config FAKE in help text\n\nchoice\n\tprompt \"model\"\nconfig ONE\n\tbool \"1\"\n"
                        "config TWO\n\tbool \"2\"\nendchoice\n"),
    }
    tree = KconfigTree(files.get, list(files))
    rules = tree.rules("toy")
    assert rules.always >= {"CONFIG_TOY", "CONFIG_HAS_THING"}
    assert "CONFIG_FAKE" not in rules.defined
    thing = Condition.parse("CONFIG_THING")
    # THING needs HAS_THING, which TOY always selects: no difference on toy
    assert differing_config(thing & Condition.parse("CONFIG_HAS_THING"), thing, rules=rules) is None
    assert differing_config(Condition.parse("CONFIG_ONE && CONFIG_TWO"), Condition.parse("0"), rules=rules) is None
    assert differing_config(Condition.parse("CONFIG_ONE"), Condition.parse("!CONFIG_TWO"), rules=rules) == \
        {"CONFIG_ONE": None, "CONFIG_TWO": None}
    # a symbol this architecture never declares is never set
    assert differing_config(Condition.parse("CONFIG_PPC64 && CONFIG_THING"), Condition.parse("0"), rules=rules) is None


def _kconfig_rules_seen(rules):
    return {symbol: [rule.text for rule in rules.rules_about(symbol)] for symbol in sorted(rules.defined)}, \
        sorted(rules.always)


def test_kconfig_walks_shared_between_architectures_match_a_fresh_walk():
    # lib/Kconfig is the same for every arch; lib/Kconfig.arch reads $(SRCARCH) below it,
    # lib/Kconfig.dep is sourced under an `if`, lib/Kconfig.opt inside a choice on a only
    files = {
        "Kconfig": ('source "arch/$(SRCARCH)/Kconfig"\nsource "lib/Kconfig"\nsource "lib/Kconfig.arch"\n'
                    'if ONE\nsource "lib/Kconfig.dep"\nendif\n'),
        "arch/a/Kconfig": ('config ONE\n\tdef_bool y\nchoice\n\tprompt "pick"\nconfig A_PICK\n\tbool "a"\n'
                           'source "lib/Kconfig.opt"\nendchoice\n'),
        "arch/b/Kconfig": 'config ONE\n\tbool "one"\nsource "lib/Kconfig.dep"\nsource "lib/Kconfig.opt"\n',
        "arch/a/Kconfig.lib": "config LIB_ARCH\n\tbool\n\tselect SHARED\n",
        "arch/b/Kconfig.lib": "config LIB_ARCH\n\tbool\n\tdepends on ONE\n",
        "lib/Kconfig": 'config SHARED\n\tbool "shared"\n\tdepends on ONE\n',
        "lib/Kconfig.arch": 'source "arch/$(SRCARCH)/Kconfig.lib"\n',
        "lib/Kconfig.dep": 'config DEP\n\tbool "dep"\n',
        "lib/Kconfig.opt": 'config OPT\n\tbool "opt"\n',
    }
    fresh = {arch: _kconfig_rules_seen(KconfigTree(files.get, list(files)).rules(arch)) for arch in ("a", "b")}
    for order in (("a", "b"), ("b", "a")):
        shared = KconfigTree(files.get, list(files))
        assert {arch: _kconfig_rules_seen(shared.rules(arch)) for arch in order} == fresh
    a_rules, b_rules = fresh["a"][0], fresh["b"][0]
    assert b_rules["CONFIG_LIB_ARCH"] == ["!CONFIG_LIB_ARCH || (CONFIG_ONE)"]
    assert a_rules["CONFIG_LIB_ARCH"] == ["!CONFIG_LIB_ARCH || CONFIG_SHARED"]
    assert a_rules["CONFIG_OPT"] == ["!(CONFIG_A_PICK && CONFIG_OPT)"] and b_rules["CONFIG_OPT"] == []
    # DEP under `if ONE` on both, and once more without it on b
    assert a_rules["CONFIG_DEP"] == ["!CONFIG_DEP || (CONFIG_ONE)"]
    assert b_rules["CONFIG_DEP"] == []


def test_comparisons_and_modules():
    levels = Condition.parse("CONFIG_PGTABLE_LEVELS == 3")
    assert where_they_differ(levels, Condition.parse("!(CONFIG_PGTABLE_LEVELS != 3)")) is None
    assert where_they_differ(levels, Condition.parse("CONFIG_PGTABLE_LEVELS < 4")) is not None
    # IS_ENABLED is true for =m, a plain CONFIG_X only for =y
    example = where_they_differ(Condition.parse("IS_ENABLED(CONFIG_M)"), Condition.parse("CONFIG_M"))
    assert example == {"CONFIG_M": "m"}


def test_tar_header_numbers_and_checksum_sum():
    from vmci.audit.tree import _byte_sum, _octal
    assert _octal(b"0000644\0") == 0o644
    assert _octal(b" 12 \0anything") == 0o12  # what follows the NUL does not count
    assert _octal(b"00000001750") == 0o1750  # no terminator at all
    assert _octal(b"\0\0\0 \0\0\0\0") == 0  # empty: zero, as tar reads it
    assert _octal(b"12 34\0\0\0") is None and _octal(b"0128\0\0\0\0") is None and _octal(b"+12\0") is None
    assert _octal(b"0" * 23 + b"\0") is None  # more digits than a 12-byte field holds twice over
    assert _octal(b"\x80" + bytes(10) + b"\x05") == 5 and _octal(b"\xc0" + bytes(10) + b"\x05") == -5
    for block in (bytes(512), b"\xff" * 512, bytes(range(256)) * 2, b"ustar\0" * 85 + b"00"):
        assert _byte_sum(block) == sum(block)


def test_a_member_over_many_pieces_is_kept_exactly_when_a_marker_is_in_it():
    from vmci.audit.tree import _Reader
    markers = (b"VMCOREINFO_", b"vmcoreinfo_append_str")
    text = b"x" * 40 + b"  VMCOREINFO_PAGESIZE(x); vmcoreinfo_append_str(y);  " + b"y" * 40
    for cut in range(len(text) + 1):  # the marker at every place relative to the pieces
        for piece_size in (1, 3, 7, 11, 64):
            member = text[cut:cut + 30]
            expected = member if any(marker in member for marker in markers) else None
            data = b"head" + member + b"tail"
            pieces = iter([data[i:i + piece_size] for i in range(0, len(data), piece_size)])
            reader = _Reader(pieces)
            assert reader.read(4) == b"head"
            assert reader.read_mentioning(len(member), markers) == (expected, len(member)), (cut, piece_size)
            assert reader.read(4) == b"tail" and reader.offset == len(data)
    # the stream ends inside the member: what there was, and how much
    reader = _Reader(iter([b"VMCORE", b"INFO_"]))
    assert reader.read_mentioning(20, markers) == (b"VMCOREINFO_", 11)
