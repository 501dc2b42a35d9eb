"""Starting a launcher: what it is told through its environment, and the process itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from pydantic import BaseModel

from trainforge.node.ray_environ import without_ray


class LaunchRequest(BaseModel):
    """One launcher: a run attempt's part on one node."""

    run_id: str
    workspace_name: str
    attempt: int
    assignment_id: int
    node_rank: int = 0
    node_count: int = 1
    node_id: str | None = None
    master_addr: str = "127.0.0.1"
    master_port: int | None = None
    endpoint: str
    run_token: str
    home: Path
    node_dir: Path


def launcher_environment(request: LaunchRequest) -> dict[str, str]:
    env = without_ray(os.environ)  # the server may be a Ray driver too
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
        TRAINFORGE_MASTER_ADDR=request.master_addr,
        TRAINFORGE_MASTER_PORT=str(request.master_port or ""),
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


class ForkedProcess:
    """A launcher forked from a node agent, watched like a ``subprocess.Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("trainforge launcher", timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


def fork_launcher(request: LaunchRequest) -> ForkedProcess:
    """Start a launcher by forking this (single-threaded) process.

    A node agent has the launcher's modules imported already, so a fork skips the
    ~0.2 s of imports a fresh interpreter pays on every run.
    """
    from trainforge.node import launcher

    request.node_dir.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 1
    try:
        os.setsid()
        log = os.open(
            request.node_dir / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request.node_dir)
        environment = launcher_environment(request)
        # The launcher watches its agent: when the agent dies the node is lost.
        environment["TRAINFORGE_AGENT_PID"] = str(os.getppid())
        os.environ.clear()
        os.environ.update(environment)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = launcher.main()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)
