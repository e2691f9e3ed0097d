"""Injection-proof generation: any string in any spec field either is refused by
`vmci generate` (which validates first: one file:line:col line per problem, exit 1) or
yields C that gcc -fsyntax-only accepts and Python that ast.parse accepts, with the
string present only as an escaped literal or comment.

The specs are the real common list, printk's hook and x86_64 (whose generated C the
stub headers of tests/emit describe). Each example replaces one string field, any
of the ~800 in those files, with arbitrary text or a break-out attempt carrying
the canary INJECTED_CALL: ending a comment (`*/`), a string (`"`, `'''`), a line
(newline, CR, U+2028, a backslash at the end), starting a directive (`#error`), a
trigraph, a Jinja expression. The canary must never reach code: in C it may appear
only inside a string literal, a comment or an #include's header name, in Python only
inside a string or a comment.

Fields that are C by design (`c`, `value`, `when`, `gate`, locals' `init`, a machine's
`config`) are rendered from the parsed expression, so their text reaches the C as code;
for them the C must still compile, except that gcc may not know a name or a function
the expression uses (the stubs declare only the real specs' objects). Names (`name`,
`member`, ...) likewise, when the schema admits them as identifiers.
"""
import ast
import io
import os
import re
import shutil
import sys
import tokenize

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardening_support import LONG, ROOT, have_gcc, run_cli

sys.path.insert(0, os.path.join(ROOT, "tests", "emit"))
from generate_support import config_symbols, syntax_check  # noqa: E402

pytestmark = pytest.mark.skipif(not have_gcc(), reason="gcc is not installed")

EXAMPLES = 2000 if LONG else 400
FILES = {"common.yaml": "specs/common.yaml", "printk.yaml": "specs/printk.yaml",
         "arch/x86_64.yaml": "specs/arch/x86_64.yaml"}
CODE_FIELDS = {"c", "value", "when", "gate", "init", "config"}
CANARY = "INJECTED_CALL"
BREAKOUTS = [
    f"*/ {CANARY}(); /*", f'"); {CANARY}(); ("', f"\n#error {CANARY}\n", f"\n{CANARY}();\n", f"\r#error {CANARY}\r",
    f"'''\n{CANARY}()\n'''", f'"""\n{CANARY}()\n"""', f"\\\n{CANARY}();", f"') + {CANARY}() + ('",
    f"{{{{ {CANARY}() }}}}", f"{{% {CANARY} %}}", f"??/\n{CANARY}();", f"\u2028{CANARY}();\u2029", f"\x00{CANARY}",
    f"\\x22); {CANARY}(); //", f"%n{CANARY}%s", f"#{CANARY}", f"\n.. {CANARY}::\n", f"`{CANARY}`_", f"// {CANARY}\n",
    f"$({CANARY})", f"\\u0022{CANARY}", f"\n\n{CANARY}\n====\n",
]

with open(os.path.join(ROOT, "specs", "common.yaml"), encoding="utf-8") as _handle:
    _COMMON = yaml.safe_load(_handle)


def _documents():
    found = {}
    for name, source in FILES.items():
        with open(os.path.join(ROOT, source), encoding="utf-8") as handle:
            found[name] = yaml.safe_load(handle)
    return found


DOCUMENTS = _documents()


def _string_fields():
    """(file, path) of every string value in the three spec files."""
    found = []

    def walk(node, path, name):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + (key,), name)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path + (index,), name)
        elif isinstance(node, str):
            found.append((name, path))

    for name, document in DOCUMENTS.items():
        walk(document, (), name)
    return found


FIELDS = _string_fields()
# the free-text fields (doc, runtime, repeats) take any text, so they reach the templates
# most often: half of the examples aim at them
TEXT_FIELDS = [f for f in FIELDS if f[1][-1] in ("doc", "runtime", "repeats")]
fields = st.one_of(st.sampled_from(FIELDS), st.sampled_from(TEXT_FIELDS))
payloads = st.one_of(
    st.sampled_from(BREAKOUTS),
    st.text(max_size=40),
    st.tuples(st.text(max_size=10), st.sampled_from(BREAKOUTS), st.text(max_size=10)).map("".join),
)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def write_specs(directory, documents):
    for name, document in documents.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.dump(document, handle, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10 ** 6)
    shutil.copy(os.path.join(ROOT, "specs", "consumers.yaml"), directory)


def files_of(directory):
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = handle.read()
    return found


_C_LITERALS = re.compile(r'''"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|/\*.*?\*/|//[^\n]*|^\s*\#\s*include\s*<[^>\n]*>''',
                         re.S | re.M)


def c_code(text):
    """C text without string and character literals, comments and #include header names."""
    return _C_LITERALS.sub(" ", text)


def python_code_tokens(text):
    return [tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline)
            if tok.type not in (tokenize.STRING, tokenize.COMMENT)]


# gcc errors that say only that a name is unknown to the stub headers
_SEMANTIC = re.compile(r"undeclared|implicit declaration|has no member named|unknown type name|"
                       r"incomplete type|storage size|invalid use of|format '%|makes (pointer|integer)|"
                       r"incompatible|not a function|called object|subscripted value|"
                       r"invalid type argument|request for member|lvalue|redefined|previous definition")


def only_semantic(stderr):
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    return errors and all(_SEMANTIC.search(line) for line in errors)


def test_doc_cannot_become_an_rst_directive(tmp_path):
    import copy

    documents = copy.deepcopy(DOCUMENTS)
    documents["common.yaml"]["functions"][0]["entries"][2]["doc"] = ".. include:: /etc/passwd"
    write_specs(str(tmp_path / "specs"), documents)
    result = run_cli(["generate", "--specs", str(tmp_path / "specs"), "-o", str(tmp_path / "out"),
                      "--kernel-version", "6.1"])
    assert result.code == 0, result
    with open(tmp_path / "out" / "rst" / "vmcoreinfo.rst", encoding="utf-8") as handle:
        text = handle.read()
    assert "\n\\.. include:: /etc/passwd\n" in text
    assert ".. include::" not in "".join(line for line in text.splitlines(keepends=True) if line.startswith(".."))
    paragraphs = rst_paragraphs(text)
    assert ".. include:: /etc/passwd" in paragraphs


def test_comment_opener_in_a_doc_is_not_a_warning(tmp_path):
    import copy

    documents = copy.deepcopy(DOCUMENTS)
    documents["common.yaml"]["functions"][0]["doc"] = "Runs at boot /* see below // and here"
    write_specs(str(tmp_path / "specs"), documents)
    result = run_cli(["generate", "--specs", str(tmp_path / "specs"), "-o", str(tmp_path / "out"),
                      "--kernel-version", "6.1"])
    assert result.code == 0, result
    path = str(tmp_path / "out" / "c" / "6.1" / "kernel" / "crash_core.c")
    with open(path, encoding="utf-8") as handle:
        assert "/* Runs at boot / * see below / / and here */\n" in handle.read()
    status, stderr = syntax_check(path, tmp_path, config_symbols(path))
    assert status == 0, stderr


def rst_paragraphs(text):
    """The text of every paragraph docutils finds, after checking that it reports no
    problem (an unknown directive, malformed markup: a warning or error fails)."""
    import docutils.core
    import docutils.nodes

    document = docutils.core.publish_doctree(text, settings_overrides={
        "report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False})
    # level 1 (INFO) is only "duplicate implicit target name": a key in several sections
    messages = [m.astext() for m in document.findall(docutils.nodes.system_message) if m["level"] > 1]
    assert not messages, messages
    return [p.astext() for p in document.findall(docutils.nodes.paragraph)]


def test_the_generated_reference_is_well_formed_rst():
    with open(os.path.join(ROOT, "generated", "rst", "vmcoreinfo.rst"), encoding="utf-8") as handle:
        paragraphs = rst_paragraphs(handle.read())
    assert "When the kernel crashed (seconds since the epoch)." in paragraphs
    assert len(paragraphs) > 1000


# A doc is one paragraph of plain text between a title and a field list, as in the
# generated reference: whatever it holds, docutils must see exactly that paragraph.
@settings(max_examples=1000 if LONG else 300, deadline=None, database=None, derandomize=not LONG)
@given(st.one_of(st.text(min_size=1), st.sampled_from(BREAKOUTS + [
    ".. include:: /etc/passwd", ".. raw:: html", "- bullet", "* bullet", "+ bullet", "1. one", "#. auto", "(a) b",
    "A. Smith", "i) roman", ">>> doctest", ":field: value", "-o option", "--long option", "| line", "====",
    "-- attribution", "Ends in::", "::", "__ anonymous", ".. _target:", "[1] citation", "`x`_", "|sub|", "\\"])))
def test_rst_filter_keeps_any_text_one_plain_paragraph(value):
    from vmci.emit.render import rst

    plain = " ".join(value.split())
    assume_text = plain and not any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in plain)
    if not assume_text:
        return
    document = f"Title\n=====\n\n{rst(value)}\n\n:Field: x\n"
    assert rst_paragraphs(document) == [plain, "x"]  # the doc, then the field body


def test_c_comment_filter_keeps_any_text_inside_one_warning_free_comment(tmp_path_factory):
    """Every break-out, and 2,000 random strings over the characters that make C comment
    syntax, each inside a /* */ comment: one file, gcc -Wcomment -Werror."""
    import random

    from vmci.emit.render import c_comment, c_string

    generator = random.Random(7)
    values = BREAKOUTS + ["/*", "//", "*/", "/*/", "*//*", "/**/", "a/*b", "a//b", "/", "*"] + [
        "".join(generator.choice("/*\\ \n?x\"'") for _ in range(generator.randint(1, 12))) for _ in range(2000)]

    source = "".join(f"/* {c_comment(v)} */\nstatic const char *s{i} = {c_string(c_comment(v))};\n"
                     for i, v in enumerate(values))
    path = tmp_path_factory.mktemp("comments") / "comments.c"
    path.write_text(source + "int main(void) { return 0; }\n", encoding="utf-8")
    import subprocess

    result = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Wcomment", "-Wno-unused-variable",
                             "-Werror", "-fsyntax-only", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    comments = re.findall(r"/\*(.*?)\*/", source)
    assert len(comments) == len(values)
    assert [c.strip() for c in comments] == [c_comment(v) for v in values]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    directory = tmp_path_factory.mktemp("injection-baseline")
    write_specs(str(directory / "specs"), DOCUMENTS)
    result = run_cli(["generate", "--specs", str(directory / "specs"), "-o", str(directory / "out"),
                      "--kernel-version", "6.1"])
    assert result.code == 0, result
    return files_of(str(directory / "out"))


OUTCOMES = {}
REFUSED_BY_GENERATE = []


def test_any_string_in_any_field(baseline, tmp_path_factory):
    import copy

    assert len(FIELDS) > 700

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not LONG,
              suppress_health_check=list(HealthCheck))
    @given(fields, payloads)
    def case(field, payload):
        name, path = field
        documents = copy.deepcopy(DOCUMENTS)
        node = documents[name]
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = payload
        key = path[-1] if isinstance(path[-1], str) else path[-2]
        code_field = key in CODE_FIELDS or key in ("name", "member", "function", "type", "key")
        work = tmp_path_factory.mktemp("injection")
        specs, out = str(work / "specs"), str(work / "out")
        write_specs(specs, documents)
        result = run_cli(["generate", "--specs", specs, "-o", out, "--kernel-version", "6.1"])
        assert "Traceback" not in result.err, result
        context = f"{name} {'.'.join(map(str, path))} = {payload!r}"
        if result.code != 0:
            assert result.code in (1, 2), f"{context}\n{result}"
            assert not os.path.exists(out) or not os.listdir(out), f"{context}: files written on failure"
            # 1: validation found problems; 2: generate refused what validate passed
            what = "refused" if result.code == 1 else "refused by generate"
            OUTCOMES[what] = OUTCOMES.get(what, 0) + 1
            if result.code == 2:
                REFUSED_BY_GENERATE.append((context, result.err.strip()))
            return
        OUTCOMES["generated"] = OUTCOMES.get("generated", 0) + 1
        generated = files_of(out)
        for relative, data in generated.items():
            text = data.decode("utf-8")
            if relative.endswith(".py"):
                ast.parse(text, relative)
                if not code_field:
                    assert CANARY not in "".join(python_code_tokens(text)), f"{context}: canary in {relative}"
            elif relative.endswith(".c"):
                if not code_field:
                    assert CANARY not in c_code(text), f"{context}: canary in the C of {relative}"
                if data == baseline.get(relative) or "/6.1/" not in "/" + relative and "note" not in relative:
                    continue
                full = os.path.join(out, relative)
                for defines in (config_symbols(full), []):
                    status, stderr = syntax_check(full, work, defines)
                    if status != 0:
                        assert code_field and only_semantic(stderr), f"{context}: {relative} does not compile\n{stderr}"
                        OUTCOMES["unknown names"] = OUTCOMES.get("unknown names", 0) + 1
            elif relative.endswith(".rst") and not code_field:
                for line in text.splitlines():
                    assert not (CANARY in line and line.lstrip().startswith("..")), f"{context}: {line!r}"
        shutil.rmtree(work)

    case()
    print(f"\n{EXAMPLES} injected fields: {OUTCOMES}")
    for context, error in REFUSED_BY_GENERATE[:5]:
        print(f"  validate passed, generate refused: {context}\n    {error}")
    assert sum(OUTCOMES.get(k, 0) for k in ("refused", "refused by generate", "generated")) >= EXAMPLES
