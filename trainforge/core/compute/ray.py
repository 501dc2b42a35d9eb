"""Ray clusters as compute targets: ``RayCompute.attach_configuration(address=...)``.

Not part of the Azure ML SDK: trainforge's own way to run AmlCompute-style clusters on an
existing Ray cluster (one made with ``ray up`` or KubeRay). The attached target behaves as
an AmlCompute cluster whose nodes are Ray actors, one per Ray node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainforge.compute.ray_settings import RAY
from trainforge.core.compute.compute import checked
from trainforge.schemas.compute_settings import RayAttach

if TYPE_CHECKING:
    from trainforge.core.compute.compute import ComputeTarget
    from trainforge.core.workspace import Workspace


class RayComputeAttachConfiguration:
    """What ``ComputeTarget.attach`` needs to attach a Ray cluster; make it with
    ``RayCompute.attach_configuration(...)``."""

    def __init__(
        self,
        address: str,
        vm_size: str | None = None,
        max_nodes: int | None = None,
        min_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        auth_token_path: str | None = None,
    ) -> None:
        self.address = address
        self.vm_size = vm_size
        self.max_nodes = max_nodes
        self.min_nodes = min_nodes
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown
        self.auth_token_path = auth_token_path

    def validate_configuration(self) -> None:
        """Raise ComputeTargetException naming the setting that is not allowed; fill the
        defaults (RayAttach's)."""
        fields = {key: value for key, value in vars(self).items() if value is not None}
        for key, value in checked(RayAttach, fields).model_dump().items():
            setattr(self, key, value)

    def _attach(self, workspace: Workspace, name: str) -> ComputeTarget:
        from trainforge.core.compute.amlcompute import AmlCompute

        self.validate_configuration()
        config = AmlCompute.provisioning_configuration(
            vm_size=self.vm_size,
            min_nodes=self.min_nodes,
            max_nodes=self.max_nodes,
            idle_seconds_before_scaledown=self.idle_seconds_before_scaledown,
            backend=RAY,
            ray_address=self.address,
            ray_auth_token_path=self.auth_token_path,
            description=f"Ray cluster at {self.address}",
        )
        return AmlCompute._create(workspace, name, config)


class RayCompute:
    """Ray clusters as trainforge compute targets (trainforge's own, not in the SDK)."""

    @staticmethod
    def attach_configuration(
        address: str,
        vm_size: str | None = None,
        max_nodes: int | None = None,
        min_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        auth_token_path: str | None = None,
    ) -> RayComputeAttachConfiguration:
        """Settings to attach the Ray cluster at ``address`` with ``ComputeTarget.attach``.

        :param address: the cluster's GCS address, ``host:port``.
        :param vm_size: the size of one node: its vCPUs and GPUs are what each trainforge
            node reserves on its Ray node (one trainforge node per Ray node). Default: the
            server sizes the nodes from the largest live Ray node (the catalog size with its
            GPUs and CPUs, and the most memory that fits); ``vm_size`` then names that size.
        :param max_nodes: most trainforge nodes (Ray nodes) used at once, default 4.
        :param min_nodes: trainforge nodes kept even when idle, default 0.
        :param idle_seconds_before_scaledown: idle time before a trainforge node leaves its
            Ray node (the Ray autoscaler then removes the idle Ray node after its own
            ``idle_timeout_minutes``); default 120.
        :param auth_token_path: the Ray auth token file (default: Ray's own lookup).
        """
        config = RayComputeAttachConfiguration(
            address, vm_size, max_nodes, min_nodes, idle_seconds_before_scaledown, auth_token_path
        )
        config.validate_configuration()
        return config
