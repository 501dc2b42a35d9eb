"""One contract for the compute backends: the same cluster cases on 'local' and on 'ray'.

The 'ray' cases run on a real multi-node Ray cluster on loopback (a head without CPUs and
two 2-CPU worker nodes, token authentication on), started once for the module and
stopped by pid. A trainforge node on Ray is a Ray actor that reserves a whole worker.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Callable, Iterator

import psutil
import pytest

from tests.clusters import counts, delete_clusters, pid_script, recorded, script, submit
from tests.helpers import attempt_of, wait_until
from tests.ray_cluster import (
    RayCluster,
    add_worker,
    agent_of,
    attach,
    lose_machine,
    ray_cluster_fixture,
    raylet_of,
)
from trainforge.core.compute import AmlCompute, ComputeTarget

pytestmark = pytest.mark.slow
BACKENDS = ["local", "ray"]
ray_cluster = ray_cluster_fixture  # the module's loopback Ray cluster


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clusters(
    ws, backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., AmlCompute]]:  # type: ignore[no-untyped-def]
    """Clusters of this backend made by a test, deleted with their nodes when it ends."""
    made: list[AmlCompute] = []

    def make(min_nodes: int = 0, max_nodes: int = 2, idle: int = 60) -> AmlCompute:
        name = f"k{uuid.uuid4().hex[:8]}"
        if backend == "ray":
            cluster = attach(
                ws,
                request.getfixturevalue("ray_cluster"),
                name,
                min_nodes=min_nodes,
                max_nodes=max_nodes,
                idle_seconds_before_scaledown=idle,
            )
        else:
            config = AmlCompute.provisioning_configuration(
                vm_size="STANDARD_D2_V2",
                min_nodes=min_nodes,
                max_nodes=max_nodes,
                idle_seconds_before_scaledown=idle,
            )
            cluster = ComputeTarget.create(ws, name, config)
        made.append(cluster)  # type: ignore[arg-type]
        return cluster  # type: ignore[return-value]

    yield make
    delete_clusters(ws, made)


def gone(pids: list[int]) -> bool:
    return not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids
    )


def test_a_run_is_placed_on_a_node_and_reports_as_on_local(
    clusters, backend, experiment, project, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=1, idle=60)
    pid_script(project, tmp_path, 0.1)
    run = submit(experiment, project, cluster)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    metrics = run.get_metrics()
    assert metrics["rank"] == 0
    # A run sees the same environment on both backends: nothing Ray set for its workers.
    assert metrics["foreign"] == "none"
    assert "azureml-logs/70_driver_log.txt" in run.get_file_names() or any(
        name.startswith("azureml-logs/70_driver_log") for name in run.get_file_names()
    )
    (node,) = cluster.list_nodes()
    assert node["nodeState"] in ("idle", "running")
    assert counts(cluster)["current"] == 1


def test_a_gang_gets_distinct_nodes_and_rank_0s_address(
    clusters, backend, experiment, project, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=2, idle=60)
    pid_dir = pid_script(project, tmp_path, 3)
    run = submit(experiment, project, cluster, node_count=2)
    wait_until(lambda: len(list(pid_dir.iterdir())) == 2, 90, "both ranks to start")
    found = recorded(pid_dir)
    pids = [pid for pid, _ in found]
    assert len({agent_of(pid).pid for pid in pids}) == 2, "the two ranks share a node agent"
    if backend == "ray":
        raylets = {raylet.pid for pid in pids if (raylet := raylet_of(pid)) is not None}
        assert len(raylets) == 2, "the two ranks share a Ray node"
    # MASTER_ADDR is the address of rank 0's node (its Ray node's IP on Ray).
    addresses = {
        node["privateIpAddress"] for node in cluster.list_nodes() if node["runId"] == run.id
    }
    assert len({addr for _, addr in found}) == 1 and {addr for _, addr in found} <= addresses
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    assert {"azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt"} <= set(
        run.get_file_names()
    )


def test_cancel_stops_every_process_and_frees_the_node(
    clusters, backend, experiment, project, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=2, idle=60)
    pid_dir = pid_script(project, tmp_path, 300)
    run = submit(experiment, project, cluster, node_count=2)
    wait_until(lambda: len(list(pid_dir.iterdir())) == 2, 90, "both ranks to start")
    pids = [pid for pid, _ in recorded(pid_dir)]
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    wait_until(lambda: gone(pids), 30, "the processes on every node to stop")
    wait_until(lambda: counts(cluster)["idle"] == 2, 30, "both nodes idle again")


def test_idle_nodes_go_down_to_min_nodes(clusters, backend, experiment, project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(min_nodes=0, max_nodes=2, idle=1)
    pid_dir = pid_script(project, tmp_path, 4)
    runs = [submit(experiment, project, cluster) for _ in range(2)]
    agents: set[int] = set()
    deadline = time.monotonic() + 120
    while not all(run.get_status() in ("Completed", "Failed", "Canceled") for run in runs):
        assert time.monotonic() < deadline, "timed out waiting for both runs to end"
        for pid, _ in recorded(pid_dir):
            try:
                agents.add(agent_of(pid).pid)
            except psutil.Error:
                pass
        time.sleep(0.2)
    assert [run.get_status() for run in runs] == ["Completed"] * 2
    assert len(agents) == 2, "both runs ran at once, on two nodes"
    wait_until(lambda: counts(cluster)["current"] == 0, 60, "scale-down to min_nodes=0")
    wait_until(lambda: gone(list(agents)), 30, "the node agents to exit")


def test_a_lost_node_requeues_its_run(
    clusters, backend, experiment, project, tmp_path, request
) -> None:  # type: ignore[no-untyped-def]
    cluster = clusters(max_nodes=1, idle=60)
    marker = tmp_path / "first-attempt"
    script(
        project,
        f"""
        import os, time
        from pathlib import Path
        marker = Path({str(marker)!r})
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(300)
        print("second attempt", flush=True)
        """,
    )
    run = submit(experiment, project, cluster)
    wait_until(lambda: marker.exists() and marker.read_text(), 90, "the first attempt to start")
    pid = int(marker.read_text())
    (first,) = [node for node in cluster.list_nodes() if node["runId"] == run.id]
    if backend == "ray":
        ray_cluster: RayCluster = request.getfixturevalue("ray_cluster")
        raylet = raylet_of(pid)
        assert raylet is not None
        lost = next(w for w in ray_cluster.workers if w in " ".join(raylet.cmdline()))
        ray_cluster.kill_worker(lost)  # the Ray node goes, as a lost machine
        ray_cluster.workers.remove(lost)
        add_worker(ray_cluster, 2, f"{lost}r")  # a replacement joins, as an autoscaler would
    else:
        agent = agent_of(pid)
        lose_machine([agent, *agent.children(recursive=True)])
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    assert attempt_of(run) == 2
    details = run.get_details_with_logs()
    assert "second attempt" in "".join(details["logFiles"].values())
    # The warning names the lost node (and on Ray, the Ray node it was on).
    (warning,) = [w["message"] for w in details["warnings"] if first["nodeId"] in w["message"]]
    assert "retried once on another node" in warning
    if backend == "ray":
        assert first["hostId"] and first["hostId"] in warning


def test_pytorch_ddp_over_two_nodes(clusters, backend, experiment, project) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from tests.distributed_jobs import DDP, envs
    from trainforge.train.dnn import PyTorch

    (project / "train.py").write_text(textwrap.dedent(DDP))
    cluster = clusters(max_nodes=2, idle=60)
    estimator = PyTorch(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        node_count=2,
        distributed_backend="gloo",
    )
    run = experiment.submit(estimator)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    assert run.get_metrics() == {"identical": True, "world": 2}
    ranks = envs(run)
    assert [(e["RANK"], e["NODE_RANK"]) for e in ranks] == [("0", "0"), ("1", "1")]
    addresses = {node["privateIpAddress"] for node in cluster.list_nodes()}
    assert {e["MASTER_ADDR"] for e in ranks} <= addresses


SHARED_FOLDER = """
    import json, os, time
    config = json.loads(os.environ["TF_CONFIG"])
    task_type, index = config["task"]["type"], config["task"]["index"]
    marker = os.path.join("outputs", "MNIST", "complete.txt")
    if task_type == "worker" and index == 0:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w") as f:
            f.write("done")
        print("worker 0 wrote", marker, flush=True)
    else:
        deadline = time.time() + 60
        while not os.path.exists(marker):
            if time.time() > deadline:
                raise SystemExit(f"{task_type} {index}: {marker} never appeared")
            time.sleep(0.2)
        print(task_type, index, "saw", marker, flush=True)
        if task_type == "ps":
            while True:
                time.sleep(1)
"""


def test_the_nodes_of_a_job_share_its_working_folder(
    clusters, backend, experiment, project
) -> None:  # type: ignore[no-untyped-def]
    """Local nodes and Ray nodes on one host: one folder, as the TF sample expects."""
    from trainforge.core import ScriptRunConfig
    from trainforge.core.runconfig import TensorflowConfiguration

    (project / "tf_mnist_replica.py").write_text(textwrap.dedent(SHARED_FOLDER))
    cluster = clusters(max_nodes=2, idle=60)
    src = ScriptRunConfig(
        source_directory=str(project),
        script="tf_mnist_replica.py",
        compute_target=cluster,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=1),
    )
    run = experiment.submit(src)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    logs = run.get_details_with_logs()["logFiles"]
    assert "worker 1 saw" in logs["azureml-logs/70_driver_log_worker_1.txt"]
    assert "outputs/MNIST/complete.txt" in run.get_file_names()


PRODUCE = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "numbers.txt"), "w") as f:
    f.write("1 2 3")
"""

CONSUME = """
import argparse, os
from trainforge.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--data")
args = parser.parse_args()
with open(os.path.join(args.data, "numbers.txt")) as f:
    total = sum(int(x) for x in f.read().split())
Run.get_context().log("total", total)
"""


def test_a_pipelines_steps_run_on_the_cluster_and_pass_their_data(
    clusters, backend, ws, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from trainforge.core import Experiment
    from trainforge.pipeline.core import Pipeline, PipelineData
    from trainforge.pipeline.steps import PythonScriptStep

    cluster = clusters(max_nodes=2, idle=60)
    folder = tmp_path / "steps"
    folder.mkdir()
    (folder / "produce.py").write_text(textwrap.dedent(PRODUCE))
    (folder / "consume.py").write_text(textwrap.dedent(CONSUME))
    numbers = PipelineData("numbers", datastore=ws.get_default_datastore())
    produce = PythonScriptStep(
        name="produce",
        script_name="produce.py",
        arguments=["--out", numbers],
        outputs=[numbers],
        compute_target=cluster,
        source_directory=str(folder),
    )
    consume = PythonScriptStep(
        name="consume",
        script_name="consume.py",
        arguments=["--data", numbers],
        inputs=[numbers],
        compute_target=cluster,
        source_directory=str(folder),
    )
    run = Experiment(ws, f"pipeline-{backend}").submit(Pipeline(ws, [consume, produce]))
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == "Completed"
    steps = {step.name: step for step in run.get_steps()}
    assert steps["consume"].get_metrics()["total"] == 6
    for step in steps.values():
        assert step.get_details()["target"] == cluster.name
