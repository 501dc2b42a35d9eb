"""The server's home: private to the server's user whatever was there before.

The home holds the admin token (``server.json``), the signing and secrets keys, the
database and its log: the folder is 0700 and every file in it 0600, also when the home
existed with laxer modes, and whatever the server creates afterwards is private too.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private(home: Path) -> None:
    """Create ``home`` if needed and make it and the files directly in it private."""
    home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    home.chmod(PRIVATE_DIR)
    for entry in home.iterdir():
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(PRIVATE_FILE)
    # What the server writes from now on (database, WAL, logs, artifacts) is its own.
    os.umask(0o077)


def _key(path: Path, make: Callable[[], bytes]) -> bytes:
    """The key in ``path``, made once (atomically, 0600) when there is none."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(make())
    return path.read_bytes()


def signing_key(home: Path) -> bytes:
    """Signs run and node tokens (``signing.key``)."""
    return _key(home / "signing.key", lambda: secrets.token_bytes(32))


def secrets_key(home: Path) -> bytes:
    """Seals secrets at rest (``secrets.key``, a Fernet key)."""
    return _key(home / "secrets.key", Fernet.generate_key)
