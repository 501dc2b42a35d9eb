"""Find the control plane of a TRAINFORGE_HOME, starting it detached when none runs.

Like ``ray.init()``: the first SDK call on a machine starts what it needs, and what it
starts keeps running after the notebook exits, so submitted runs finish.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
from filelock import FileLock
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from trainforge import processes
from trainforge.client.api.processes import ProcessesApi
from trainforge.client.http import ApiError, Endpoint, TrainforgeClient
from trainforge.schemas.server_state import PID_FOLDER, ServerState, read_pid_files, read_state
from trainforge.schemas.settings import default_home

START_TIMEOUT_S = 60.0
T = TypeVar("T")


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

        def started() -> ServerState | None:
            if _ended(pid):
                raise ServerStartError(f"The trainforge server exited at start:\n{_tail(home)}")
            state = read_state(home)
            return state if state is not None and state.pid == pid and _healthy(state) else None

        with contextlib.suppress(RetryError):
            up = _poll(started, START_TIMEOUT_S, 0.1)
            assert up is not None  # _poll gives only a truthy answer
            return up, True
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


def _poll(probe: Callable[[], T], timeout: float, interval: float) -> T:
    """The first truthy answer of ``probe``, asked every ``interval`` s; RetryError after
    ``timeout`` s."""
    retrying = Retrying(
        retry=retry_if_result(lambda found: not found),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
    )
    return retrying(probe)


def _wait_ended(pid: int, timeout: float) -> bool:
    try:
        return _poll(lambda: _ended(pid), timeout, 0.05)
    except RetryError:
        return False


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
    """The node agents and launchers the server of ``home`` started that still run.

    The running server names them through its REST API (whatever its database); the
    agents also keep pid files under the home, which find them when the server is gone.
    A pid whose start time no longer matches is some other process.
    """
    records = read_pid_files(home)
    state = running_server(home)
    if state is not None:
        client = TrainforgeClient(Endpoint(state.address, state.token), retry_s=0)
        try:
            records += ProcessesApi(client).list()
        except (ApiError, httpx.HTTPError):
            pass  # a server going down: the pid files are what is left
        finally:
            client.close()
    found: dict[int, psutil.Process] = {}
    for record in records:
        if record.pid_create_time is not None:
            process = processes.find(record.pid, record.pid_create_time)
            if process is not None:
                found[record.pid] = process
    return list(found.values())


def stop_all(home: Path | None = None) -> list[int]:
    """Stop the server of ``home``, then kill the node agents and launchers it started,
    with their children, by pid (never by name). Returns the pids killed after the server."""
    home = (home or default_home()).resolve()
    recorded = _recorded_processes(home)  # asked before the server goes
    stop_server(home)
    killed: list[int] = []
    for process in recorded:
        killed += processes.kill_tree(process)
    for pid_file in (home / PID_FOLDER).glob("*.json"):
        pid_file.unlink(missing_ok=True)  # every process they named is gone
    return killed
