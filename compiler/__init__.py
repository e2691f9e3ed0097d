"""vmci: a declarative spec compiler for the Linux kernel VMCOREINFO.

The Python API (docs/api.md) is vmci.api, whose names are also reachable here:
`vmci.load_specs()`, `vmci.select_entries()`, `vmci.resolve_vmlinux()`, `vmci.build_note()`,
`vmci.read_note()`, `vmci.open_image()`. They are imported on first use, so that
`import vmci` stays cheap. The generated VMCOREINFO generator is `vmci.vmcoreinfo`.
"""

__version__ = "0.2.0"

_API = ("VmciError", "SpecPlace", "Entry", "Line", "Resolution", "Note", "Image", "KernelConfig", "SpecSet",
        "load_specs", "select_entries", "resolve_vmlinux", "build_note", "build_elf_core", "read_note", "open_image")

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        from vmci import api
        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
