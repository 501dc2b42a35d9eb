"""The Ray autoscaler settings of a Ray-backed cluster.

A cluster's ``vm_size`` becomes a Ray node type whose resources are the VM size's
vCPUs and GPUs (what one trainforge node reserves), ``min_nodes``/``max_nodes`` become
that type's ``min_workers``/``max_workers``, and ``idle_seconds_before_scaledown`` the
autoscaler's ``idle_timeout_minutes``. Merge the result into a ``ray up`` cluster YAML
(``available_node_types``, ``max_workers``, ``idle_timeout_minutes``) or a KubeRay
``workerGroupSpecs`` entry; tests run it with Ray's fake multi-node provider.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from trainforge.compute import vm_sizes

HEAD_NODE_TYPE = "ray.head.default"


class RayScaling(BaseModel):
    """The scale settings of a cluster, as the SDK takes them."""

    vm_size: str
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=0)
    idle_seconds_before_scaledown: int = Field(ge=0)


def node_type_name(vm_size: str) -> str:
    return f"trainforge.{vm_size.lower()}"


def node_type(scaling: RayScaling) -> dict[str, Any]:
    """The Ray node type of one trainforge node of ``scaling.vm_size``."""
    if not vm_sizes.is_known(scaling.vm_size):
        raise ValueError(f"vm_size: {scaling.vm_size} is not a VM size trainforge knows")
    size = next(s for s in vm_sizes.catalog() if s.name == scaling.vm_size.upper())
    resources: dict[str, int] = {"CPU": size.vCPUs}
    if size.gpus:
        resources["GPU"] = size.gpus
    return {
        "resources": resources,
        "node_config": {},
        "min_workers": scaling.min_nodes,
        "max_workers": scaling.max_nodes,
    }


def idle_timeout_minutes(scaling: RayScaling) -> float:
    # Ray counts idle time in minutes; round up so a node never leaves early.
    return math.ceil(scaling.idle_seconds_before_scaledown / 6) / 10


def ray_up_fragment(scaling: RayScaling) -> dict[str, Any]:
    """The keys to merge into a ``ray up`` cluster YAML (next to its own provider and head
    node type): the worker node type of the cluster's VM size, its bounds, the idle timeout."""
    return {
        "max_workers": scaling.max_nodes,
        "idle_timeout_minutes": idle_timeout_minutes(scaling),
        "available_node_types": {node_type_name(scaling.vm_size): node_type(scaling)},
    }


def kuberay_fragment(scaling: RayScaling, image: str) -> dict[str, Any]:
    """The keys to merge into a KubeRay ``RayCluster.spec``: in-tree autoscaling with the
    idle timeout, and one worker group of the VM size whose pods run ``image`` (an image
    with Ray 2.60 and trainforge installed)."""
    resources = node_type(scaling)["resources"]
    size = next(s for s in vm_sizes.catalog() if s.name == scaling.vm_size.upper())
    limits: dict[str, str] = {"cpu": str(resources["CPU"]), "memory": f"{int(size.memoryGB)}Gi"}
    if "GPU" in resources:
        limits["nvidia.com/gpu"] = str(resources["GPU"])
    return {
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": {"idleTimeoutSeconds": scaling.idle_seconds_before_scaledown},
        "workerGroupSpecs": [
            {
                "groupName": node_type_name(scaling.vm_size).replace(".", "-").replace("_", "-"),
                "replicas": scaling.min_nodes,
                "minReplicas": scaling.min_nodes,
                "maxReplicas": scaling.max_nodes,
                "rayStartParams": {
                    "num-cpus": str(resources["CPU"]),
                    "num-gpus": str(resources.get("GPU", 0)),
                },
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-worker",
                                "image": image,
                                "resources": {"limits": limits, "requests": dict(limits)},
                            }
                        ]
                    }
                },
            }
        ],
    }


def cluster_config(
    scaling: RayScaling,
    provider: dict[str, Any],
    cluster_name: str = "trainforge",
    head_resources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Ray cluster config (as ``ray up`` or ``ray start --autoscaling-config`` reads it)
    whose workers are the trainforge nodes of ``scaling``."""
    return {
        "cluster_name": cluster_name,
        "max_workers": scaling.max_nodes,
        "idle_timeout_minutes": idle_timeout_minutes(scaling),
        "upscaling_speed": 1.0,
        "provider": provider,
        "head_node_type": HEAD_NODE_TYPE,
        "available_node_types": {
            HEAD_NODE_TYPE: {
                # The head runs no trainforge node: it gets no CPUs.
                "resources": head_resources or {"CPU": 0},
                "node_config": {},
                "max_workers": 0,
            },
            node_type_name(scaling.vm_size): node_type(scaling),
        },
        "auth": {"ssh_user": "ray"},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def fake_provider() -> dict[str, Any]:
    """Ray's fake multi-node provider: Ray nodes as local processes (tests, trying out)."""
    return {
        "type": "fake_multinode",
        "use_node_id_as_ip": True,
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
    }
