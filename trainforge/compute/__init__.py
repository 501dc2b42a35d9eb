"""Compute: the backend protocol and its implementations (local processes; Ray later)."""
