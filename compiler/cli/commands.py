"""Subcommands of the later pipeline stages (generate, note, audit, coverage, diff, show, export).

Each stage module exposes `register(subparsers)`, adding its subcommands with
`set_defaults(run=...)`; a run function returns the exit status and raises
cli.UsageError for unusable input.
"""


# The module that registers each command. A command line that names one of them
# imports that module only (its stage and libraries load when the command runs); any
# other (--help, no command, a typo) registers them all.
STAGE_OF_COMMAND = {
    "generate": "vmci.emit.generate", "note": "vmci.emit.generate",
    "audit": "vmci.audit", "coverage": "vmci.audit", "diff": "vmci.audit",
    "show": "vmci.note.show", "export": "vmci.emit.export",
}
STAGES = ("vmci.emit.generate", "vmci.audit", "vmci.note.show", "vmci.emit.export")


def register_all(subparsers, command=None) -> None:
    import importlib

    # A missing stage is a broken installation: let its ImportError be reported, never
    # leave a command out of --help without a word.
    stage = STAGE_OF_COMMAND.get(command) if command else None
    for name in (stage,) if stage else STAGES:
        module = importlib.import_module(name)
        module.register(subparsers)
