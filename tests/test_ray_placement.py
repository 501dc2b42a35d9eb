"""Placement on Ray: a gang's nodes are one STRICT_SPREAD placement group, Ray's view of
each node shows in list_nodes and get_status, and an unreachable Ray cluster, or a VM size
no Ray node can hold, is an error on the cluster and on its queued runs. A cluster attached
without vm_size is sized from the Ray nodes.

The cluster here starts with a single worker Ray node of 4 CPUs: it could hold two
STANDARD_D2_V2 nodes, so only the placement group keeps a gang's nodes apart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.clusters import counts, delete_clusters, pid_script, recorded, submit
from tests.helpers import wait_until
from tests.ray_cluster import (
    RayCluster,
    add_worker,
    agent_of,
    attach,
    free_port,
    module_cluster,
    raylet_of,
)
from trainforge.core.compute import ComputeTarget, RayCompute

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def one_big_worker() -> Iterator[RayCluster]:
    yield from module_cluster([4])


def test_a_gang_waits_for_distinct_ray_nodes(
    ws, experiment, project, tmp_path, one_big_worker: RayCluster
) -> None:  # type: ignore[no-untyped-def]
    cluster = attach(ws, one_big_worker, f"k{uuid.uuid4().hex[:8]}", max_nodes=2)
    try:
        pid_dir = pid_script(project, tmp_path, 1)
        run = submit(experiment, project, cluster, node_count=2)
        # One Ray node has room for both nodes' CPUs, but STRICT_SPREAD wants two Ray
        # nodes: the group waits, and Ray's view says so.
        wait_until(
            lambda: [n["hostState"] for n in cluster.list_nodes()] == ["pending", "pending"],
            60,
            "both nodes pending in Ray",
        )
        assert counts(cluster)["preparing"] == 2
        time.sleep(3)
        assert run.get_status() == "Queued" and not list(pid_dir.iterdir())
        add_worker(one_big_worker, 2, "second")  # as the autoscaler would
        wait_until(lambda: len(list(pid_dir.iterdir())) == 2, 90, "both ranks to start")
        pids = [pid for pid, _ in recorded(pid_dir)]
        raylets = {raylet.pid for pid in pids if (raylet := raylet_of(pid)) is not None}
        assert len(raylets) == 2, "the two ranks share a Ray node"
        assert len({agent_of(pid).pid for pid in pids}) == 2
        nodes = cluster.list_nodes()
        assert {n["hostState"] for n in nodes} == {"alive"}
        assert len({n["hostId"] for n in nodes}) == 2
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Completed", details.get("error")
    finally:
        delete_clusters(ws, [cluster])


def test_an_unreachable_ray_cluster_fails_queued_runs_with_its_address(
    ws, experiment, project
) -> None:  # type: ignore[no-untyped-def]
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    config = RayCompute.attach_configuration(address=address, vm_size="STANDARD_D2_V2")
    cluster = ComputeTarget.attach(ws, f"k{uuid.uuid4().hex[:8]}", config)
    try:
        (project / "train.py").write_text("print('never runs')\n")
        run = submit(experiment, project, cluster)
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Failed"
        message = details["error"]["error"]["message"]
        assert f"Cannot reach the Ray cluster at {address} (settings.ray_address)" in message
        errors = cluster.get_status().serialize()["errors"]
        assert errors and errors[0]["code"] == "BackendUnavailable"
        assert address in errors[0]["message"]
    finally:
        delete_clusters(ws, [cluster])


def test_a_vm_size_no_ray_node_holds_is_reported_and_fails_its_runs(
    ws, experiment, project, one_big_worker: RayCluster
) -> None:  # type: ignore[no-untyped-def]
    # STANDARD_D4_V2 wants 8 CPUs on one Ray node; the largest Ray node here has 4.
    cluster = attach(ws, one_big_worker, f"k{uuid.uuid4().hex[:8]}", vm_size="STANDARD_D4_V2")
    try:
        (project / "train.py").write_text("print('never runs')\n")
        run = submit(experiment, project, cluster)

        def reported() -> list[dict]:
            errors = cluster.get_status().serialize()["errors"] or []
            return [e for e in errors if e["code"] == "NodeSizeInfeasible"]

        errors = wait_until(reported, 60, "the cluster to report the infeasible size")
        message = errors[0]["message"]
        assert "a STANDARD_D4_V2 node needs 8 CPUs and 0 GPUs on one ray node" in message
        assert "ray reports that demand infeasible" in message
        assert "its largest node is Ray node" in message and "with 4 CPUs" in message
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Failed"
        assert details["error"]["error"]["message"] == message
        assert {"message": message} in details["warnings"]  # said while it waited
    finally:
        delete_clusters(ws, [cluster])


def test_an_attach_without_vm_size_sizes_its_nodes_from_the_ray_nodes(
    ws, experiment, project, one_big_worker: RayCluster
) -> None:  # type: ignore[no-untyped-def]
    cluster = attach(ws, one_big_worker, f"k{uuid.uuid4().hex[:8]}", vm_size=None)
    try:
        # The largest Ray node has 4 CPUs, no GPU and 0.6 GB: the 4-vCPU size with the
        # least memory (none fits in 0.6 GB; memory is not reserved on Ray).
        assert cluster.vm_size == "STANDARD_F4S_V2"
        assert cluster.get_status().vm_size == "STANDARD_F4S_V2"
        (project / "train.py").write_text("print('sized from Ray')\n")
        run = submit(experiment, project, cluster)
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Completed", details.get("error")
        assert [n["nodeState"] for n in cluster.list_nodes()] in (["idle"], ["running"])
        assert not cluster.get_status().serialize()["errors"]
    finally:
        delete_clusters(ws, [cluster])
