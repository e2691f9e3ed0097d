"""A `vmci resolve` or `vmci coverage` run again with nothing changed: what it printed,
replayed.

The answers of a resolve already come from caches (the per-vmlinux cache, elf/cache.py;
the spec cache, spec/load.py), yet a warm run still spent nine tenths of its time
importing the model, the ELF reader and the resolver to put them together. So the command
line remembers what a resolve printed (standard output or the -o text, each line on
standard error, in order, and the exit status), keyed by every input it depends on, and a
later run with the same key prints the same bytes without importing any of them:

- vmci's code and schema and every spec file's contents, where they are shown from
  (spec/digest.py: the spec cache's own key);
- the config file's contents (SHA-256), or none: the config the image embeds;
- the vmlinux's stat fingerprint (device, inode, size, mtime, ctime), the trust the
  per-vmlinux cache gives a file it recorded (rewriting a file changes its ctime);
- the working directory (messages name files relative to it), the Python version, and
  every option but where the output goes (-o) and --no-cache.

`vmci coverage` is a function of the specs alone, so its key is the first and the last of
these; its output (1.2 MB of JSON for the shipped specs) then costs a file read instead of
a model, 14 machines x 16 config variants of emission walks and the rendering.

Nothing is remembered with --no-cache, for standard input (`-`), for an input that is no
regular file, or when an input changed while the resolve ran; errors (exit 2, spec
problems) are not remembered either: they are told again by running again. A memo is one
JSON file, `COMMAND-<32 hex>.json` in the cache directory, written atomically; one that is
damaged, planted, foreign or of another key is ignored (and replaced by the next resolve
with that name). At most MAX_MEMOS[command] of each command are kept, the least recently
written go first.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from typing import Any, Callable, List, Optional

# memos of one command kept in the cache directory: a resolve memo is a few kB; a coverage
# memo of the JSON report is 1.2 MB, and the last few spec states are the ones run again
MAX_MEMOS = {"resolve": 64, "coverage": 8}
MAX_MEMO_BYTES = 64 << 20
# the options that change not what a command prints but where it goes or what it may cache
_NOT_KEYED = frozenset({"output", "no_cache", "run"})
_KINDS = ("stderr", "output")


class Transcript:
    """What a command says, each part said at once and remembered in order: lines on
    standard error, and the output text (standard output or -o)."""

    def __init__(self, output: Optional[str]):
        self.output = output
        self.said: List[List[str]] = []  # [kind, text]

    def line(self, text: str) -> None:
        print(text, file=sys.stderr)
        self.said.append(["stderr", text])

    def write(self, text: str) -> None:
        from vmci.cli.options import write
        write(self.output, text)
        self.said.append(["output", text])


def remembered(command: str, key_of: Callable[[Any], Optional[str]], args: Any,
               run: Callable[[Transcript], int]) -> int:
    """Run `command` through its memo: what it said before, said again, when `key_of(args)`
    (every input as it is now) has a memo; else `run` it, saying through a Transcript,
    and remember what it said when no input changed while it ran."""
    from vmci.resources import default_cache_dir

    key = key_of(args)
    code = None if key is None else replay(default_cache_dir(), command, key, args.output)
    if code is not None:
        return code
    transcript = Transcript(args.output)
    code = run(transcript)
    if key is not None and key_of(args) == key:
        remember(default_cache_dir(), command, key, transcript, code)
    return code


def resolve_key(args: Any) -> Optional[str]:
    """The SHA-256 of every input of `vmci resolve ARGS` as they are now; None when this
    resolve is not to be remembered."""
    from vmci.files.inputs import STDIN, regular_file_sha256

    if args.no_cache or STDIN in (args.vmlinux, args.config):
        return None
    try:
        vmlinux = os.stat(args.vmlinux)
    except OSError:  # told by the resolve itself
        return None
    config = None if args.config is None else regular_file_sha256(args.config)  # a FIFO: not remembered
    if not stat.S_ISREG(vmlinux.st_mode) or (args.config is not None and config is None):
        return None
    # the fields of elf/cache.py fingerprint() (vmci.elf is not imported here: it is the
    # ELF reader, most of what a remembered resolve saves importing)
    identity = [vmlinux.st_dev, vmlinux.st_ino, vmlinux.st_size, vmlinux.st_mtime_ns, vmlinux.st_ctime_ns]
    return command_key("resolve", args, [identity, config])


def coverage_key(args: Any) -> Optional[str]:
    """The SHA-256 of every input of `vmci coverage ARGS`: the specs alone (coverage is a
    function of the model); None for the HTML page, whose links depend on where it is
    written."""
    if args.format == "html":
        return None
    return command_key("coverage", args, [])


def command_key(command: str, args: Any, inputs: List[Any]) -> Optional[str]:
    """The SHA-256 of what a command's output depends on: vmci's code, schema and specs
    (spec/digest.py: the spec cache's own key), the working directory (messages name files
    relative to it), the Python version, every option but where the output goes and
    --no-cache, and the command's other `inputs`; None when it is not to be remembered."""
    from vmci.errors import UnusableInput
    from vmci.resources import specs_dir
    from vmci.spec.digest import current_specs_key

    if getattr(args, "no_cache", False):
        return None
    try:
        specs = current_specs_key(args.specs or specs_dir())
        cwd = os.getcwd()
    except (OSError, UnusableInput):  # told by the command itself
        return None
    if specs is None:
        return None
    options = {name: value for name, value in vars(args).items() if name not in _NOT_KEYED}
    try:
        text = json.dumps([_format(command), sys.version, cwd, specs, inputs, options], sort_keys=True)
    except (TypeError, ValueError):  # an option whose value JSON cannot hold: not remembered
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _format(command: str) -> str:
    return f"vmci-{command}-memo/1"


def _memo_path(cache_dir: str, command: str, key: str) -> str:
    return os.path.join(cache_dir, f"{command}-{key[:32]}.json")


def replay(cache_dir: str, command: str, key: str, output: Optional[str]) -> Optional[int]:
    """Say again what the run of `command` with `key` said, and give its exit status; None (nothing
    said) when no sound memo of `key` is there."""
    from vmci.files.inputs import NotRegularFile, open_regular

    try:
        with open_regular(_memo_path(cache_dir, command, key)) as handle:
            document = json.loads(handle.read(MAX_MEMO_BYTES + 1))
    except (OSError, ValueError, RecursionError, NotRegularFile):
        return None
    if not (isinstance(document, dict) and document.get("format") == _format(command) and document.get("key") == key):
        return None
    code, said = document.get("exit"), document.get("said")
    if type(code) is not int or code not in (0, 1) or not isinstance(said, list) or \
            not all(isinstance(part, list) and len(part) == 2 and part[0] in _KINDS and isinstance(part[1], str)
                    for part in said):
        return None
    transcript = Transcript(output)
    for kind, text in said:
        transcript.line(text) if kind == "stderr" else transcript.write(text)
    return code


def remember(cache_dir: str, command: str, key: str, transcript: Transcript, code: int) -> None:
    """Keep what a run of `command` said under `key`; a cache that cannot be written is no reason
    to fail."""
    from vmci.files.output import forget_oldest, write_atomically

    document = {"format": _format(command), "key": key, "exit": code, "said": transcript.said}
    path = _memo_path(cache_dir, command, key)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        new = not os.path.lexists(path)
        write_atomically(path, json.dumps(document, separators=(",", ":")).encode("ascii"))
        if new:
            forget_oldest(cache_dir, rf"{command}-[0-9a-f]{{32}}\.json", MAX_MEMOS[command])
    except (OSError, ValueError):
        pass
