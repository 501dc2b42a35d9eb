"""A Ray-backed cluster's scale settings drive Ray's autoscaler (fake multi-node provider).

The autoscaler config is generated from an AmlCompute provisioning configuration; the
Ray backend's pending nodes are the resource demand the autoscaler answers with new Ray
nodes, and Ray nodes left idle are removed after ``idle_seconds_before_scaledown``.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator

import pytest

from tests.conftest import run_python
from tests.ray_cluster import RayCluster, start_autoscaling_cluster
from trainforge.compute.ray_autoscaler import RayScaling, cluster_config, fake_provider
from trainforge.core.compute import AmlCompute

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
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("TRAINFORGE_REQUIRE_SERVICES") == "1":
            raise
        pytest.skip("Ray is not installed (the 'ray' extra)")
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


SCALE = """
    import json, time, sys
    from pathlib import Path
    import ray
    from trainforge.compute.backend import NodeRequest
    from trainforge.compute.ray_backend import RayBackend
    from trainforge.schemas.compute import Resources

    def workers():
        return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU"))

    backend = RayBackend(lambda: ADDRESS)
    handles = []
    before = None
    for i in range(2):
        handles.append(backend.provision_node(NodeRequest(
            workspace_name="ws", compute_name="c", node_id=f"c-n{i}",
            endpoint="http://127.0.0.1:9", agent_token="t", home=Path(TMP),
            node_dir=Path(TMP, f"c-n{i}"), resources=Resources(vcpus=2, memory_gb=1, gpus=0))))
        before = workers() if before is None else before
    started = [backend.started(h.node_id, timeout=90) for h in handles]
    up = workers()
    for h in handles:
        backend.kill(h)
    deadline = time.monotonic() + 90
    while workers() and time.monotonic() < deadline:
        time.sleep(1)
    print("RESULT", json.dumps({"before": before, "up": up, "down": workers(),
                                 "started": [s is not None for s in started]}))
"""


def test_pending_nodes_scale_the_ray_cluster_up_and_idle_nodes_go(
    autoscaling_cluster: RayCluster, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings = {
        "ray_address": autoscaling_cluster.address,
        "ray_auth_token_path": str(autoscaling_cluster.token_path),
    }
    code = (
        textwrap.dedent(SCALE)
        .replace("ADDRESS", repr(settings))
        .replace("TMP", repr(str(tmp_path)))
    )
    env = {k: v for k, v in autoscaling_cluster.env.items() if k.startswith("RAY_AUTH")}
    done = run_python(code, env=env, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[0][7:])
    assert result == {"before": 0, "up": 2, "down": 0, "started": [True, True]}, result
