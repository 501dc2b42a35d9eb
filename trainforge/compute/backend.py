"""The protocol every compute backend implements.

The scheduler decides what runs where; a backend only starts a launcher for an
assignment, tells whether it is still alive, and stops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel


class LaunchRequest(BaseModel):
    run_id: str
    workspace_name: str
    attempt: int
    endpoint: str
    run_token: str
    home: Path
    node_dir: Path


class LaunchHandle(BaseModel):
    backend: str
    node_id: str | None = None
    pid: int
    pid_create_time: float


class ComputeBackend(Protocol):
    name: str

    def start_launcher(self, request: LaunchRequest) -> LaunchHandle:
        """Start the launcher of one run attempt; return at once."""
        ...

    def is_alive(self, handle: LaunchHandle) -> bool:
        """Whether the launcher (or anything it started) still runs."""
        ...

    def terminate(self, handle: LaunchHandle) -> None:
        """Ask the launcher to stop its processes and finish the run as canceled."""
        ...

    def kill(self, handle: LaunchHandle) -> None:
        """Kill the launcher and every process it started, at once."""
        ...
