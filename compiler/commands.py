"""Subcommands of the later pipeline stages (generate, note, audit, coverage, diff).

Each stage module exposes `register(subparsers)`, adding its subcommands with
`set_defaults(run=...)`; a run function returns the exit status and raises
cli.UsageError for unusable input.
"""


def register_all(subparsers) -> None:
    import importlib

    for name in ("generate", "audit"):
        try:
            module = importlib.import_module(f"compiler.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"compiler.{name}":
                raise
            continue
        register = getattr(module, "register", None)
        if register is not None:  # a stage still being written has none yet
            register(subparsers)
