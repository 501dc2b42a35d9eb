"""Outages of the control plane delay work, never cost it; superseded attempts are fenced.

The outage tests give the run its own server (its own TRAINFORGE_HOME) and kill it with
SIGKILL mid-run: the run must end on attempt 1 with every metric and every log line once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from tests.helpers import attempt_of, running, wait_until
from tests.postgres_server import (
    PostgresServer,
    create_database,
    kill_recorded,
    postgres_server_fixture,  # noqa: F401  (the fixture)
)
from trainforge.cli.main import app as cli
from trainforge.client import local_server, session
from trainforge.client.http import ApiError, TrainforgeClient
from trainforge.core import Experiment, Run, ScriptRunConfig, Workspace
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.node.work_root import work_root
from trainforge.schemas.server_state import read_state

pytestmark = pytest.mark.slow
LINES = 200


def counting_script(project: Path) -> Path:
    """Logs ``i`` = 0..LINES-1 and prints ``line i`` for each, a little at a time."""
    (project / "train.py").write_text(
        textwrap.dedent(f"""
        import time
        from trainforge.core import Run
        run = Run.get_context()
        for i in range({LINES}):
            run.log("i", i)
            print(f"line {{i}}", flush=True)
            time.sleep(0.05)
        print("done", flush=True)
        """)
    )
    return project


def make_cluster(ws: Workspace, max_nodes: int = 1) -> AmlCompute:
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=max_nodes
    )
    return ComputeTarget.create(ws, f"c{uuid.uuid4().hex[:8]}", config)


def delete_cluster(ws: Workspace, cluster: AmlCompute) -> None:
    cluster.delete()

    def gone() -> bool:
        names = [
            c["name"] for c in ws.service_context.client.get(f"/workspaces/{ws.name}/computes")
        ]
        return cluster.name not in names

    wait_until(gone, 60, f"cluster {cluster.name} deleted")


def node_log(home: Path, run_id: str, attempt: int = 1) -> str:
    """The driver log as the node writes it, before it is shipped to the server."""
    found = list(
        work_root(home).glob(
            f"workspaces/*/nodes/**/{run_id}.{attempt}/azureml-logs/70_driver_log.txt"
        )
    )
    return found[0].read_text() if found else ""


def kill_server(home: Path) -> None:
    state = read_state(home)
    assert state is not None
    os.kill(state.pid, signal.SIGKILL)
    wait_until(lambda: not running(state.pid), 10, "the server gone")


def own_session(
    home: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None = None
) -> session.Session:
    """The SDK's session on the server of ``home`` (started on ``database_url``, else on
    SQLite), which a test may kill."""
    monkeypatch.setenv("TRAINFORGE_HOME", str(home))
    monkeypatch.setenv("TRAINFORGE_HEARTBEAT_TIMEOUT_S", "3")
    # The point where the SDK's client gives up, made short: node agents, launchers and
    # run processes must not give up at all, or the runs below would fail.
    monkeypatch.setenv("TRAINFORGE_CLIENT_RETRY_S", "1")
    local_server.ensure_server(home, database_url=database_url)
    own = session.Session(TrainforgeClient(session.local_endpoint(home)))
    monkeypatch.setattr(session, "_default", own)
    return own


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A TRAINFORGE_HOME whose server this test may kill, with the SDK's session on it."""
    home = tmp_path / "home"
    own = own_session(home, monkeypatch)
    try:
        yield home
    finally:
        own.metrics.close(5)
        own.client.close()
        local_server.stop_all(home)


@pytest.fixture
def own_postgres_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer
) -> Iterator[tuple[Path, str]]:
    """As ``own_home``, with the server's store on a new PostgreSQL database."""
    home = tmp_path / "home"
    url = create_database(postgres_server, f"tf_outage_{uuid.uuid4().hex[:8]}")
    own = own_session(home, monkeypatch, url)
    try:
        yield home, url
    finally:
        own.metrics.close(5)
        own.client.close()
        local_server.stop_server(home)
        kill_recorded(url)  # its agents and launchers are recorded in PostgreSQL


@pytest.mark.parametrize("target", ["local", "cluster"])
@pytest.mark.parametrize("back", ["mid-run", "after the script ended"])
def test_a_run_rides_out_a_killed_control_plane(
    own_home: Path, tmp_path: Path, target: str, back: str
) -> None:
    """Down longer than the heartbeat timeout (3 s) and the SDK's give-up point (1 s): the
    run goes on, ends on attempt 1, and every metric and log line arrives once."""
    rides_out(own_home, tmp_path, target, back, lambda: local_server.ensure_server(own_home))


def test_a_run_rides_out_a_killed_control_plane_on_postgresql(
    own_postgres_home: tuple[Path, str], tmp_path: Path
) -> None:
    """The same kill on a team server whose store is PostgreSQL, on a cluster, back mid-run."""
    home, url = own_postgres_home
    rides_out(
        home,
        tmp_path,
        "cluster",
        "mid-run",
        lambda: local_server.ensure_server(home, database_url=url),
    )


def rides_out(
    own_home: Path, tmp_path: Path, target: str, back: str, restart: Callable[[], object]
) -> None:
    ws = Workspace.create("outage-ws", exist_ok=True, show_output=False)
    cluster = make_cluster(ws) if target == "cluster" else None
    project = tmp_path / "project"
    project.mkdir()
    config = ScriptRunConfig(
        source_directory=str(counting_script(project)),
        script="train.py",
        compute_target=cluster or "local",
    )
    run = Experiment(ws, "outage").submit(config)
    wait_until(lambda: "line 20" in node_log(own_home, run.id), 90, "the script under way")
    kill_server(own_home)
    # While the server is away the script goes on (and, ended, waits to store its metrics).
    last = "done" if back == "after the script ended" else "line 120"
    wait_until(lambda: last in node_log(own_home, run.id), 60, f"{last!r} with no server")
    restart()

    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details
    assert attempt_of(run) == 1
    assert run.get_metrics()["i"] == list(range(LINES))
    log = b"".join(
        ws.service_context.client.download(
            f"/workspaces/{ws.name}/runs/{run.id}/files/azureml-logs/70_driver_log.txt"
        )
    ).decode()
    lines = [line for line in log.splitlines() if line.startswith("line ")]
    assert lines == [f"line {i}" for i in range(LINES)]
    if cluster is not None:
        delete_cluster(ws, cluster)


def test_the_same_create_post_twice_makes_one_run(ws, experiment) -> None:  # type: ignore[no-untyped-def]
    """A client that sends a submit again (its answer was lost) gets the run it made."""
    path = f"/workspaces/{ws.name}/experiments/{experiment.name}/runs"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"kind": "interactive", "display_name": "once"}
    first = ws.service_context.client.request("POST", path, json=body, headers=key).json()
    again = ws.service_context.client.request("POST", path, json=body, headers=key).json()
    assert again["run_id"] == first["run_id"]
    found = ws.service_context.client.get(f"/workspaces/{ws.name}/runs", experiment=experiment.name)
    runs = found["runs"]
    assert [r["run_id"] for r in runs] == [first["run_id"]]
    children_path = f"/workspaces/{ws.name}/runs/{first['run_id']}/children"
    with pytest.raises(ApiError, match="Idempotency-Key"):  # one key, one request
        ws.service_context.client.request("POST", children_path, json={"count": 2}, headers=key)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    made = ws.service_context.client.request(
        "POST", children_path, json={"count": 2}, headers=key
    ).json()
    made_again = ws.service_context.client.request(
        "POST", children_path, json={"count": 2}, headers=key
    ).json()
    assert [c["run_id"] for c in made_again] == [c["run_id"] for c in made]
    assert len(list(Run(experiment, first["run_id"]).get_children())) == 2
    # A plain SDK submit still makes a new run each time.
    second = experiment.start_logging()
    second.complete()
    assert len(list(experiment.get_runs())) == 2


def refused(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status_code == 409, caught.value
    return caught.value


def write_everything(ws, run_id: str, attempt: int | None) -> list[ApiError]:  # type: ignore[no-untyped-def]
    """A metric batch, a file and a log append naming ``attempt``: the errors they get."""
    client: TrainforgeClient = ws.service_context.client
    path = f"/workspaces/{ws.name}/runs/{run_id}"
    params = {"attempt": attempt} if attempt is not None else {}
    batch = {"batch_id": uuid.uuid4().hex, "points": [{"name": "late", "value": 1}], **params}
    return [
        refused(lambda: client.request("POST", f"{path}/metrics:batch", json=batch)),
        refused(lambda: client.upload(f"{path}/files/outputs/late.txt", b"late", params or None)),
        refused(
            lambda: client.request(
                "POST",
                f"{path}/files/azureml-logs/70_driver_log.txt",
                params={"offset": 0, **params},
                content=b"late\n",
            )
        ),
    ]


def test_a_finished_run_takes_no_writes(ws, experiment) -> None:  # type: ignore[no-untyped-def]
    run = experiment.start_logging()
    run.log("kept", 1)
    run.fail(error_details="stopped on purpose")
    errors = write_everything(ws, run.id, None)
    assert all(e.code == "RunEnded" and "Failed" in e.message for e in errors)
    assert run.get_metrics() == {"kept": 1}
    assert "outputs/late.txt" not in run.get_file_names()


# Attempt 1 keeps overwriting its output for a minute; a later attempt writes its own at once.
STALE_SCRIPT = textwrap.dedent("""
    import os, time
    from trainforge.core import Run
    run = Run.get_context()
    attempt = os.environ["TRAINFORGE_RUN_ATTEMPT"]
    print(f"attempt {attempt} pid {os.getpid()}", flush=True)
    os.makedirs("outputs", exist_ok=True)
    if attempt == "1":
        for i in range(600):
            with open("outputs/result.txt", "w") as out:
                out.write(f"stale {i}")
            print(f"stale {i}", flush=True)
            run.log("m", 1)
            time.sleep(0.1)
    with open("outputs/result.txt", "w") as out:
        out.write("attempt 2")
    run.log("m", 2)
    """)


def start_stale_attempt(
    home: Path, ws: Workspace, experiment: Experiment, cluster: AmlCompute, tmp_path: Path
) -> tuple[Run, int, dict[str, Any]]:
    """Submit STALE_SCRIPT to ``cluster`` and wait for attempt 1 to be under way: the run,
    attempt 1's script pid and the node running it."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(STALE_SCRIPT)
    run = experiment.submit(
        ScriptRunConfig(source_directory=str(project), script="train.py", compute_target=cluster)
    )
    first = wait_until(
        lambda: "stale 5" in node_log(home, run.id) and node_log(home, run.id),
        90,
        "attempt 1 under way",
    )
    script_pid = int(first.split("attempt 1 pid ")[1].split()[0])
    nodes = ws.service_context.client.get(f"/workspaces/{ws.name}/computes/{cluster.name}/nodes")
    (node,) = [n for n in nodes if n["run_id"] == run.id]
    return run, script_pid, node


def assert_attempt_2_alone(ws: Workspace, run: Run) -> str:
    """The run completed with attempt 2's metric, output and log, nothing of attempt 1's
    in them; the path of its files."""
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details
    assert run.get_metrics()["m"] == 2
    path = f"/workspaces/{ws.name}/runs/{run.id}/files"
    result = b"".join(ws.service_context.client.download(f"{path}/outputs/result.txt"))
    assert result == b"attempt 2"
    latest = b"".join(
        ws.service_context.client.download(f"{path}/azureml-logs/70_driver_log.txt")
    ).decode()
    assert latest.startswith("attempt 2 pid") and "stale" not in latest
    return path


def test_a_lost_nodes_attempt_is_fenced_and_its_processes_stopped(
    tf_home: Path, ws, experiment, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The agent of the node running attempt 1 is killed: the node is lost and the run
    requeued. Attempt 1's launcher and script stop, write nothing over attempt 2, and the
    server refuses anything attempt 1 still sends; each attempt keeps its own log."""
    cluster = make_cluster(ws, max_nodes=2)
    try:
        run, script_pid, node = start_stale_attempt(tf_home, ws, experiment, cluster, tmp_path)
        os.kill(node["pid"], signal.SIGKILL)  # the node is lost, its launcher orphaned
        wait_until(lambda: attempt_of(run) == 2, 30, "the run requeued")
        wait_until(lambda: not running(script_pid), 30, "attempt 1's script stopped")
        path = assert_attempt_2_alone(ws, run)
        older = b"".join(
            ws.service_context.client.download(
                f"{path}/azureml-logs/70_driver_log.txt", {"attempt": 1}
            )
        ).decode()
        assert older.startswith("attempt 1 pid") and "stale 0" in older
        errors = write_everything(ws, run.id, 1)
        assert all(e.code == "AttemptSuperseded" for e in errors)
        assert all(e.code == "RunEnded" for e in write_everything(ws, run.id, 2))
    finally:
        delete_cluster(ws, cluster)


def signal_all(processes: list[psutil.Process], number: int) -> None:
    """Send ``number`` to each of ``processes`` that still exists (a short-lived child may
    have ended since it was listed)."""
    for process in processes:
        try:
            process.send_signal(number)
        except psutil.NoSuchProcess:
            pass


def test_an_agent_that_comes_back_after_its_node_was_judged_lost_is_fenced(
    tf_home: Path, ws, experiment, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The node running attempt 1 goes away whole (its agent, launcher and script frozen
    with SIGSTOP, as a cut network or a suspended machine leaves them) past the heartbeat
    timeout, and comes back while attempt 2 runs on another node. Its node was judged
    lost, the run requeued once; on return the agent is told to leave and stops its
    launcher and script, nothing of attempt 1 lands in attempt 2, and none of the returned
    node's processes is left."""
    cluster = make_cluster(ws, max_nodes=2)
    frozen: list[psutil.Process] = []
    try:
        run, script_pid, node = start_stale_attempt(tf_home, ws, experiment, cluster, tmp_path)
        agent = psutil.Process(node["pid"])
        frozen = [agent, *agent.children(recursive=True)]
        assert script_pid in [p.pid for p in frozen]
        signal_all(frozen, signal.SIGSTOP)

        # Away past the heartbeat timeout: lost, requeued, attempt 2 running elsewhere.
        wait_until(lambda: attempt_of(run) == 2, 60, "the run requeued")
        wait_until(lambda: "attempt 2 pid" in node_log(tf_home, run.id, 2), 90, "attempt 2")
        back, frozen = frozen, []
        signal_all(back, signal.SIGCONT)
        wait_until(
            lambda: not any(running(p.pid) for p in back), 60, "the returned node's processes gone"
        )

        assert_attempt_2_alone(ws, run)
        assert attempt_of(run) == 2  # requeued once, not again on the node's return
        # The returned node's record went with it: no node of the cluster is its agent.
        nodes = ws.service_context.client.get(
            f"/workspaces/{ws.name}/computes/{cluster.name}/nodes"
        )
        assert all(n["pid"] != agent.pid for n in nodes)
    finally:
        signal_all(frozen, signal.SIGCONT)  # never leave a stopped process behind
        delete_cluster(ws, cluster)


STARTER = """
import json, sys
from trainforge.core import Workspace
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.node.work_root import work_root
ws = Workspace.create("down-ws", exist_ok=True, show_output=False)
config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=1)
cluster = ComputeTarget.create(ws, "cpu", config)
print(json.dumps({"workspace": ws.name, "cluster": cluster.name}), flush=True)
sys.stdin.read()  # stays alive, as a notebook kernel does
"""


def test_down_all_with_the_starter_alive_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "TRAINFORGE_HOME": str(home)}
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout is not None
        made = json.loads(starter.stdout.readline())
        state = read_state(home)
        assert state is not None

        def agents() -> list[int]:
            nodes = httpx.get(
                f"{state.address}/api/v1/workspaces/{made['workspace']}/computes/{made['cluster']}/nodes",
                headers={"Authorization": f"Bearer {state.token}"},
            ).json()
            return [n["pid"] for n in nodes if n["pid"] and n["state"] == "idle"]

        (agent,) = wait_until(agents, 60, "the cluster's node agent")
        result = CliRunner().invoke(cli, ["down", "--all", "--home", str(home)])
        assert result.exit_code == 0, result.output
        assert starter.poll() is None  # the starter lives on
        assert not running(state.pid)
        assert not running(agent)
        assert local_server.running_server(home) is None
    finally:
        starter.stdin.close()  # type: ignore[union-attr]
        starter.wait(30)
        local_server.stop_all(home)
