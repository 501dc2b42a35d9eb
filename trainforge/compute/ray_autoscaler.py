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
        # Ray counts idle time in minutes; round up so a node never leaves early.
        "idle_timeout_minutes": math.ceil(scaling.idle_seconds_before_scaledown / 6) / 10,
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
