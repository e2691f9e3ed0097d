"""The embedded spec files, shipped as package data (`vmci.specs`); see compiler/resources.py."""
