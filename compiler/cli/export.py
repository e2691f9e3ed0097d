"""`vmci export`: the whole entry database as JSON or CSV, for other tools (emit/export.py)."""
from __future__ import annotations

import argparse

from vmci.cli.options import OUTPUT, SPECS, Command, option, write
from vmci.emit.export import CSV_COLUMNS

EXIT_OK = 0


def cmd_export(args: argparse.Namespace) -> int:
    from vmci.emit.export import export_records, render_csv, render_json
    from vmci.spec.load import load_valid_specs

    specs = load_valid_specs(args.specs)
    records = export_records(specs)
    write(args.output, render_csv(records) if args.format == "csv" else render_json(specs, records))
    return EXIT_OK


EXPORT = Command(
    "export", help="the whole entry database as JSON or CSV, for other tools",
    description="Write every spec entry that puts a line into VMCOREINFO: key, kind, value format, kernel "
                "versions (since, until: the first version without it), architecture and machines, Kconfig "
                "condition, the kernel files that emit it with their Kbuild gates, the function and phase, the "
                "runtime reason of a value fixed at boot, the dump tools that read it (specs/consumers.yaml) "
                "and its spec file:line relative to the specs directory. JSON is vmci-export/1; CSV has the "
                "header " + ",".join(CSV_COLUMNS) + ". See docs/export.md.",
    options=(option("--format", choices=("json", "csv"), default="json"), OUTPUT, SPECS),
    run=cmd_export)
