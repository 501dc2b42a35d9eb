"""MPI jobs on the local backend: mpirun over the run's nodes, ranks allreduce with mpi4py."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.distributed_jobs import ALLREDUCE, mpi_jobs_over_two_nodes, rank_envs
from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.runconfig import MpiConfiguration

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI (openmpi-bin)"),
]
pytest.importorskip("mpi4py")


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
