"""AKS-style services as the deploy-to-AKS samples use them: a sklearn model deployed with
``AksWebservice.deploy_configuration`` to a 2-node compute cluster, one replica per node
(real scoring processes, kept up by real hosts), behind the one scoring address the
control plane serves. Requests reach both replicas; keys and tokens are enforced; a
killed scoring process or host comes back; an update swaps every replica with no failed
request; the autoscaler adds a replica under load and takes it away after.

The control plane is served from this process with a recording backend: its cluster's
nodes are rows that this test heartbeats (as their agents would), and the replicas are
placed on them. Every service is deleted by the test or its fixture, which stops its
processes; the test waits on observable state, never on fixed sleeps."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.helpers import wait_until
from tests.inprocess import Api
from trainforge.client.api import api
from trainforge.client.api.services import ServicesApi
from trainforge.core import Environment, InferenceConfig, Model, Webservice, Workspace
from trainforge.core.compute import AksCompute, AmlCompute, ComputeTarget
from trainforge.core.webservice import AksWebservice, LocalWebservice
from trainforge.exceptions import WebserviceException

joblib = pytest.importorskip("joblib")
pytest.importorskip("sklearn")
pytestmark = pytest.mark.real_process

SCORE = """
    import json
    import os
    import time

    import joblib

    VERSION = {version!r}

    def init():
        global model
        model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "ridge.pkl"))
        print("init loaded version", VERSION, "in", os.getpid(), flush=True)

    def run(raw_data):
        asked = json.loads(raw_data)
        time.sleep(asked.get("sleep", 0))
        return {{
            "prediction": model.predict(asked["data"]).tolist(),
            "pid": os.getpid(),
            "version": VERSION,
        }}
"""
ROWS = {"data": [[0.01] * 10]}


def _env() -> Environment:
    env = Environment("AksDeploy")
    env.python.user_managed_dependencies = True
    return env


def _config(source: Path, version: str) -> InferenceConfig:
    source.mkdir(parents=True, exist_ok=True)
    (source / "score.py").write_text(textwrap.dedent(SCORE.format(version=version)))
    return InferenceConfig(
        entry_script="score.py", source_directory=str(source), environment=_env()
    )


@pytest.fixture
def ws(cli_server: Api) -> Iterator[Workspace]:
    workspace = Workspace.create("aks-ws", exist_ok=True, show_output=False)
    yield workspace
    for service in Webservice.list(workspace):  # whatever a failed test left running
        service.delete()


def _two_nodes(cli_server: Api, ws: Workspace, name: str, config: Any = None) -> ComputeTarget:
    """A cluster of two nodes in ``ws``, both up (heartbeating as their agents would)."""
    config = config or AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", min_nodes=2, max_nodes=2
    )
    target = ComputeTarget.create(ws, name, config)
    cli_server.tick()  # the scheduler's pass: min_nodes are provisioned
    requests = [
        n
        for n in cli_server.backend.nodes
        if n.workspace_name == ws.name and n.compute_name == name
    ]
    assert len(requests) == 2
    for node in requests:
        cli_server.heartbeat(node)
    nodes = cli_server.call("GET", f"/workspaces/{ws.name}/computes/{name}/nodes")
    assert [n["state"] for n in nodes] == ["idle", "idle"]
    return target


@pytest.fixture
def cluster(cli_server: Api, ws: Workspace) -> Iterator[ComputeTarget]:
    """A 2-node cluster, and the replica loop running (the in-process server's loops
    stay stopped otherwise)."""
    target = _two_nodes(cli_server, ws, "aks")
    cli_server.plane.replicas.start()
    yield target
    for service in Webservice.list(ws):  # before the loop stops: nothing is left behind
        service.delete()
    cli_server.plane.replicas.stop()


@pytest.fixture
def ridge(ws: Workspace, tmp_path: Path) -> tuple[Model, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    fitted = Ridge(alpha=0.4).fit(X, y)
    path = tmp_path / "ridge.pkl"
    joblib.dump(fitted, path)
    return Model.register(workspace=ws, model_path=str(path), model_name="ridge.pkl"), fitted


def _deploy(
    ws: Workspace, name: str, model: Model, source: Path, target: ComputeTarget, **config: Any
) -> Any:
    service = Model.deploy(
        ws,
        name,
        [model],
        _config(source, "v1"),
        AksWebservice.deploy_configuration(**config),
        deployment_target=target,
    )
    assert isinstance(service, AksWebservice)
    service.wait_for_deployment(timeout_sec=120)
    return service


def _fresh(service: Any) -> Any:
    service.update_deployment_state()
    return service


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _gone(pid), what=f"process {pid} gone")


def test_two_replicas_on_two_nodes_with_token_auth(
    cli_server: Api, ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    model, fitted = ridge
    service = _deploy(
        ws,
        "aks-tokens",
        model,
        tmp_path / "app",
        cluster,
        autoscale_enabled=False,
        num_replicas=2,
        token_auth_enabled=True,
    )
    assert service.state == "Healthy" and service.compute_type == "AKS"
    assert service.compute_name == "aks" and service.token_auth_enabled
    replicas = service.replicas
    assert len(replicas) == 2
    nodes = {
        n["node_id"] for n in cli_server.call("GET", f"/workspaces/{ws.name}/computes/aks/nodes")
    }
    placed = {r["node_id"] for r in replicas}
    assert placed == nodes, "one replica per node of the cluster"
    scoring_pids = {r["scoring_pid"] for r in replicas}
    assert None not in scoring_pids and len(scoring_pids) == 2

    # No token, a wrong one, or a key-like string: 401 with the reason.
    uri = service.scoring_uri
    assert uri.endswith(f"/api/v1/workspaces/{ws.name}/scoring/aks-tokens/score")
    assert httpx.post(uri, json=ROWS).status_code == 401
    wrong = httpx.post(uri, json=ROWS, headers={"Authorization": "Bearer tfs1.forged.token"})
    assert wrong.status_code == 401 and "get_token()" in wrong.json()["message"]
    with pytest.raises(WebserviceException, match="auth_enabled: service 'aks-tokens' has no keys"):
        service.get_keys()

    token, refresh_by = service.get_token()
    assert refresh_by.tzinfo is not None
    headers = {"Authorization": f"Bearer {token}"}
    expected = fitted.predict(ROWS["data"]).tolist()
    served_by: Counter[str] = Counter()
    pids: set[int] = set()
    for _ in range(20):
        answer = httpx.post(uri, json=ROWS, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["prediction"] == pytest.approx(expected)
        served_by[answer.headers["x-trainforge-replica"]] += 1
        pids.add(answer.json()["pid"])
    # Both replicas served, evenly (one at a time: the fewest in flight, in turn).
    assert set(served_by) == {r["name"] for r in replicas}
    assert sorted(served_by.values()) == [10, 10]
    assert pids == scoring_pids
    assert service.run(json.dumps(ROWS))["prediction"] == pytest.approx(expected)  # SDK's token

    # The counts per replica, over REST (router's) and in each replica's own process.
    counts = {r["name"]: r["requests"] for r in _fresh(service).replicas}
    assert sum(counts.values()) == 21 and min(counts.values()) >= 10
    stats = wait_until(
        lambda: (s := api(ws, ServicesApi).stats("aks-tokens")).requests == 21 and s,
        what="the replicas' counts",
    )
    assert stats.errors == 0
    logs = service.get_logs()
    assert "placed on node" in logs and logs.count("init loaded version v1") == 2
    shown = service.serialize()
    assert shown["computeType"] == "AKS" and shown["computeName"] == "aks"
    assert shown["tokenAuthEnabled"] and len(shown["replicas"]) == 2

    # A token of another service of the same workspace does not open this one.
    other = _deploy(
        ws,
        "aks-other",
        model,
        tmp_path / "other",
        cluster,
        num_replicas=1,
        autoscale_enabled=False,
        token_auth_enabled=True,
    )
    other_token, _ = other.get_token()
    assert (
        httpx.post(uri, json=ROWS, headers={"Authorization": f"Bearer {other_token}"}).status_code
        == 401
    )
    assert (
        httpx.post(
            other.scoring_uri, json=ROWS, headers={"Authorization": f"Bearer {other_token}"}
        ).status_code
        == 200
    )
    other.delete()
    service.delete()
    for pid in scoring_pids:
        wait_until(lambda pid=pid: _gone(pid), what="replica stopped")


def test_key_auth_and_replicas_that_die_come_back(
    ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    model, _ = ridge
    service = _deploy(
        ws, "aks-keys", model, tmp_path / "app", cluster, autoscale_enabled=False, num_replicas=2
    )
    assert service.auth_enabled and not service.token_auth_enabled
    uri = service.scoring_uri
    assert httpx.post(uri, json=ROWS).status_code == 401
    primary, secondary = service.get_keys()
    for key in (primary, secondary):
        assert (
            httpx.post(uri, json=ROWS, headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )
    with pytest.raises(
        WebserviceException, match="token_auth_enabled: service .aks-keys. does not use token auth"
    ):
        service.get_token()
    service.regen_key("Primary")
    assert (
        httpx.post(uri, json=ROWS, headers={"Authorization": f"Bearer {primary}"}).status_code
        == 401
    )
    headers = {"Authorization": f"Bearer {service.get_keys()[0]}"}
    assert httpx.post(uri, json=ROWS, headers=headers).status_code == 200

    # A scoring process killed: its host starts it again; the other replica serves meanwhile.
    victim = service.replicas[0]
    _kill(victim["scoring_pid"])
    for _ in range(10):
        assert httpx.post(uri, json=ROWS, headers=headers).status_code == 200
    back = wait_until(
        lambda: (
            (r := {x["name"]: x for x in _fresh(service).replicas}[victim["name"]])["restarts"] >= 1
            and r["state"] == "Healthy"
            and service.state == "Healthy"
            and r
        ),
        what="the scoring process restarted",
    )
    assert back["scoring_pid"] != victim["scoring_pid"]
    assert "starting it again (restart 1)" in service.get_logs()

    # A host killed (its scoring process is left holding the port): the control plane
    # starts the host again, on the same node and port.
    host = next(
        p
        for p in psutil.process_iter(["cmdline"])
        if "trainforge.node.scoring_host" in " ".join(p.info["cmdline"] or [])
        and any(victim["name"] in part for part in p.info["cmdline"] or [])
    )
    orphan = back["scoring_pid"]
    host.kill()
    for _ in range(10):
        assert httpx.post(uri, json=ROWS, headers=headers).status_code == 200
    again = wait_until(
        lambda: (
            (r := {x["name"]: x for x in _fresh(service).replicas}[victim["name"]])["host_restarts"]
            == 1
            and r["state"] == "Healthy"
            and r
        ),
        what="the host restarted",
    )
    assert again["node_id"] == victim["node_id"] and again["port"] == victim["port"]
    assert again["scoring_pid"] != orphan and not psutil.pid_exists(orphan)
    assert "stopped; starting it again (restart 1)" in service.get_logs()
    service.delete()


def test_update_swaps_every_replica_without_a_failed_request(
    ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    model, _ = ridge
    service = _deploy(
        ws,
        "aks-update",
        model,
        tmp_path / "app",
        cluster,
        autoscale_enabled=False,
        num_replicas=2,
        auth_enabled=False,
    )
    uri = service.scoring_uri
    failures: list[str] = []
    versions: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                answer = client.post(uri, json=ROWS)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text}")
                else:
                    versions[answer.json()["version"]] += 1

    clients = [threading.Thread(target=load) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        wait_until(lambda: versions["v1"] >= 20, what="load on v1")
        service.update(inference_config=_config(tmp_path / "app", "v2"))
        assert service.state == "Transitioning"
        service.wait_for_deployment(timeout_sec=120)
        wait_until(lambda: versions["v2"] >= 20, what="load on v2")
        seen, later = versions["v1"], versions["v2"] + 20
        wait_until(lambda: versions["v2"] >= later, what="more load on v2")
        assert versions["v1"] == seen, "the old version still answered after the update"
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert failures == []
    logs = service.get_logs()
    assert logs.count("init loaded version v2") == 2
    service.delete()


def test_the_autoscaler_adds_a_replica_under_load_and_takes_it_away(
    cli_server: Api, ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    cli_server.plane.settings.service_scale_down_s = 2.0  # not a minute
    model, _ = ridge
    service = _deploy(
        ws,
        "aks-scale",
        model,
        tmp_path / "app",
        cluster,
        autoscale_min_replicas=1,
        autoscale_max_replicas=2,
        autoscale_target_utilization=50,
        auth_enabled=False,
    )
    assert len(service.replicas) == 1 and service.desired_replicas == 1
    stop = threading.Event()
    failures: list[int] = []

    def load() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                answer = client.post(service.scoring_uri, json={**ROWS, "sleep": 0.2})
                if answer.status_code != 200:
                    failures.append(answer.status_code)

    clients = [threading.Thread(target=load) for _ in range(3)]
    for client in clients:
        client.start()
    try:
        wait_until(
            lambda: [r["state"] for r in _fresh(service).replicas] == ["Healthy", "Healthy"],
            timeout=120,
            what="a second replica under load",
        )
        assert service.desired_replicas == 2
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert failures == []
    wait_until(lambda: len(_fresh(service).replicas) == 1, timeout=60, what="back to one replica")
    assert "scaling from 1 to 2 replica(s)" in service.get_logs()
    assert "scaling from 2 to 1 replica(s)" in service.get_logs()
    service.delete()


def test_bad_targets_are_refused_naming_the_field(
    ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    model, _ = ridge
    config = _config(tmp_path / "app", "v1")
    aks = AksWebservice.deploy_configuration()
    with pytest.raises(WebserviceException, match="deployment_target: an AKS service needs"):
        Model.deploy(ws, "aks-bad", [model], config, aks)
    with pytest.raises(WebserviceException, match="compute_target: no compute cluster 'nope'"):
        Model.deploy(ws, "aks-bad", [model], config, aks, deployment_target=_Named("nope"))
    with pytest.raises(WebserviceException, match="deployment_target: only an AKS service"):
        Model.deploy(
            ws,
            "aks-bad",
            [model],
            config,
            LocalWebservice.deploy_configuration(),
            deployment_target=cluster,
        )
    assert Webservice.list(ws) == []

    # A cluster with no node up (min_nodes=0, nothing queued): Unschedulable, and the
    # wait fails saying why.
    empty = ComputeTarget.create(
        ws, "empty", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=1)
    )
    service = Model.deploy(ws, "aks-empty", [model], config, aks, deployment_target=empty)
    with pytest.raises(
        WebserviceException, match="Unschedulable(.|\n)*no live node in cluster 'empty'"
    ):
        service.wait_for_deployment(timeout_sec=60)
    service.delete()


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


def test_update_scales_a_service_without_starting_its_replicas_again(
    ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    model, _ = ridge
    service = _deploy(
        ws,
        "aks-fixed",
        model,
        tmp_path / "app",
        cluster,
        autoscale_enabled=False,
        num_replicas=1,
        auth_enabled=False,
    )
    first = service.replicas[0]
    service.update(num_replicas=2)
    assert service.num_replicas == 2 and not service.autoscale_enabled
    both = wait_until(
        lambda: (
            (r := _fresh(service).replicas)
            and [x["state"] for x in r] == ["Healthy", "Healthy"]
            and r
        ),
        timeout=120,
        what="a second replica",
    )
    assert both[0]["scoring_pid"] == first["scoring_pid"]  # the first one went on serving
    with pytest.raises(WebserviceException, match="autoscale_min_replicas: 5 is above"):
        service.update(autoscale_enabled=True, autoscale_min_replicas=5, autoscale_max_replicas=2)
    with pytest.raises(WebserviceException, match="token_auth_enabled: a service keeps"):
        service.update(token_auth_enabled=True)
    service.delete()


def test_the_same_service_name_in_two_workspaces_never_mixes(
    cli_server: Api, ws: Workspace, cluster: ComputeTarget, ridge: tuple[Model, Any], tmp_path: Path
) -> None:
    model, _ = ridge
    other_ws = Workspace.create("aks-ws-two", exist_ok=True, show_output=False)
    # The samples' way: an AKS cluster of 2 agents (a fixed node pool here).
    pool = AksCompute.provisioning_configuration(agent_count=2, vm_size="Standard_D2_v2")
    other_cluster = _two_nodes(cli_server, other_ws, "aks", pool)
    other_model = Model.register(
        workspace=other_ws, model_path=str(tmp_path / "ridge.pkl"), model_name="ridge.pkl"
    )
    settings = {"autoscale_enabled": False, "num_replicas": 1, "token_auth_enabled": True}
    one = _deploy(ws, "same", model, tmp_path / "one", cluster, **settings)
    try:
        two = _deploy(other_ws, "same", other_model, tmp_path / "two", other_cluster, **settings)
        try:
            assert one.scoring_uri != two.scoring_uri
            token_one, _ = one.get_token()
            token_two, _ = two.get_token()
            for uri, mine, theirs in (
                (one.scoring_uri, token_one, token_two),
                (two.scoring_uri, token_two, token_one),
            ):
                headers = {"Authorization": f"Bearer {theirs}"}
                assert httpx.post(uri, json=ROWS, headers=headers).status_code == 401
                headers = {"Authorization": f"Bearer {mine}"}
                assert httpx.post(uri, json=ROWS, headers=headers).status_code == 200
            # Each workspace's replica sits on its own cluster's node.
            mine_nodes = {
                n["node_id"]
                for n in cli_server.call("GET", f"/workspaces/{other_ws.name}/computes/aks/nodes")
            }
            assert {r["node_id"] for r in two.replicas} <= mine_nodes
            # The admin token of the control plane is not a scoring token.
            admin = {"Authorization": f"Bearer {os.environ['TRAINFORGE_TOKEN']}"}
            assert httpx.post(one.scoring_uri, json=ROWS, headers=admin).status_code == 401
        finally:
            two.delete()
    finally:
        one.delete()
