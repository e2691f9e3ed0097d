"""vmci: a declarative spec compiler for the Linux kernel VMCOREINFO."""

__version__ = "0.2.0"
