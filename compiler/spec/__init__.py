"""The spec stage: YAML with source positions, the JSON Schema, the typed model, lint, and the
loader that runs them over a specs directory."""
