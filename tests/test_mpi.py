"""MPI jobs on the local backend: mpirun over the run's nodes, ranks allreduce with mpi4py."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import psutil
import pytest

from tests import test_clusters
from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.compute import AmlCompute
from trainforge.core.runconfig import MpiConfiguration
from trainforge.train.estimator import Estimator, Mpi

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI (openmpi-bin)"),
]
pytest.importorskip("mpi4py")
clusters = test_clusters.clusters  # the fixture: a test's clusters are deleted after it

ALLREDUCE = """
    import json, os, sys, time
    from mpi4py import MPI
    from trainforge.core import Run

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    total = comm.allreduce(rank + 1)
    names = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "OMPI_COMM_WORLD_RANK",
             "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "AZ_BATCHAI_TASK_INDEX"]
    values = {name: os.environ.get(name) for name in names}
    print("ENV", json.dumps({**values, "pid": os.getpid()}), "ARGS", sys.argv[1:], flush=True)
    if rank == 0:
        run = Run.get_context()
        run.log("sum", total)
        run.log("size", comm.Get_size())
    if "--fail-rank" in sys.argv and str(rank) == sys.argv[-1]:
        raise RuntimeError(f"rank {rank} gives up")
    if "--sleep" in sys.argv:
        time.sleep(600)
"""


def rank_envs(run) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for name, text in run.get_details_with_logs()["logFiles"].items():
        for line in text.splitlines():
            if line.startswith("ENV "):
                env_part, _, args = line[4:].partition(" ARGS ")
                found.append({**json.loads(env_part), "log": name, "args": args})
    return sorted(found, key=lambda env: int(env["RANK"]))


def test_mpi_two_processes_on_one_node(
    experiment: Experiment, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "train.py").write_text(textwrap.dedent(ALLREDUCE))
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        arguments=["--rank", "$RANK"],
        distributed_job_config=MpiConfiguration(process_count_per_node=2),
    )
    run = experiment.submit(config)
    assert run.wait_for_completion(show_output=True)["status"] == "Completed", run.get_details()
    assert "ENV" in capsys.readouterr().out  # show_output streams rank 0's log
    assert run.get_metrics() == {"sum": 3, "size": 2}
    envs = rank_envs(run)
    assert [
        (e["RANK"], e["OMPI_COMM_WORLD_RANK"], e["LOCAL_RANK"], e["WORLD_SIZE"]) for e in envs
    ] == [
        ("0", "0", "0", "2"),
        ("1", "1", "1", "2"),
    ]
    assert [e["log"] for e in envs] == [
        "azureml-logs/70_driver_log_0.txt",
        "azureml-logs/70_driver_log_1.txt",
    ]
    assert [e["args"] for e in envs] == ["['--rank', '0']", "['--rank', '1']"]
    assert "azureml-logs/70_mpi_log.txt" in run.get_file_names()


def test_mpi_rank_failure_fails_the_run_with_its_traceback(
    experiment: Experiment, project: Path
) -> None:
    (project / "train.py").write_text(textwrap.dedent(ALLREDUCE))
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        arguments=["--fail-rank", "1"],
        distributed_job_config=MpiConfiguration(process_count_per_node=2),
    )
    run = experiment.submit(config)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "(rank 1)" in message
    assert "RuntimeError: rank 1 gives up" in message
    assert "70_driver_log_1.txt" in message


def test_mpi_over_two_nodes_of_a_cluster(
    ws, clusters, experiment: Experiment, project: Path
) -> None:  # type: ignore[no-untyped-def]
    (project / "train.py").write_text(textwrap.dedent(ALLREDUCE))
    mpi_jobs_over_two_nodes(experiment, project, clusters(min_nodes=2, max_nodes=2))


def mpi_jobs_over_two_nodes(
    experiment: Experiment, project: Path, cluster: AmlCompute
) -> list[dict[str, str]]:
    """ALLREDUCE (the project's train.py) over a 2-node cluster: a job, a failing rank and a
    cancel, checked; the first job's ranks."""
    estimator = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        node_count=2,
        distributed_training=Mpi(process_count_per_node=1),
    )
    run = experiment.submit(estimator)
    assert run.wait_for_completion()["status"] == "Completed", run.get_details()
    assert run.get_metrics() == {"sum": 3, "size": 2}
    envs = rank_envs(run)
    assert [(e["RANK"], e["NODE_RANK"], e["AZ_BATCHAI_TASK_INDEX"]) for e in envs] == [
        ("0", "0", "0"),
        ("1", "1", "1"),
    ]
    ranks = envs

    # A rank failing on the second node: its traceback travels through mpirun's output.
    failing = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        script_params={"--fail-rank": 1},
        node_count=2,
        distributed_training=Mpi(),
    )
    details = experiment.submit(failing).wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "(rank 1)" in message and "RuntimeError: rank 1 gives up" in message

    # Canceling stops the ranks on both nodes, the second node's daemon included.
    sleeping = Estimator(
        str(project),
        compute_target=cluster,
        entry_script="train.py",
        script_params={"--sleep": ""},
        node_count=2,
        distributed_training=Mpi(),
    )
    run = experiment.submit(sleeping)
    pids = test_clusters.wait_until(
        lambda: [e["pid"] for e in rank_envs(run)] if len(rank_envs(run)) == 2 else None,
        60,
        "both ranks running",
    )
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    for pid in pids:
        test_clusters.wait_until(lambda p=pid: not psutil.pid_exists(p), 15, f"rank pid {pid} gone")
    return ranks
