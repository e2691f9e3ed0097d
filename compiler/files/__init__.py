"""Files vmci reads and writes: inputs that are only ever regular files (or stdin), outputs
written whole or not at all."""
