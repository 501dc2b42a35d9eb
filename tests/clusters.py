"""Clusters for the tests that run real node agents: made, filled with runs, counted and
deleted with their nodes (the ``clusters`` fixture in conftest uses these)."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

from tests.helpers import wait_until
from trainforge.core import Experiment, ScriptRunConfig
from trainforge.core.compute import AmlCompute, ComputeTarget
from trainforge.core.compute_target import ComputeTargetException


def make_cluster(
    ws, min_nodes: int = 0, max_nodes: int = 2, idle: int = 60, priority: str = "dedicated"
) -> AmlCompute:  # type: ignore[no-untyped-def]
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2",
        vm_priority=priority,
        min_nodes=min_nodes,
        max_nodes=max_nodes,
        idle_seconds_before_scaledown=str(idle),
    )
    cluster = ComputeTarget.create(ws, f"c{uuid.uuid4().hex[:8]}", config)
    yield_cluster = cluster
    return yield_cluster


def delete_clusters(ws, made: list[Any], timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Delete clusters (those already gone are skipped) and wait until all have left,
    their nodes with them."""
    for cluster in made:
        try:
            cluster.delete()
        except ComputeTargetException:
            pass
    for cluster in made:
        wait_until(
            lambda c=cluster: cluster_gone(ws, c.name), timeout, f"cluster {cluster.name} deleted"
        )


def cluster_gone(ws, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        ComputeTarget(workspace=ws, name=name)
    except ComputeTargetException:
        return True
    return False


def counts(cluster: AmlCompute) -> dict[str, Any]:
    status = cluster.get_status().serialize()
    states = {key.removesuffix("NodeCount"): n for key, n in status["nodeStateCounts"].items()}
    return {"current": status["currentNodeCount"], "target": status["targetNodeCount"], **states}


def script(project: Path, code: str, name: str = "train.py") -> Path:
    (project / name).write_text(textwrap.dedent(code))
    return project


def submit(
    experiment: Experiment,
    project: Path,
    cluster: AmlCompute,
    node_count: int = 1,
    arguments: list[Any] | None = None,
    priority: int | None = None,
):  # type: ignore[no-untyped-def]
    config = ScriptRunConfig(
        source_directory=str(project),
        script="train.py",
        compute_target=cluster,
        arguments=arguments or [],
    )
    config.run_config.node_count = node_count
    if priority is not None:
        config.run_config.priority = priority
    return experiment.submit(config)


def raw_nodes(cluster: AmlCompute) -> list[dict[str, Any]]:
    """The nodes as the REST API lists them (with their agents' pids)."""
    ws = cluster.workspace
    return ws.service_context.client.get(f"/workspaces/{ws.name}/computes/{cluster.name}/nodes")


def agent_pids(cluster: AmlCompute) -> list[int]:
    return [node["pid"] for node in raw_nodes(cluster)]


def pid_script(project: Path, tmp_path: Path, seconds: float) -> Path:
    """A script that logs its node rank (and, as 'foreign', the names of Ray's variables
    it finds in its environment) and writes '<pid> <MASTER_ADDR>' to a file of
    ``<returned folder>/<run id>.<node rank>``."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    script(
        project,
        f"""
        import os, time
        from pathlib import Path
        from trainforge.core import Run
        run = Run.get_context()
        rank = os.environ["NODE_RANK"]
        run.log("rank", int(rank))
        foreign = [n for n in os.environ if n.startswith("RAY_") or n in ("OMP_NUM_THREADS", "PYTHONBREAKPOINT")]
        run.log("foreign", ",".join(sorted(foreign)) or "none")
        Path({str(pid_dir)!r}, f"{{run.id}}.{{rank}}").write_text(
            f"{{os.getpid()}} {{os.environ.get('MASTER_ADDR')}}"
        )
        time.sleep({seconds})
        """,
    )
    return pid_dir


def recorded(pid_dir: Path) -> list[tuple[int, str]]:
    """(pid, MASTER_ADDR) of each rank that started, by file name."""
    found = []
    for file in sorted(pid_dir.iterdir()):
        pid, addr = file.read_text().split()
        found.append((int(pid), addr))
    return found


def heartbeats(cluster: AmlCompute, count: int = 1, timeout: float = 30) -> None:
    """Return once every node of ``cluster`` has beaten ``count`` more times: the control
    plane has answered (and its scheduler has passed over the cluster) in between, so what
    it has not done by then it would not have done after a fixed wait either."""
    for beat in range(count):
        before = {node["node_id"]: node["last_heartbeat"] for node in raw_nodes(cluster)}
        wait_until(
            lambda before=before: all(
                node["last_heartbeat"] != before.get(node["node_id"]) for node in raw_nodes(cluster)
            ),
            timeout,
            f"heartbeat {beat + 1} of {count} from every node of {cluster.name}",
        )
