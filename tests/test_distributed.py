"""Distributed PyTorch on the local backend: real gloo DDP, its variables set per process."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.core.runconfig import PyTorchConfiguration
from trainforge.train.dnn import PyTorch

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")

DDP = """
    import json, os
    import torch
    import torch.distributed as dist
    from trainforge.core import Run

    run = Run.get_context()
    dist.init_process_group("gloo")  # env:// : MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    rank = dist.get_rank()
    torch.manual_seed(rank)  # every rank starts different; DDP makes them agree
    model = torch.nn.Linear(4, 1)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    for step in range(5):
        x = torch.randn(8, 4)
        loss = ((ddp(x) - x.sum(1, keepdim=True)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    names = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "AZ_BATCHAI_PYTORCH_INIT_METHOD", "AZ_BATCHAI_TASK_INDEX"]
    print("ENV", json.dumps({name: os.environ[name] for name in names}))
    if rank == 0:
        run.log("identical", all(torch.equal(gathered[0], g) for g in gathered))
        run.log("world", dist.get_world_size())
    dist.barrier()  # leave together (see examples/quickstart/train.py)
    dist.destroy_process_group()
"""


def envs(run) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    logs = run.get_details_with_logs()["logFiles"]
    found = []
    for text in logs.values():
        found += [json.loads(line[4:]) for line in text.splitlines() if line.startswith("ENV ")]
    return sorted(found, key=lambda env: int(env["RANK"]))


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
