"""The resolve stage: the selected entries' values, computed from one vmlinux and its config."""
