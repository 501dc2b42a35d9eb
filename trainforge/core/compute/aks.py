"""AksCompute: an AKS cluster as a deployment target (``azureml.core.compute.AksCompute``).

Here an AKS cluster is a node pool: a cluster of ``agent_count`` nodes of ``vm_size`` that
never scales (min_nodes = max_nodes = agent_count), on which AKS-style services place their
replicas (one per node). ``ComputeTarget.create(ws, name,
AksCompute.provisioning_configuration(...))`` makes it as an AmlCompute cluster; the
networking, SSL and load-balancer settings are accepted and change nothing here.
"""

from __future__ import annotations

from typing import Any

from trainforge.core.compute.amlcompute_cluster import AmlCompute
from trainforge.core.compute.amlcompute_provisioning import AmlComputeProvisioningConfiguration
from trainforge.exceptions import ComputeTargetException

# The SDK's defaults: 3 agents of Standard_D3_v2.
DEFAULT_AGENT_COUNT = 3
DEFAULT_VM_SIZE = "STANDARD_D3_V2"


class AksCompute(AmlCompute):
    """An AKS cluster: a fixed pool of nodes for AKS-style services."""

    class ClusterPurpose:
        """``cluster_purpose``: accepted; a dev/test cluster and a production one are the
        same node pool here."""

        FAST_PROD = "FastProd"
        DEV_TEST = "DevTest"

    @staticmethod
    def provisioning_configuration(  # type: ignore[override]
        agent_count: int | None = None,
        vm_size: str | None = None,
        ssl_cname: str | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        location: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        service_cidr: str | None = None,
        dns_service_ip: str | None = None,
        docker_bridge_cidr: str | None = None,
        cluster_purpose: str | None = None,
        load_balancer_type: str | None = None,
        load_balancer_subnet: str | None = None,
        **kept: Any,
    ) -> AmlComputeProvisioningConfiguration:
        """The node pool's settings: ``agent_count`` nodes (3) of ``vm_size``
        (Standard_D3_v2), always up."""
        count = DEFAULT_AGENT_COUNT if agent_count is None else agent_count
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ComputeTargetException(
                f"agent_count: {agent_count!r} must be a whole number of 1 or more"
            )
        purpose = cluster_purpose or AksCompute.ClusterPurpose.FAST_PROD
        if purpose not in (AksCompute.ClusterPurpose.FAST_PROD, AksCompute.ClusterPurpose.DEV_TEST):
            raise ComputeTargetException(
                f"cluster_purpose: {cluster_purpose!r} is neither 'FastProd' nor 'DevTest'"
            )
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size or DEFAULT_VM_SIZE,
            min_nodes=count,
            max_nodes=count,
            vnet_resourcegroup_name=vnet_resourcegroup_name,
            vnet_name=vnet_name,
            subnet_name=subnet_name,
            location=location,
            description=f"AKS-style node pool ({purpose}) for AKS web services",
        )
