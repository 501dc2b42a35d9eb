"""Helpers shared by the tests: poll observable state (never sleep a fixed time), stop
what a test started by pid, run code in a second interpreter."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psutil

from trainforge.client import local_server, session
from trainforge.client.api import api
from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi

if TYPE_CHECKING:
    from trainforge.core.run import Run

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


def run_file_bytes(run: Run, name: str, attempt: int | None = None) -> bytes:
    """The bytes of the run's file ``name`` (of ``attempt``, else the latest) as the REST API
    answers them to the run's workspace, without writing a file as ``download_file`` does."""
    return b"".join(api(run.experiment.workspace, FilesApi).download(run.id, name, attempt))


def attempt_of(run: Run) -> int:
    """The attempt the service has the run on now (1 until it is requeued)."""
    return api(run.experiment.workspace, RunsApi).get(run.id).attempt


def wait_until(
    probe: Callable[[], T],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    interval: float = 0.05,
) -> T:
    """The first truthy value of ``probe()``; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what} ({timeout} s)")
        time.sleep(interval)


# Script lines that try to read the server's own files from a run (the home is argv[1])
# and leave what happened in ``seen`` and the run's outputs/seen.json.
HOME_PROBE = """
for name in ("server.json", "signing.key", "secrets.key", "trainforge.db"):
    try:
        with open(os.path.join(sys.argv[1], name), "rb") as f:
            seen[name] = len(f.read())
    except OSError as exc:
        seen[name] = type(exc).__name__
os.makedirs("outputs", exist_ok=True)
with open("outputs/seen.json", "w") as f:
    json.dump(seen, f)
"""


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has exited: only its parent has not reaped it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_everything(home: Path) -> None:
    """Stop the server of ``home`` and every node agent or launcher it started, by pid."""
    local_server.stop_all(home)


def restart_server(home: Path) -> None:
    """Stop the control plane of ``home`` by pid and start a new one, as after a crash."""
    stopped = local_server.stop_server(home)
    assert stopped is not None
    # stop_server returns once the old process has ended: its port is closed, so agents and
    # runs see the outage before the new server comes up.
    assert not running(stopped.pid)
    restarted = local_server.ensure_server(home)
    assert restarted.pid != stopped.pid


def run_python(
    code: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (another process, as a second user would)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def processes_of(home: Path) -> list[psutil.Process]:
    """Every process of this machine that belongs to the server of ``home``: its command
    line, working folder or environment names the home or its work root (``<home>-work``).
    Found by looking at each process, so one the server never recorded shows too."""
    mark = str(home.resolve())
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                continue
            seen = [*process.cmdline(), process.cwd(), *process.environ().values()]
        except psutil.Error:
            continue
        if any(mark in text for text in seen):
            found.append(process)
    return found


@contextlib.contextmanager
def session_of_its_own() -> Iterator[None]:
    """The SDK's default session is the block's own; the one before it comes back after,
    still open, so session-scoped fixtures (``ws``) keep a working client."""
    before = session.set_default(None)
    try:
        yield
    finally:
        mine = session.set_default(before)
        if mine is not None:
            mine.close()
