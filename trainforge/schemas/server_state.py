"""server.json: how clients find the running control plane and prove who they are (shared by both)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ValidationError

STATE_FILE = "server.json"
# In a run's own folder: where the server is now, for processes that never see its home.
ADDRESS_FILE = "server-address"


class ServerState(BaseModel):
    address: str
    pid: int
    token: str


class Connection(BaseModel):
    """What ``trainforge.init()`` connected to."""

    # The control plane's address (http://host:port).
    address: str
    # The home of the local control plane; None for a server given by address.
    home: Path | None = None
    # Whether init started that control plane (then shutdown() stops it).
    started_server: bool = False


def read_state(home: Path) -> ServerState | None:
    try:
        return ServerState.model_validate_json((home / STATE_FILE).read_text())
    except (OSError, ValidationError, json.JSONDecodeError):
        return None


def write_state(home: Path, state: ServerState) -> None:
    """Write atomically with mode 0600: the token must never be readable by others."""
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".server-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(state.model_dump_json())
        os.replace(tmp, home / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_address(path: Path, address: str) -> None:
    """Write the server's address (never its token) atomically, readable by the run."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".address-")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(address)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_address(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def remove_state(home: Path, pid: int) -> None:
    current = read_state(home)
    if current is not None and current.pid == pid:
        (home / STATE_FILE).unlink(missing_ok=True)
