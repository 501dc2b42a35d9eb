"""Starting a launcher: what it is told through its environment, and the process itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel


class LaunchRequest(BaseModel):
    """One launcher: a run attempt's part on one node."""

    run_id: str
    workspace_name: str
    attempt: int
    assignment_id: int
    node_rank: int = 0
    node_count: int = 1
    node_id: str | None = None
    endpoint: str
    run_token: str
    home: Path
    node_dir: Path


def launcher_environment(request: LaunchRequest) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRAINFORGE_ENDPOINT=request.endpoint,
        TRAINFORGE_RUN_TOKEN=request.run_token,
        TRAINFORGE_RUN_ID=request.run_id,
        TRAINFORGE_WORKSPACE=request.workspace_name,
        TRAINFORGE_ATTEMPT=str(request.attempt),
        TRAINFORGE_ASSIGNMENT_ID=str(request.assignment_id),
        TRAINFORGE_NODE_RANK=str(request.node_rank),
        TRAINFORGE_NODE_COUNT=str(request.node_count),
        TRAINFORGE_NODE_ID=request.node_id or "local",
        TRAINFORGE_NODE_DIR=str(request.node_dir),
        TRAINFORGE_HOME=str(request.home),
    )
    return env


def spawn_launcher(request: LaunchRequest) -> subprocess.Popen[bytes]:
    """Start ``python -m trainforge.node.launcher`` in its own session; return at once."""
    request.node_dir.mkdir(parents=True, exist_ok=True)
    with open(request.node_dir / "launcher.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "trainforge.node.launcher"],
            env=launcher_environment(request),
            cwd=request.node_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: the run outlives a restart of whoever started it.
            start_new_session=True,
        )
