"""Find the control plane of a TRAINFORGE_HOME, starting it detached when none runs.

Like ``ray.init()``: the first SDK call on a machine starts what it needs, and what it
starts keeps running after the notebook exits, so submitted runs finish.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from filelock import FileLock

from trainforge import processes
from trainforge.schemas.server_state import ServerState, read_state
from trainforge.schemas.settings import default_home

START_TIMEOUT_S = 60.0


class ServerStartError(RuntimeError):
    """The control plane did not come up; the message carries its log's tail."""


def _healthy(state: ServerState) -> bool:
    if _ended(state.pid):
        return False
    try:
        return httpx.get(f"{state.address}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    # One starter at a time per home; the file stays, so a process of an older trainforge
    # that locks it too is kept out as well.
    with FileLock(home / "server.lock", preserve_lock_file=True):
        yield


def running_server(home: Path | None = None) -> ServerState | None:
    state = read_state(home or default_home())
    return state if state is not None and _healthy(state) else None


def ensure_server(
    home: Path | None = None, port: int | None = None, database_url: str | None = None
) -> ServerState:
    """The running server of ``home``, started detached on loopback if there is none: on
    ``port``, else the port this home's server used last (see ``trainforge up``)."""
    return attach_or_start(home, port, database_url)[0]


def attach_or_start(
    home: Path | None = None, port: int | None = None, database_url: str | None = None
) -> tuple[ServerState, bool]:
    """As ``ensure_server``, and whether this call started the server (``trainforge.init``
    stops only a server it started)."""
    home = (home or default_home()).resolve()
    with _locked(home):
        state = running_server(home)
        if state is not None:
            return state, False
        command = [
            sys.executable,
            "-m",
            "trainforge.server",
            "--home",
            str(home),
        ]
        if port is not None:
            command += ["--port", str(port)]
        if database_url:
            command += ["--database-url", database_url]
        pid = _spawn_detached(command, home / "server.log")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if _ended(pid):
                raise ServerStartError(f"The trainforge server exited at start:\n{_tail(home)}")
            state = read_state(home)
            if state is not None and state.pid == pid and _healthy(state):
                return state, True
            time.sleep(0.1)
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
        raise ServerStartError(
            f"The trainforge server did not answer in {START_TIMEOUT_S:.0f} s:\n{_tail(home)}"
        )


def _spawn_detached(command: list[str], log: Path) -> int:
    """Start ``command`` in a session of its own and reap it when it ends; return its pid.

    The server outlives its caller, but a caller that lives on (a notebook kernel) must
    not keep the stopped server as a zombie that still looks like a running server (and
    not every init reaps orphans, so starting it as an orphan would not do either).
    """
    with open(log, "ab") as out:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    threading.Thread(target=child.wait, name=f"trainforge-reap-{child.pid}", daemon=True).start()
    return child.pid


def _ended(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie has: it only waits to be reaped)."""
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # our own child (a server started the old way): reap it
    return True


def _wait_ended(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _ended(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_server(home: Path | None = None, timeout: float = 30.0) -> ServerState | None:
    """Stop the server of ``home`` (its runs go on); return what was stopped, if anything."""
    home = (home or default_home()).resolve()
    state = read_state(home)
    if state is None or _ended(state.pid):
        (home / "server.json").unlink(missing_ok=True)
        return None
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(state.pid).send_signal(signal.SIGTERM)
    if not _wait_ended(state.pid, timeout):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(state.pid).kill()
        _wait_ended(state.pid, 5)
    (home / "server.json").unlink(missing_ok=True)
    return state


def _tail(home: Path, lines: int = 30) -> str:
    try:
        return "\n".join((home / "server.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server.log)"


def _recorded_processes(home: Path) -> list[psutil.Process]:
    """The node agents and launchers the server of ``home`` recorded that still run.

    Their pids and start times are in the home's store (tables ``nodes`` and
    ``assignments``); a pid whose start time no longer matches is some other process.
    """
    db = home / "trainforge.db"
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        rows = [
            row
            for table in ("nodes", "assignments")
            if table in tables
            for row in conn.execute(
                f"SELECT pid, pid_create_time FROM {table} WHERE pid IS NOT NULL"
            )
        ]
    found = []
    for pid, created in rows:
        try:
            process = psutil.Process(pid)
            if created is not None and abs(process.create_time() - created) < 0.01:
                found.append(process)
        except psutil.Error:
            pass
    return found


def stop_all(home: Path | None = None) -> list[int]:
    """Stop the server of ``home``, then kill the node agents and launchers it started,
    with their children, by pid (never by name). Returns the pids killed after the server."""
    home = (home or default_home()).resolve()
    stop_server(home)
    killed: list[int] = []
    for process in _recorded_processes(home):
        killed += processes.kill_tree(process)
    return killed
