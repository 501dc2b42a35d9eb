"""The launch modes of distributed training, and data inputs, unchanged on the Ray backend.

Each case runs on a 2-node cluster attached to a real loopback Ray cluster (a head without
CPUs and two 2-CPU worker Ray nodes, token authentication on): TensorFlow parameter-server
jobs, MPI jobs, and a run that reads a dataset mount and a data reference download from
the default datastore and writes to an upload reference. Every training process records
which Ray node (raylet) it runs under, so a test sees the tasks spread over distinct Ray
nodes.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.clusters import counts, delete_clusters, submit
from tests.helpers import wait_until
from tests.ray_cluster import RayCluster, attach, ray_cluster_fixture, start_cluster
from trainforge.core import Dataset, Experiment, ScriptRunConfig, Workspace
from trainforge.core.compute import AmlCompute

pytestmark = pytest.mark.slow
ray_cluster = ray_cluster_fixture  # the module's loopback Ray cluster

# Put before a training script: the process records the raylet and node agent it runs
# under, in a file named after its pid (psutil is a dependency of trainforge).
WHERE = """\
import json as _json, os as _os, pathlib as _pathlib, psutil as _psutil
_up = _psutil.Process().parents()
_pathlib.Path({folder!r}, str(_os.getpid())).write_text(_json.dumps({{
    "raylet": next((p.pid for p in _up if p.name().startswith("raylet")), None),
    "agent": [p.pid for p in _up if "trainforge.node.agent" in " ".join(p.cmdline())][-1:],
    "run": _os.environ.get("AZUREML_RUN_ID"),
    "attempt": _os.environ.get("TRAINFORGE_RUN_ATTEMPT"),
}}))
"""


@pytest.fixture
def cluster(ws: Workspace, ray_cluster: RayCluster) -> Iterator[AmlCompute]:
    """Two trainforge nodes on the Ray cluster; deleted, and waited for, when the test ends
    (the server drives one Ray address at a time and other modules start their own)."""
    made = attach(
        ws,
        ray_cluster,
        f"r{uuid.uuid4().hex[:8]}",
        min_nodes=2,
        max_nodes=2,
        idle_seconds_before_scaledown=60,
    )
    yield made
    delete_clusters(ws, [made])


def train_script(project: Path, code: str, tmp_path: Path) -> Path:
    """Write ``code`` as the project's train.py, recording where each process runs;
    return the folder the records go to."""
    folder = tmp_path / "where"
    folder.mkdir()
    (project / "train.py").write_text(WHERE.format(folder=str(folder)) + textwrap.dedent(code))
    return folder


def records(folder: Path) -> dict[int, dict[str, Any]]:
    """What each training process recorded (see WHERE), by pid."""
    return {int(record.name): json.loads(record.read_text()) for record in folder.iterdir()}


def ray_nodes(folder: Path, ray_cluster: RayCluster) -> dict[int, str]:
    """The Ray worker node (its custom resource name) each recorded process ran under, by pid."""
    placed = {}
    for pid, where in records(folder).items():
        assert where["raylet"] is not None, f"process {pid} ran outside Ray"
        assert where["agent"], f"process {pid} ran outside a node agent"
        resources = set()
        for arg in psutil.Process(where["raylet"]).cmdline():
            if arg.startswith("--static_resource_list="):
                resources |= set(arg.partition("=")[2].split(",")[::2])  # name,amount,...
        names = resources & set(ray_cluster.workers)
        assert len(names) == 1, f"raylet {where['raylet']} is not one of {ray_cluster.workers}"
        placed[pid] = names.pop()
    return placed


def node_addresses(cluster: AmlCompute) -> set[str]:
    return {node["privateIpAddress"] for node in cluster.list_nodes()}


def test_tensorflow_parameter_server_over_two_ray_nodes(
    cluster: AmlCompute,
    ray_cluster: RayCluster,
    experiment: Experiment,
    project: Path,
    tmp_path: Path,
) -> None:
    pytest.importorskip("tensorflow")
    from tests.distributed_jobs import TF_PS, parameter_server_jobs_over_two_nodes

    where = train_script(project, TF_PS, tmp_path)
    # The local backend's two jobs and checks: 2 workers and 1 ps (node 0 runs ps 0 and
    # worker 0, node 1 worker 1), then 1 worker and 2 ps (node 1 serves ps 1 only).
    two_workers, two_ps = parameter_server_jobs_over_two_nodes(experiment, project, cluster)
    placed = ray_nodes(where, ray_cluster)
    addresses = node_addresses(cluster)
    for found, node_1 in ((two_workers, "worker_1"), (two_ps, "ps_1")):
        task = {name.rpartition("log_")[2].removesuffix(".txt"): t for name, t in found.items()}
        tf_config = json.loads(task[node_1]["TF_CONFIG"])
        hosts = tf_config["cluster"]["ps"] + tf_config["cluster"]["worker"]
        assert len(set(hosts)) == 3
        assert {host.rpartition(":")[0] for host in hosts} <= addresses
        ps_0, worker_0, on_node_1 = (placed[task[t]["pid"]] for t in ("ps_0", "worker_0", node_1))
        assert ps_0 == worker_0 != on_node_1, f"{node_1} shares a Ray node with node 0's tasks"


def test_mpi_over_two_ray_nodes(
    cluster: AmlCompute,
    ray_cluster: RayCluster,
    experiment: Experiment,
    project: Path,
    tmp_path: Path,
) -> None:
    if shutil.which("mpirun") is None:
        pytest.skip("needs Open MPI (openmpi-bin)")
    pytest.importorskip("mpi4py")
    from tests.distributed_jobs import ALLREDUCE, mpi_jobs_over_two_nodes

    where = train_script(project, ALLREDUCE, tmp_path)
    # The local backend's jobs and checks: an allreduce, a rank failing on node 1 with its
    # traceback in the run's error, a cancel that stops the ranks on both nodes.
    ranks = mpi_jobs_over_two_nodes(experiment, project, cluster)
    placed = ray_nodes(where, ray_cluster)
    assert placed[ranks[0]["pid"]] != placed[ranks[1]["pid"]], "the two ranks share a Ray node"
    # Two ranks for each of the three jobs, each job in one attempt: a second attempt means
    # a node was judged lost while its job ran.
    attempts = Counter((r["run"], r["attempt"]) for r in records(where).values())
    runs = {run.id: run.get_details() for run in experiment.get_runs()}
    assert sorted(attempts.values()) == [2, 2, 2] and len(runs) == 3, (attempts, runs)


READ_INPUTS = """
    import os, pathlib, sys
    from trainforge.core import Run

    run = Run.get_context()
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    rank = os.environ["NODE_RANK"]
    folder = pathlib.Path(args["--images"])
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    run.log(f"mounted_{rank}", " ".join(f"{p.relative_to(folder)}={p.read_text()}" for p in files))
    run.log(f"downloaded_{rank}", pathlib.Path(args["--notes"]).read_text())
    pathlib.Path("outputs").mkdir(exist_ok=True)
    pathlib.Path("outputs", f"rank{rank}.txt").write_text(f"{len(files)} files on node {rank}")
    pathlib.Path(args["--out"]).mkdir(parents=True, exist_ok=True)
    pathlib.Path(args["--out"], f"rank{rank}.txt").write_text(f"written on node {rank}")
    print("read the inputs on node", rank, flush=True)
"""


def test_dataset_and_data_reference_inputs_on_two_ray_nodes(
    ws: Workspace,
    cluster: AmlCompute,
    ray_cluster: RayCluster,
    experiment: Experiment,
    project: Path,
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    (source / "images" / "more").mkdir(parents=True)
    (source / "images" / "a.txt").write_text("alpha")
    (source / "images" / "more" / "b.txt").write_text("bravo")
    (source / "notes.txt").write_text("charlie")
    store = ws.get_default_datastore()
    prefix = f"ray-inputs-{uuid.uuid4().hex[:8]}"
    store.upload(str(source), target_path=prefix, show_progress=False)
    images = Dataset.File.from_files((store, f"{prefix}/images"))
    where = train_script(project, READ_INPUTS, tmp_path)
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        compute_target=cluster,
        arguments=[
            "--images", images.as_named_input("images").as_mount(),
            "--notes", store.path(f"{prefix}/notes.txt").as_download(),
            "--out", store.path(f"{prefix}/by-rank").as_upload(),
        ],
    )  # fmt: skip
    config.run_config.node_count = 2
    run = experiment.submit(config)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    assert run.get_metrics() == {
        "mounted_0": "a.txt=alpha more/b.txt=bravo",
        "mounted_1": "a.txt=alpha more/b.txt=bravo",
        "downloaded_0": "charlie",
        "downloaded_1": "charlie",
    }
    names = set(run.get_file_names())
    assert {"outputs/rank0.txt", "outputs/rank1.txt"} <= names
    assert {"azureml-logs/65_job_prep_0.txt", "azureml-logs/65_job_prep_1.txt"} <= names
    run.download_file("outputs/rank1.txt", str(tmp_path / "rank1.txt"))
    assert (tmp_path / "rank1.txt").read_text() == "2 files on node 1"
    logs = run.get_details_with_logs()["logFiles"]
    for rank in (0, 1):
        assert f"read the inputs on node {rank}" in logs[f"azureml-logs/70_driver_log_{rank}.txt"]
    assert len(set(ray_nodes(where, ray_cluster).values())) == 2, "both ranks on one Ray node"
    # Each node uploaded its as_upload folder to the datastore when its script ended.
    down = tmp_path / "down"
    assert store.download(str(down), prefix=f"{prefix}/by-rank", show_progress=False) == 2
    for rank in (0, 1):
        uploaded = down / prefix / "by-rank" / f"rank{rank}.txt"
        assert uploaded.read_text() == f"written on node {rank}"


def one_run_on(ws: Workspace, ray: RayCluster, experiment: Experiment, project: Path) -> None:
    """A one-node run on a new compute attached to ``ray``; the compute is deleted after."""
    compute = attach(ws, ray, f"r{uuid.uuid4().hex[:8]}", min_nodes=0, max_nodes=1)
    try:
        run = submit(experiment, project, compute)
        ended = ("Completed", "Failed", "Canceled")
        # Bounded: a node the server cannot provision leaves the run queued for ever (the
        # reason is in the server's log).
        wait_until(
            lambda: run.get_status() in ended, 90, f"the run on the Ray cluster {ray.address}"
        )
        assert run.get_status() == "Completed", run.get_details().get("error")
        assert run.get_metrics() == {"ok": 1}
    finally:
        delete_clusters(ws, [compute])
        time.sleep(1)  # the server leaves a Ray cluster on its next pass once nothing uses it


def test_the_server_moves_on_to_another_ray_cluster(
    ws: Workspace, ray_cluster: RayCluster, experiment: Experiment, project: Path, tmp_path: Path
) -> None:
    """One server drives one Ray cluster at a time, not the same one for ever: once the
    computes on one are gone, a compute attached to another Ray cluster (its own address and
    auth token, as a cluster made anew with ``ray up``) works without a server restart."""
    where = train_script(
        project, "from trainforge.core import Run\nRun.get_context().log('ok', 1)\n", tmp_path
    )
    one_run_on(ws, ray_cluster, experiment, project)
    other = start_cluster([2])
    try:
        assert other.token_path.read_text() != ray_cluster.token_path.read_text()
        for record in where.iterdir():
            record.unlink()
        one_run_on(ws, other, experiment, project)
        (record,) = where.iterdir()
        raylets = {process.pid for process in other.processes("raylet")}
        assert json.loads(record.read_text())["raylet"] in raylets, (
            "it ran on the first Ray cluster"
        )
    finally:
        other.stop()


def test_a_gang_runs_on_the_warm_min_nodes(
    cluster: AmlCompute, experiment: Experiment, project: Path
) -> None:
    """min_nodes are provisioned as one spread group, so a gang of that size uses them
    instead of waiting for nodes to be replaced."""
    wait_until(lambda: counts(cluster)["idle"] == 2, 60, "both warm nodes idle")
    warm = {node["nodeId"] for node in cluster.list_nodes()}
    (project / "train.py").write_text("print('on a warm node')\n")
    run = submit(experiment, project, cluster, node_count=2)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    assert {node["nodeId"] for node in cluster.list_nodes()} == warm
