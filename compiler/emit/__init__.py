"""The emit stage: every file the specs produce (kernel C, Python, rst, the export), rendered
through one Jinja2 environment, and the manifest of what generate owns."""
