"""``trainforge down --all`` (``local_server.stop_all``) stops the server and every node
agent it started, whatever the server's database, and even after the server died: it asks
the running server through its REST API and reads the agents' pid files, never the
server's database file."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import session_of_its_own, wait_until
from tests.postgres_server import (
    PostgresServer,
    create_database,
    postgres_server_fixture,  # noqa: F401  (the fixture)
)
from trainforge.client import local_server
from trainforge.core import Workspace
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.schemas.server_state import read_state

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    with session_of_its_own():
        try:
            yield home
        finally:
            local_server.stop_all(home)


def _one_idle_agent(home: Path) -> psutil.Process:
    ws = Workspace.create("stop-ws", exist_ok=True, show_output=False)
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=1
    )
    ComputeTarget.create(ws, "pool", config).wait_for_completion(show_output=False)
    (agent,) = wait_until(lambda: local_server._recorded_processes(home), 60, "the node agent")
    return agent


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_down_all_on_a_postgresql_server_stops_its_node_agents(
    home: Path, postgres_server: PostgresServer
) -> None:
    url = create_database(postgres_server, f"tf_stop_{uuid.uuid4().hex[:8]}")
    local_server.ensure_server(home, database_url=url)
    assert not (home / "trainforge.db").exists()  # nothing for a file reader to find
    agent = _one_idle_agent(home)
    killed = local_server.stop_all(home)
    assert agent.pid in killed
    wait_until(lambda: _gone(agent), 10, "the node agent gone")
    assert local_server.running_server(home) is None


def test_down_all_after_the_server_died_stops_its_node_agents(home: Path) -> None:
    agent = _one_idle_agent(home)
    state = read_state(home)
    assert state is not None
    psutil.Process(state.pid).send_signal(signal.SIGKILL)
    wait_until(lambda: local_server.running_server(home) is None, 10, "the server gone")
    assert agent.is_running()  # the agent waits for its server to come back
    killed = local_server.stop_all(home)
    assert agent.pid in killed
    wait_until(lambda: _gone(agent), 10, "the node agent gone")
