"""Where the control plane keeps its state, how it is reached, and what its operator sets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from cryptography.fernet import Fernet
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from trainforge.schemas.settings import HomeSettings

API_PREFIX = "/api/v1"


def default_local_roots() -> list[Path]:
    """The user's home and the system temp folder, where a notebook user keeps data and
    scratch; never the whole machine."""
    return [Path.home(), Path(tempfile.gettempdir())]


class ControlPlaneSettings(HomeSettings):
    """The control plane's ``TRAINFORGE_*`` variables, read when a server starts (or a
    ``ServerSettings`` is made)."""

    port: int | None = Field(
        default=None,
        description="Port of the local control plane on 127.0.0.1 when no --port is given and "
        "the home has not served before (default 8765; 0: any free port).",
    )
    heartbeat_timeout_s: float = Field(
        default=10.0,
        description="A node agent silent this long is unusable, and its run is retried elsewhere.",
    )
    run_token_grace_s: float = Field(
        default=300.0,
        description="A run's token still works this long after the run ended (its last "
        "uploads), then expires.",
    )
    db_busy_timeout_s: float = Field(
        default=30.0,
        description="A write waits this long for the database's lock, then answers 503 "
        "ServerBusy (the client sends it again).",
    )
    backend_grace_s: float = Field(
        default=60.0,
        description="Runs queued on a cluster whose backend cannot be reached fail after this long.",
    )
    max_file_bytes: int = Field(
        default=16 * 2**30, description="The largest run file or snapshot one request may write."
    )
    local_datastore_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=default_local_roots,
        description="Folders under which LocalFolder datastores may be registered, joined by "
        "os.pathsep (default: the user's home and the system temp folder).",
    )

    request_key_retention_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Idempotency keys of creates are kept this long, then pruned (a client's "
        "retry of a create comes much sooner).",
    )
    service_token_ttl_s: float = Field(
        default=3600.0,
        gt=0,
        description="An AKS service's token (get_token) works this long; the SDK fetches the "
        "next one halfway.",
    )
    service_scale_down_s: float = Field(
        default=60.0,
        gt=0,
        description="An autoscaled AKS service keeps its replicas until its load has stayed "
        "lower for this long.",
    )

    @field_validator("local_datastore_roots", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(part).expanduser() for part in value.split(os.pathsep) if part]
        return value


# The fields of ServerSettings an operator sets through the environment.
FROM_ENVIRONMENT = frozenset(ControlPlaneSettings.model_fields) - {"home", "port"}


class ServerSettings(BaseModel):
    """Everything a control plane is made with: its home, keys and token, and the
    operator's settings (from the environment unless given)."""

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
    # What the operator sets (ControlPlaneSettings says what each means); a value given
    # here wins over the environment's.
    heartbeat_timeout_s: float
    run_token_grace_s: float
    db_busy_timeout_s: float
    backend_grace_s: float
    max_file_bytes: int
    local_datastore_roots: list[Path]
    request_key_retention_s: float
    service_token_ttl_s: float
    service_scale_down_s: float

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict) or FROM_ENVIRONMENT <= data.keys():
            return data
        return {**ControlPlaneSettings().model_dump(include=set(FROM_ENVIRONMENT)), **data}

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'trainforge.db'}"

    def workspace_dir(self, workspace_name: str) -> Path:
        return self.home / "workspaces" / workspace_name
