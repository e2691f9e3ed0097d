"""vmci: a declarative spec compiler for the Linux kernel VMCOREINFO."""
