"""The command-line layer: argument parsing, one command per stage, exit codes. Nothing
else in vmci imports it."""
