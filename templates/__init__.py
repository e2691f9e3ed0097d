"""The Jinja2 templates, shipped as package data (`vmci.templates`); see compiler/resources.py."""
