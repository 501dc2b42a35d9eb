"""trainforge.init() / trainforge.shutdown(): the process's session set up explicitly, against
real control-plane processes (started and stopped by pid)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import trainforge
from tests.helpers import running, session_of_its_own
from trainforge.client import local_server, session
from trainforge.client.http import ApiError
from trainforge.core import Experiment, Run, Workspace
from trainforge.schemas.server_state import read_state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home of its own; the SDK's default session is forgotten before and after."""
    monkeypatch.setenv("TRAINFORGE_PORT", "0")  # servers this test starts take a free port
    monkeypatch.delenv("TRAINFORGE_ENDPOINT", raising=False)
    monkeypatch.delenv("TRAINFORGE_TOKEN", raising=False)
    path = tmp_path / "home"
    with session_of_its_own():
        try:
            yield path
        finally:
            trainforge.shutdown()
            local_server.stop_all(path)


def test_init_starts_the_home_server_and_shutdown_stores_metrics_then_stops_it(
    home: Path,
) -> None:
    connection = trainforge.init(home=home)
    state = read_state(home)
    assert state is not None and connection.started_server and connection.home == home.resolve()
    assert connection.address == state.address
    ws = Workspace.create("init-ws", exist_ok=True, show_output=False)
    assert ws.service_context is session.default_session()
    run = Experiment(ws, "init").start_logging()
    for step in range(50):
        run.log("loss", 1.0 / (step + 1))

    trainforge.shutdown()
    assert not running(state.pid), "the server init started is stopped"
    assert read_state(home) is None

    again = trainforge.init(home=home)  # a fresh server of the same home: nothing was lost
    assert again.started_server
    ws = Workspace.get("init-ws")
    metrics = Run(Experiment(ws, "init"), run.id).get_metrics()
    assert len(metrics["loss"]) == 50


def test_init_attaches_to_a_running_server_and_shutdown_leaves_it_running(home: Path) -> None:
    state = local_server.ensure_server(home)
    connection = trainforge.init(home=home)
    assert not connection.started_server and connection.address == state.address
    Workspace.create("attached-ws", exist_ok=True, show_output=False)
    trainforge.shutdown()
    assert local_server.running_server(home) == state

    # The same server by address: the token is the argument, else the home's server.json.
    by_token = trainforge.init(address=state.address, token=state.token)
    assert by_token.home is None and not by_token.started_server
    assert list(Workspace.list()) == ["attached-ws"]
    assert trainforge.init(address=state.address, home=home).address == state.address
    with pytest.raises(ApiError) as refused:
        trainforge.init(address=state.address, token="not-the-token")
    assert refused.value.status_code == 401
    with pytest.raises(ValueError, match="token"):
        trainforge.init(address="http://127.0.0.1:9", home=home)
    trainforge.shutdown()
    assert local_server.running_server(home) == state


def test_init_without_arguments_picks_the_server_as_the_sdk_would(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = local_server.ensure_server(home)
    monkeypatch.setenv("TRAINFORGE_ENDPOINT", state.address)
    monkeypatch.setenv("TRAINFORGE_TOKEN", state.token)
    connection = trainforge.init()
    assert (connection.address, connection.home) == (state.address, None)
    trainforge.shutdown()
    assert local_server.running_server(home) == state
    monkeypatch.delenv("TRAINFORGE_ENDPOINT")
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    local = trainforge.init()
    assert (local.address, local.home, local.started_server) == (state.address, home, False)


def test_init_overrides_the_environment_and_shutdown_without_init_does_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainforge.shutdown()  # no session yet: nothing to close, nothing started
    assert read_state(home) is None
    # A team server named in the environment is what the lazy session would use; init's
    # home wins over it.
    monkeypatch.setenv("TRAINFORGE_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TRAINFORGE_TOKEN", "unused")
    connection = trainforge.init(home=home)
    assert session.default_session().address == connection.address != "http://127.0.0.1:9"
