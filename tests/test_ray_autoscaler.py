"""A Ray-backed cluster's scale settings drive Ray's autoscaler (fake multi-node provider).

The autoscaler config is generated from an AmlCompute provisioning configuration; a
queued gang's placement group is the resource demand the autoscaler answers with new Ray
nodes, and Ray nodes left idle are removed after ``idle_seconds_before_scaledown``. The
whole path runs through the server: a Ray-backed AmlCompute and a submitted run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.clusters import counts, delete_clusters, pid_script, recorded, submit
from tests.helpers import wait_until
from tests.ray_cluster import RayCluster, require_ray, start_autoscaling_cluster
from trainforge.compute.ray_autoscaler import RayScaling, cluster_config, fake_provider
from trainforge.core.compute import AmlCompute, ComputeTarget

pytestmark = pytest.mark.slow


@pytest.fixture
def scaling() -> RayScaling:
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2",
        min_nodes=0,
        max_nodes=2,
        idle_seconds_before_scaledown=6,
        backend="ray",
        ray_address="127.0.0.1:1",
    )
    return RayScaling(
        vm_size=config.vm_size,
        min_nodes=config.min_nodes,
        max_nodes=config.max_nodes,
        idle_seconds_before_scaledown=config.idle_seconds_before_scaledown,
    )


@pytest.fixture
def autoscaling_cluster(scaling: RayScaling) -> Iterator[RayCluster]:
    require_ray()
    cluster = start_autoscaling_cluster(cluster_config(scaling, fake_provider()))
    yield cluster
    cluster.stop()


def test_settings_map_to_a_node_type(scaling: RayScaling) -> None:
    config = cluster_config(scaling, fake_provider())
    assert config["max_workers"] == 2
    assert config["idle_timeout_minutes"] == 0.1
    assert config["available_node_types"]["trainforge.standard_d2_v2"] == {
        "resources": {"CPU": 2},
        "node_config": {},
        "min_workers": 0,
        "max_workers": 2,
    }
    with pytest.raises(ValueError, match="vm_size: STANDARD_NOPE"):
        cluster_config(scaling.model_copy(update={"vm_size": "STANDARD_NOPE"}), fake_provider())


def ray_workers(cluster: RayCluster) -> int:
    """Worker Ray nodes the autoscaler started (raylets; the head has its own too)."""
    return len([p for p in cluster.processes() if p.name().startswith("raylet")]) - 1


def test_queued_work_scales_the_ray_cluster_up_and_idle_nodes_go(
    autoscaling_cluster: RayCluster, scaling: RayScaling, ws, experiment, project, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    config = AmlCompute.provisioning_configuration(
        vm_size=scaling.vm_size,
        min_nodes=scaling.min_nodes,
        max_nodes=scaling.max_nodes,
        idle_seconds_before_scaledown=scaling.idle_seconds_before_scaledown,
        backend="ray",
        ray_address=autoscaling_cluster.address,
        ray_auth_token_path=str(autoscaling_cluster.token_path),
    )
    cluster = ComputeTarget.create(ws, f"k{uuid.uuid4().hex[:8]}", config)
    try:
        assert ray_workers(autoscaling_cluster) == 0
        pid_dir = pid_script(project, tmp_path, 1)
        run = submit(experiment, project, cluster, node_count=2)
        # The gang's placement group is the demand: the autoscaler adds two Ray nodes.
        details = run.wait_for_completion(raise_on_error=False)
        assert details["status"] == "Completed", details.get("error")
        # Ray called the group infeasible until the autoscaler's nodes came: not an error.
        assert not [w for w in details.get("warnings", []) if "infeasible" in w["message"]]
        pids = [pid for pid, _ in recorded(pid_dir)]
        assert len(pids) == 2
        assert ray_workers(autoscaling_cluster) == 2
        # Idle for idle_seconds_before_scaledown: trainforge lets the nodes go (their
        # placement group is removed), then Ray's idle timeout removes the Ray nodes.
        wait_until(lambda: counts(cluster)["current"] == 0, 60, "the nodes to leave")
        wait_until(lambda: ray_workers(autoscaling_cluster) == 0, 120, "the Ray nodes to go")
    finally:
        delete_clusters(ws, [cluster])


def test_the_cli_prints_ray_up_and_kuberay_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from tests.cli import cli

    args = ["compute", "ray-config", "--vm-size", "STANDARD_NC6", "--max-nodes", "3"]
    ray_up = yaml.safe_load(cli(tmp_path, *args, "--idle-seconds", "300").stdout)
    assert ray_up["max_workers"] == 3 and ray_up["idle_timeout_minutes"] == 5.0
    assert ray_up["available_node_types"]["trainforge.standard_nc6"]["resources"] == {
        "CPU": 6,
        "GPU": 1,
    }
    spec = yaml.safe_load(cli(tmp_path, *args, "--kuberay", "me/trainforge:1").stdout)
    (group,) = spec["workerGroupSpecs"]
    assert (group["minReplicas"], group["maxReplicas"]) == (0, 3)
    assert group["rayStartParams"] == {"num-cpus": "6", "num-gpus": "1"}
    (container,) = group["template"]["spec"]["containers"]
    assert container["image"] == "me/trainforge:1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["autoscalerOptions"] == {"idleTimeoutSeconds": 1800}
    refused = cli(tmp_path, "compute", "ray-config", "--vm-size", "STANDARD_NOPE")
    assert refused.returncode != 0 and "vm_size: STANDARD_NOPE" in refused.stderr + refused.stdout
