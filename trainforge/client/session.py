"""The one explicit client session of a process: its HTTP client and metrics sender.

Outside a run it talks to the local control plane of TRAINFORGE_HOME (started on first
use) or to the server named by TRAINFORGE_ENDPOINT and TRAINFORGE_TOKEN. Inside a run it
uses the address and run token the launcher put in the environment.
"""

from __future__ import annotations

import threading
from pathlib import Path

from trainforge.client.http import Endpoint, TrainforgeClient
from trainforge.client.local_server import ensure_server
from trainforge.client.metrics import EXIT_FLUSH_TIMEOUT_S, MetricsSender
from trainforge.client.settings import ClientSettings
from trainforge.schemas.server_state import read_address, read_state
from trainforge.schemas.settings import RunContext


class Session:
    def __init__(
        self,
        client: TrainforgeClient,
        exit_flush_timeout: float | None = EXIT_FLUSH_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.metrics = MetricsSender(client, exit_flush_timeout=exit_flush_timeout)
        # The run this process was launched for, once Run.get_context() has built it.
        self.context_run: object | None = None
        # The home whose control plane trainforge.init() started for this session (then
        # trainforge.shutdown() stops it); None when the server was found running or is remote.
        self.started_home: Path | None = None

    def close(self) -> None:
        """Store the metrics queued so far, then let go of the connection."""
        self.metrics.close()
        self.client.close()

    @property
    def address(self) -> str:
        return self.client.address

    def studio_url(self, path: str) -> str:
        """The studio's page at ``path`` (``workspaces/ws/runs/id``). It carries no token (a
        printed link lands in notebooks and logs): the browser signs in once
        (``trainforge studio``) and keeps that in a cookie."""
        return f"{self.address}/studio/{path}"


_default: Session | None = None
_run_sessions: dict[tuple[str, str], Session] = {}
_lock = threading.Lock()


def local_endpoint(home: Path) -> Endpoint:
    state = ensure_server(home)

    def refresh() -> tuple[str, str] | None:
        found = read_state(home)
        return (found.address, found.token) if found else None

    return Endpoint(state.address, state.token, refresh)


def default_session() -> Session:
    """The process's session, connecting (and starting a local server) on first use."""
    global _default
    with _lock:
        if _default is None:
            settings = ClientSettings()
            endpoint = (
                Endpoint(settings.endpoint, settings.token)
                if settings.endpoint and settings.token
                else local_endpoint(settings.home.expanduser())
            )
            _default = Session(TrainforgeClient(endpoint, retry_s=settings.client_retry_s))
        return _default


def run_session(address: str, token: str) -> Session:
    """The session of a run's own process, built from the variables the launcher set."""
    with _lock:
        key = (address, token)
        if key not in _run_sessions:
            # The launcher keeps the server's current address in the run's folder.
            address_file = RunContext().server_address_file

            def refresh() -> tuple[str, str] | None:
                found = read_address(address_file) if address_file else None
                return (found, token) if found else None

            # A run's process waits out an outage of the control plane, however long: its
            # calls and its last metrics are delayed, never lost.
            client = TrainforgeClient(
                Endpoint(address, token, refresh), retry_s=None, max_backoff_s=2.0
            )
            _run_sessions[key] = Session(client, exit_flush_timeout=None)
        return _run_sessions[key]


def set_default(new: Session | None) -> Session | None:
    """Make ``new`` the process's default session (None: connect lazily again on next use);
    returns the session it replaces, still open."""
    global _default
    with _lock:
        old, _default = _default, new
    return old


def take_run_sessions() -> list[Session]:
    """Forget the sessions of this process's runs; returns them, still open."""
    with _lock:
        taken = list(_run_sessions.values())
        _run_sessions.clear()
    return taken


def reset() -> None:
    """Forget the default session (tests that switch TRAINFORGE_HOME use this)."""
    old = set_default(None)
    if old is not None:
        old.close()
