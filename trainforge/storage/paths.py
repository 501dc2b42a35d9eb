"""Paths that users give, checked so that they never leave their store or run folder."""

from __future__ import annotations

import posixpath

from trainforge.exceptions import UserErrorException
from trainforge.schemas.limits import MAX_NAME_PART, MAX_PATH


class UnsafePathError(UserErrorException, ValueError):
    """A user path that is absolute, climbs with '..', or is empty (a user error in the SDK)."""


def safe_relative_path(path: str, field: str = "path") -> str:
    """Normalize ``path`` to a relative POSIX path inside its root, or raise UnsafePathError."""
    candidate = path.replace("\\", "/")
    if not candidate.strip():
        raise UnsafePathError(f"{field}: an empty path is not allowed")
    if "\0" in candidate:
        raise UnsafePathError(f"{field}: a path cannot hold the NUL character")
    try:
        encoded = candidate.encode()
    except UnicodeEncodeError:
        raise UnsafePathError(f"{field}: a path must be valid Unicode text") from None
    if len(encoded) > MAX_PATH:
        raise UnsafePathError(f"{field}: a path takes at most {MAX_PATH} bytes")
    if any(len(part.encode()) > MAX_NAME_PART for part in candidate.split("/")):
        raise UnsafePathError(
            f"{field}: each folder or file name in a path takes at most {MAX_NAME_PART} bytes"
        )
    if candidate.startswith("/") or (len(candidate) > 1 and candidate[1] == ":"):
        raise UnsafePathError(f"{field}: {path!r} is absolute; give a path relative to its root")
    parts = candidate.split("/")
    if ".." in parts:
        raise UnsafePathError(f"{field}: {path!r} climbs out of its root with '..'")
    normalized = posixpath.normpath(candidate)
    if normalized in ("", "."):
        raise UnsafePathError(f"{field}: {path!r} names the root itself, not a file")
    return normalized
