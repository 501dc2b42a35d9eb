"""What node agents, launchers and the servers that place them read from the environment.

``NodeSettings``: what an operator sets for the machines that run work (read by the server
too, which hands the work root and the run user on to the nodes it starts).
``AgentSettings``: who a node agent is, set by the backend that started it. Both are read
when needed, never at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from trainforge.schemas.backend import Resources
from trainforge.schemas.settings import TrainforgeSettings

DEFAULT_RUN_USER = "nobody"


class NodeSettings(TrainforgeSettings):
    """The nodes' ``TRAINFORGE_*`` variables. An empty value is a value here:
    ``TRAINFORGE_RUN_USER=`` keeps runs as the node's own user."""

    model_config = SettingsConfigDict(env_ignore_empty=False)

    work_dir: str = Field(
        default="",
        description="Where nodes and runs work: built environments, data caches, node and "
        "run folders (default: <home>-work, beside the home, never inside it).",
    )
    run_user: str = Field(
        default=DEFAULT_RUN_USER,
        description="When a node runs as root, the unprivileged user (name or uid) its runs "
        "run as; empty: as the node's own user.",
    )
    env_installer: str = Field(
        default="uv",
        description="pip: build run environments with python -m venv and pip; otherwise with "
        "uv (when installed).",
    )
    # The launcher reads these three (its LauncherSettings extends these settings).
    output_sync_s: float = Field(
        default=10.0, description="How often a running job's ./outputs are uploaded to the run."
    )
    gang_timeout_s: float = Field(
        default=300.0,
        description="How long a node of a multi-node job waits for the others to start.",
    )
    scoring_start_timeout_s: float = Field(
        default=600.0,
        description="How long a scoring service's process may take from its start to "
        "answering GET / (init() included) before the deployment fails.",
    )
    fence_check_s: float = Field(
        default=2.0,
        description="How often a launcher checks that its attempt is still the run's current one.",
    )


class AgentSettings(TrainforgeSettings):
    """A node agent's identity and where it reports, set by the backend that started it."""

    endpoint: str = Field(description="The control plane's address.")
    agent_token: str = Field(description="The node's token: it reaches this node's work only.")
    workspace: str = Field(description="The workspace of the node's cluster.")
    cluster: str = Field(default="", description="The node's cluster.")
    node_id: str = Field(description="The node's id.")
    node_dir: Path = Field(description="The node's working folder.")
    home: Path = Field(description="The control plane's home: its server.json after a restart.")
    node_addr: str | None = Field(
        None, description="The node's address as other nodes reach it (a Ray node's IP)."
    )
    node_resources: Resources | None = Field(
        None, description="What the node reserves on its host (JSON: vcpus, memory_gb, gpus)."
    )
