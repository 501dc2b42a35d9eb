"""Typed REST resources: one module per resource, each owning its paths."""
