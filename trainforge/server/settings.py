"""Where the control plane keeps its state, and how it is reached."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import BaseModel, Field

API_PREFIX = "/api/v1"


def default_home() -> Path:
    return Path(os.environ.get("TRAINFORGE_HOME") or Path.home() / ".trainforge").expanduser()


def default_local_roots() -> list[Path]:
    """Where LocalFolder datastores may point: TRAINFORGE_LOCAL_DATASTORE_ROOTS (paths joined
    by os.pathsep), else the user's home and the system temp folder, where a notebook
    user keeps data and scratch; never the whole machine."""
    listed = os.environ.get("TRAINFORGE_LOCAL_DATASTORE_ROOTS")
    if listed:
        return [Path(part).expanduser() for part in listed.split(os.pathsep) if part]
    return [Path.home(), Path(tempfile.gettempdir())]


class ServerSettings(BaseModel):
    home: Path
    database_url: str | None = None
    token: str
    # The address launchers and in-run clients use to reach this server.
    endpoint: str = ""
    # Signs run tokens; kept in the home folder so tokens outlive a server restart.
    signing_key: bytes
    # Seals key-vault secrets and datastore credentials at rest (a Fernet key, secrets.key).
    secrets_key: bytes = Field(default_factory=Fernet.generate_key)
    scheduler_interval_s: float = 0.2
    # A launcher asked to stop gets this long to upload outputs before it is killed.
    stop_grace_s: float = 10.0
    # A node agent silent this long is unusable and its run is retried elsewhere.
    heartbeat_timeout_s: float = Field(
        default_factory=lambda: float(os.environ.get("TRAINFORGE_HEARTBEAT_TIMEOUT_S", "10"))
    )
    # A run's token still works this long after the run ended (its last uploads), then expires.
    run_token_grace_s: float = Field(
        default_factory=lambda: float(os.environ.get("TRAINFORGE_RUN_TOKEN_GRACE_S", "300"))
    )
    # Runs queued on a cluster whose backend cannot be reached fail after this long.
    backend_grace_s: float = Field(
        default_factory=lambda: float(os.environ.get("TRAINFORGE_BACKEND_GRACE_S", "60"))
    )

    # Idempotency keys of creates are kept this long, then pruned (a retry comes sooner).
    request_key_retention_s: float = Field(
        default_factory=lambda: float(
            os.environ.get("TRAINFORGE_REQUEST_KEY_RETENTION_S", str(24 * 3600))
        ),
        gt=0,
    )

    # The largest run file or snapshot a request may write (TRAINFORGE_MAX_FILE_BYTES).
    max_file_bytes: int = Field(
        default_factory=lambda: int(os.environ.get("TRAINFORGE_MAX_FILE_BYTES", str(16 * 2**30)))
    )
    # Folders under which LocalFolder datastores may be registered (and created).
    local_datastore_roots: list[Path] = Field(default_factory=default_local_roots)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'trainforge.db'}"

    def workspace_dir(self, workspace_name: str) -> Path:
        return self.home / "workspaces" / workspace_name
