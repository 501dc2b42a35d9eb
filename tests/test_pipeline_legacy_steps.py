"""EstimatorStep and MpiStep, the deprecated steps of older pipelines: an estimator's step
hands PipelineData to an MPI step whose rank count is a pipeline parameter, on a real
control plane with mpirun and mpi4py. The calls are those of public pipelines of that era
(``EstimatorStep(name, estimator, estimator_entry_script_arguments, inputs, outputs,
compute_target)``), with ``azureml`` -> ``trainforge`` in the imports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.distributed_jobs import rank_envs
from tests.test_pipelines import write
from trainforge.core import Experiment, Workspace
from trainforge.exceptions import UserErrorException
from trainforge.pipeline.core import Pipeline, PipelineData, PipelineParameter
from trainforge.pipeline.steps import EstimatorStep, MpiStep
from trainforge.train.estimator import Estimator
from trainforge.train.sklearn import SKLearn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs Open MPI (openmpi-bin)"),
]
pytest.importorskip("mpi4py")

PREPARE = """
import argparse, os
parser = argparse.ArgumentParser("prepare")
parser.add_argument("--greeting", type=str)
parser.add_argument("--prepared", type=str)
args = parser.parse_args()
os.makedirs(args.prepared, exist_ok=True)
with open(os.path.join(args.prepared, "numbers.txt"), "w") as f:
    f.write(" ".join(str(n) for n in range(1, 11)))
print("prepared by", args.greeting)
"""

# Each rank sums its share of the numbers; rank 0 logs the total and the world size.
SHARE = """
import argparse, json, os
from mpi4py import MPI
from trainforge.core import Run
parser = argparse.ArgumentParser("share")
parser.add_argument("--prepared", type=str)
args = parser.parse_args()
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
with open(os.path.join(args.prepared, "numbers.txt")) as f:
    numbers = [int(n) for n in f.read().split()]
total = comm.allreduce(sum(numbers[rank::size]))
print("ENV", json.dumps({"RANK": os.environ["RANK"], "pid": os.getpid()}), "ARGS", [], flush=True)
if rank == 0:
    Run.get_context().log("total", total)
    Run.get_context().log("size", size)
"""


def test_an_estimator_step_feeds_an_mpi_step_sized_by_a_pipeline_parameter(
    ws: Workspace, tmp_path: Path
) -> None:
    prepared = PipelineData("prepared", datastore=ws.get_default_datastore())
    estimator = SKLearn(
        source_directory=write(tmp_path / "prepare", "prepare.py", PREPARE),
        compute_target="local",
        entry_script="prepare.py",
        script_params={"--greeting": "sklearn"},
    )
    EstimatorStep(  # the producer of prepared: the pipeline finds it by closure
        name="prepare data",
        estimator=estimator,
        estimator_entry_script_arguments=["--prepared", prepared],
        inputs=[],
        outputs=[prepared],
        compute_target="local",
        allow_reuse=True,
    )
    ranks = PipelineParameter(name="ranks", default_value=1)
    share_step = MpiStep(
        name="share",
        source_directory=write(tmp_path / "share", "share.py", SHARE),
        script_name="share.py",
        arguments=["--prepared", prepared],
        compute_target="local",
        node_count=1,
        process_count_per_node=ranks,
        inputs=[prepared],
        environment_variables={"OMP_NUM_THREADS": "1"},
    )
    pipeline = Pipeline(workspace=ws, steps=[share_step])  # the estimator's step by closure
    assert pipeline.validate() == []
    run = Experiment(ws, "legacy-steps").submit(pipeline, pipeline_parameters={"ranks": 2})
    assert run.wait_for_completion(show_output=False) == "Completed"
    (prepare_run,) = run.find_step_run("prepare data")
    assert "prepared by sklearn" in prepare_run.get_job_log()
    (share_run,) = run.find_step_run("share")
    assert share_run.get_metrics() == {"total": 55, "size": 2}
    assert [env["RANK"] for env in rank_envs(share_run)] == ["0", "1"]
    kinds = {step.name: step.kind for step in run.get_graph().steps}
    assert kinds == {"prepare data": "EstimatorStep", "share": "MpiStep"}

    # Unchanged and resubmitted with the default: the estimator's step is reused, the MPI
    # step runs again with one rank (its parameter changed).
    again = Experiment(ws, "legacy-steps").submit(pipeline)
    assert again.wait_for_completion(show_output=False) == "Completed"
    reused = {step.name: step.reused_run_id for step in again.get_graph().steps}
    assert reused == {"prepare data": prepare_run.id, "share": None}
    (share_again,) = again.find_step_run("share")
    assert share_again.get_metrics() == {"total": 55, "size": 1}


def test_legacy_steps_refuse_what_they_cannot_run(tmp_path: Path) -> None:
    folder = write(tmp_path / "s", "s.py", "print('s')\n")
    with pytest.raises(UserErrorException, match="bogus: not an option of MpiStep"):
        MpiStep(name="m", source_directory=folder, script_name="s.py", bogus=1)
    with pytest.raises(UserErrorException, match="process_count_per_node"):
        MpiStep(name="m", source_directory=folder, script_name="s.py", process_count_per_node=0)
    with pytest.raises(UserErrorException, match="script_name"):
        MpiStep(name="m", source_directory=folder)
    with pytest.raises(UserErrorException, match="estimator: an EstimatorStep needs an Estimator"):
        EstimatorStep(name="e", estimator="train.py")  # type: ignore[arg-type]
    estimator = Estimator(folder, compute_target="local", entry_script="s.py")
    with pytest.raises(UserErrorException, match="estimator_entry_script_arguments"):
        EstimatorStep(
            name="e",
            estimator=estimator,
            estimator_entry_script_arguments={"--a": 1},  # type: ignore[arg-type]
        )
