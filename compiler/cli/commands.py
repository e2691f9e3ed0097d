"""Subcommands of the later pipeline stages (generate, note, audit, coverage, diff, show, export).

Each stage module exposes `register(subparsers)`, adding its subcommands with
`set_defaults(run=...)`; a run function returns the exit status and raises
cli.UsageError for unusable input.
"""


def register_all(subparsers) -> None:
    import importlib

    # A missing stage is a broken installation: let its ImportError be reported, never
    # leave a command out of --help without a word.
    for name in ("vmci.emit.generate", "vmci.audit", "vmci.note.show", "vmci.emit.export"):
        module = importlib.import_module(name)
        module.register(subparsers)
