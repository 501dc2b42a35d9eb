"""Starting a launcher: its LaunchRequest goes in one variable of its environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback

from trainforge.node.ray_environ import without_ray
from trainforge.schemas.backend import LAUNCH_REQUEST_VARIABLE, LaunchRequest

__all__ = ["LaunchRequest", "fork_launcher", "launcher_environment", "spawn_launcher"]

# Linux refuses to exec with one environment string over 128 KiB (MAX_ARG_STRLEN).
MAX_REQUEST_CHARS = 64 * 1024


def launcher_environment(request: LaunchRequest) -> dict[str, str]:
    """The launcher's environment: this process's (less Ray's driver variables: the server
    may be a Ray driver too) and the request, as JSON in one variable."""
    env = without_ray(os.environ)
    value = request.model_dump_json()
    if len(value) > MAX_REQUEST_CHARS:
        # A run whose definition is huge: its launcher reads the run itself rather than
        # meet the kernel's limit on one variable.
        value = request.model_copy(update={"context": None}).model_dump_json()
    env[LAUNCH_REQUEST_VARIABLE] = value
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
        # The launcher watches its agent: when the agent dies the node is lost.
        environment = launcher_environment(request.model_copy(update={"agent_pid": os.getppid()}))
        os.environ.clear()
        os.environ.update(environment)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = launcher.main()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)
