"""The VMCOREINFO ELF note: building it, reading it back from whatever file holds it, showing it."""
