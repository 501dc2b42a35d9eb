"""Distributed PyTorch on the local backend: real gloo DDP, its variables set per process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.core.runconfig import PyTorchConfiguration
from trainforge.train.dnn import PyTorch

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")

from tests.distributed_jobs import DDP, envs  # noqa: E402


def test_ddp_with_two_processes_on_one_node(experiment: Experiment, project: Path) -> None:
    (project / "train.py").write_text(textwrap.dedent(DDP))
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        arguments=["--local_rank", "$LOCAL_RANK"],
        distributed_job_config=PyTorchConfiguration(communication_backend="Gloo", process_count=2),
    )
    run = experiment.submit(config)
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_metrics() == {"identical": True, "world": 2}
    ranks = envs(run)
    assert [(e["RANK"], e["LOCAL_RANK"], e["NODE_RANK"], e["WORLD_SIZE"]) for e in ranks] == [
        ("0", "0", "0", "2"),
        ("1", "1", "0", "2"),
    ]
    assert ranks[0]["MASTER_PORT"] == ranks[1]["MASTER_PORT"]
    assert (
        ranks[0]["AZ_BATCHAI_PYTORCH_INIT_METHOD"] == f"tcp://127.0.0.1:{ranks[0]['MASTER_PORT']}"
    )


def test_ddp_over_two_nodes_of_a_cluster(ws, experiment: Experiment, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "train.py").write_text(textwrap.dedent(DDP))
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", max_nodes=2, idle_seconds_before_scaledown=5
    )
    cluster = ComputeTarget.create(ws, "ddp-cluster", config)
    try:
        estimator = PyTorch(
            str(project),
            compute_target=cluster,
            entry_script="train.py",
            node_count=2,
            distributed_backend="gloo",
        )
        run = experiment.submit(estimator)
        assert run.wait_for_completion()["status"] == "Completed"
        assert run.get_metrics() == {"identical": True, "world": 2}
        ranks = envs(run)
        assert [(e["RANK"], e["NODE_RANK"], e["AZ_BATCHAI_TASK_INDEX"]) for e in ranks] == [
            ("0", "0", "0"),
            ("1", "1", "1"),
        ]
        assert run.get_details()["runDefinition"]["communicator"] == "Gloo"
    finally:
        cluster.delete()
        cluster.wait_for_completion(is_delete_operation=True)
