"""The server's home: private to the server's user whatever was there before.

The home holds the admin token (``server.json``), the signing and secrets keys, the
database and its log: the folder is 0700 and every file in it 0600, also when the home
existed with laxer modes. Below it the usual 022 applies: nothing there is reachable but
through the home, except the local datastore folders that a run gets bound into its own
view (``read_only_view``), which its unprivileged user must be able to read.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private(home: Path, database: Path | None) -> None:
    """Create ``home`` if needed and make it and the files directly in it private;
    ``database`` (SQLite's file) is made first, 0600, so its WAL and journal, which
    SQLite creates with the database's own mode, are private too."""
    home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    home.chmod(PRIVATE_DIR)
    if database is not None:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for entry in home.iterdir():
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(PRIVATE_FILE)
    os.umask(0o022)


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
