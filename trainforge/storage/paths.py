"""Paths that users give, checked so that they never leave their store or run folder."""

from __future__ import annotations

import posixpath

from trainforge.exceptions import UserErrorException


class UnsafePathError(UserErrorException, ValueError):
    """A user path that is absolute, climbs with '..', or is empty (a user error in the SDK)."""


def safe_relative_path(path: str, field: str = "path") -> str:
    """Normalize ``path`` to a relative POSIX path inside its root, or raise UnsafePathError."""
    candidate = path.replace("\\", "/")
    if not candidate.strip():
        raise UnsafePathError(f"{field}: an empty path is not allowed")
    if candidate.startswith("/") or (len(candidate) > 1 and candidate[1] == ":"):
        raise UnsafePathError(f"{field}: {path!r} is absolute; give a path relative to its root")
    parts = candidate.split("/")
    if ".." in parts:
        raise UnsafePathError(f"{field}: {path!r} climbs out of its root with '..'")
    normalized = posixpath.normpath(candidate)
    if normalized in ("", "."):
        raise UnsafePathError(f"{field}: {path!r} names the root itself, not a file")
    return normalized
