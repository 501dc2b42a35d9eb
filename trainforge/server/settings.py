"""Where the control plane keeps its state, and how it is reached."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import BaseModel, Field

API_PREFIX = "/api/v1"


def default_home() -> Path:
    return Path(os.environ.get("TRAINFORGE_HOME") or Path.home() / ".trainforge").expanduser()


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

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'trainforge.db'}"

    def workspace_dir(self, workspace_name: str) -> Path:
        return self.home / "workspaces" / workspace_name
