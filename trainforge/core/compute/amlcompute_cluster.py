"""AmlCompute: an autoscaling cluster of nodes, as ``azureml.core.compute.AmlCompute``.

``AmlCompute.provisioning_configuration(...)`` checks the settings the way the SDK does;
``ComputeTarget.create(ws, name, config)`` provisions the cluster. The control plane owns
the cluster: it grows it toward ``max_nodes`` while work waits and releases nodes idle
longer than ``idle_seconds_before_scaledown``, never going below ``min_nodes``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from trainforge.core.compute import compute as _compute
from trainforge.core.compute.amlcompute_provisioning import AmlComputeProvisioningConfiguration
from trainforge.core.compute.amlcompute_status import (
    AmlComputeStatus,
    ScaleSettings,
    service_priority,
)
from trainforge.core.compute.compute import (
    AML_COMPUTE,
    PENDING_STATES,
    ComputeTarget,
    ComputeTargetProvisioningConfiguration,
    checked,
    compute_errors,
    computes_api,
)
from trainforge.core.run import Run, list_runs
from trainforge.exceptions import ComputeTargetException
from trainforge.schemas.compute import ComputeInfo, ComputeUpdate, NodeInfo
from trainforge.schemas.compute_settings import NodeWait
from trainforge.schemas.runs import RunStatus

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

TERMINAL_STATES = ("Failed", "Canceled")


class AmlCompute(ComputeTarget):
    """A managed, autoscaling cluster of nodes, as ``azureml.core.compute.AmlCompute``.

    ``AmlCompute(workspace, name)`` loads an existing cluster (ComputeTargetException when
    there is none). Make one with
    ``ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...))``.

    Attributes besides ComputeTarget's: ``vm_size``, ``vm_priority`` ('Dedicated' |
    'LowPriority', as the service reports it), ``scale_settings`` (ScaleSettings),
    ``admin_username``, ``admin_user_password`` (always None: never returned),
    ``admin_user_ssh_key``, ``vnet_resourcegroup_name``, ``vnet_name``, ``subnet_name``,
    ``remote_login_port_public_access``, ``identity_type``, ``identity_id``,
    ``enable_node_public_ip`` and ``status`` (AmlComputeStatus, refreshed on access).
    """

    _compute_type = AML_COMPUTE

    def _initialize(self, workspace: Workspace, info: ComputeInfo) -> None:
        super()._initialize(workspace, info)
        settings = info.settings
        scale = info.scale_settings
        self.vm_size = info.vm_size
        self.vm_priority = service_priority(info.vm_priority)
        self.scale_settings = ScaleSettings(
            scale.min_nodes, scale.max_nodes, scale.idle_seconds_before_scaledown
        )
        self.admin_username = settings.admin_username
        self.admin_user_password = None
        self.admin_user_ssh_key = settings.admin_user_ssh_key
        self.vnet_resourcegroup_name = settings.vnet_resourcegroup_name
        self.vnet_name = settings.vnet_name
        self.subnet_name = settings.subnet_name
        self.remote_login_port_public_access = settings.remote_login_port_public_access
        self.identity_type = settings.identity_type
        self.identity_id = settings.identity_id
        self.enable_node_public_ip = settings.enable_node_public_ip
        self._status: AmlComputeStatus | None = AmlComputeStatus._from_info(info)

    # -- configuration ----------------------------------------------------------------------
    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int | str | None = 0,
        max_nodes: int | str | None = None,
        idle_seconds_before_scaledown: int | str | None = None,
        admin_username: str | None = None,
        admin_user_password: str | None = None,
        admin_user_ssh_key: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        remote_login_port_public_access: str = "NotSpecified",
        identity_type: str | None = None,
        identity_id: list[str] | str | None = None,
        location: str | None = None,
        enable_node_public_ip: bool = True,
        backend: str = "local",
        ray_address: str | None = None,
        ray_auth_token_path: str | None = None,
    ) -> AmlComputeProvisioningConfiguration:
        """The settings of a new cluster, checked; pass the result to ``ComputeTarget.create``.

        :param vm_size: VM size of every node; '' means 'STANDARD_NC6' (with
            ``backend='ray'``: the size that fits the largest Ray node, chosen by the server).
        :param vm_priority: 'dedicated' or 'lowpriority' (low-priority nodes can be preempted;
            their runs are queued again).
        :param min_nodes: nodes always kept, default 0.
        :param max_nodes: most nodes the cluster grows to, default 4.
        :param idle_seconds_before_scaledown: idle time before a node is released, default
            1800; an int-convertible string such as '300' is accepted.
        :param admin_username: administrator account; needs ``admin_user_password`` (3 of
            lowercase, uppercase, digits, special characters) or ``admin_user_ssh_key``.
        :param vnet_resourcegroup_name: VNet settings, all three of these or none.
        :param remote_login_port_public_access: 'Enabled', 'Disabled' or 'NotSpecified'.
        :param identity_type: None, 'SystemAssigned' or 'UserAssigned' (needs ``identity_id``).
        :param backend: trainforge's own: 'local' (nodes are processes on this machine) or
            'ray' (nodes are Ray actors on the Ray cluster at ``ray_address``; the cluster's
            autoscaler adds Ray nodes for queued work).
        :param ray_address: trainforge's own: the Ray cluster's GCS address (``host:port``),
            required with ``backend='ray'``.
        :param ray_auth_token_path: trainforge's own: the Ray auth token file the server
            connects with (default: Ray's own, ``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``).
        :raises ComputeTargetException: a setting is not allowed; the message names it.
        """
        config = AmlComputeProvisioningConfiguration(
            vm_size=vm_size,
            vm_priority=vm_priority,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown,
            admin_username=admin_username,
            admin_user_password=admin_user_password,
            admin_user_ssh_key=admin_user_ssh_key,
            vnet_resourcegroup_name=vnet_resourcegroup_name,
            vnet_name=vnet_name,
            subnet_name=subnet_name,
            tags=tags,
            description=description,
            remote_login_port_public_access=remote_login_port_public_access,
            identity_type=identity_type,
            identity_id=identity_id,
            location=location,
            enable_node_public_ip=enable_node_public_ip,
            backend=backend,
            ray_address=ray_address,
            ray_auth_token_path=ray_auth_token_path,
        )
        config.validate_configuration()
        return config

    @staticmethod
    def _create(
        workspace: Workspace,
        name: str,
        provisioning_configuration: ComputeTargetProvisioningConfiguration,
    ) -> AmlCompute:
        if not isinstance(provisioning_configuration, AmlComputeProvisioningConfiguration):
            raise ComputeTargetException(
                "provisioning_configuration: expected AmlCompute.provisioning_configuration(...)"
            )
        provisioning_configuration.validate_configuration()
        request = provisioning_configuration._request(name)
        with compute_errors():
            found = computes_api(workspace).create(request)
        cluster = ComputeTarget._from_info(workspace, found)
        cluster._operation_pending = True
        return cluster  # type: ignore[return-value]

    @staticmethod
    def supported_vmsizes(
        workspace: Workspace, location: str | None = None
    ) -> list[dict[str, Any]]:
        """The VM sizes a cluster can use: ``[{'name', 'vCPUs', 'gpus', 'memoryGB',
        'maxResourceVolumeMB'}]``. ``location`` is accepted; every location has the same."""
        with compute_errors():
            found = computes_api(workspace).vm_sizes()
        return [size.model_dump() for size in found]

    # -- status -----------------------------------------------------------------------------
    @property
    def status(self) -> AmlComputeStatus | None:
        """The cluster's AmlComputeStatus, refreshed from the control plane on each access."""
        self.refresh_state()
        return self._status

    def get_status(self) -> AmlComputeStatus | None:
        """Refresh and return the cluster's AmlComputeStatus (``.serialize()`` gives the
        service's dict)."""
        self.refresh_state()
        if self._status is None:
            if self.provisioning_state == "Creating":
                print(
                    "AmlCompute is getting created. Consider calling wait_for_completion() first\n"
                )
            elif self.provisioning_state == "Failed":
                print("AmlCompute is in a failed state, please check the provisioning errors\n")
            else:
                print("Unable to retrieve status for compute.\n")
        return self._status

    def wait_for_completion(  # type: ignore[override]
        self,
        show_output: bool = False,
        min_node_count: int | None = None,
        timeout_in_minutes: float = 25,
        is_delete_operation: bool = False,
    ) -> None:
        """Wait for a pending create, then until the cluster has ``min_node_count`` nodes
        (default: its ``min_nodes``), it reaches a terminal state (Failed, Canceled), it
        reports errors, or ``timeout_in_minutes`` pass. A timeout does not raise.

        With ``is_delete_operation`` wait instead until a deleted cluster is gone.
        """
        if is_delete_operation:
            self._wait_for_deletion(show_output, timeout_in_minutes)
            return
        if self._operation_pending or self.provisioning_state in PENDING_STATES:
            self._wait_for_provisioning(show_output)
        reached, timed_out, terminal, errors = self._wait_for_nodes(
            min_node_count, timeout_in_minutes, show_output
        )
        if not show_output:
            return
        print("AmlCompute wait for completion finished\n")
        reported = (self._status.errors if self._status else None) or self.provisioning_errors
        if reached:
            print("Minimum number of nodes requested have been provisioned")
        elif timed_out:
            print("Wait timeout has been reached")
            print(f'Current provisioning state of AmlCompute is "{self.provisioning_state}"')
            if self._status is not None:
                print(
                    f"Current node count is {self._status.current_node_count} "
                    f"(target {self._status.target_node_count})"
                )
        elif terminal:
            print(f'Terminal state of "{self.provisioning_state}" has been reached')
            if reported:
                print(f"Provisioning errors: {reported}")
        elif errors:
            print(f"There were errors reported from AmlCompute:\n{reported}")

    def _wait_for_nodes(
        self, min_node_count: int | None, timeout_in_minutes: float, show_output: bool
    ) -> tuple[bool, bool, bool, bool]:
        """Poll until enough nodes, a terminal state, errors or the timeout; say which."""
        self.refresh_state()
        requested = checked(NodeWait, {"min_node_count": min_node_count}).min_node_count
        wanted = self.scale_settings.minimum_node_count if requested is None else requested
        deadline = time.monotonic() + 60 * float(timeout_in_minutes)
        shown: int | None = None
        if show_output:
            print(self.provisioning_state, end="", flush=True)
        while True:
            status = self._status
            # Nodes that are ready to take work: preparing or leaving ones are not.
            counts = status.node_state_counts if status else None
            current = (counts.idle_node_count + counts.running_node_count) if counts else 0
            terminal = self.provisioning_state in TERMINAL_STATES
            errors = bool((status.errors if status else None) or self.provisioning_errors)
            reached = self.provisioning_state == "Succeeded" and current >= wanted
            timed_out = time.monotonic() >= deadline
            if reached or terminal or errors or timed_out:
                break
            if show_output:
                if current != shown:
                    shown = current
                    print(
                        f"\nWaiting for cluster to scale. {current} out of {wanted} nodes ready.",
                        end="",
                        flush=True,
                    )
                else:
                    print(".", end="", flush=True)
            time.sleep(_compute.POLL_S)
            self.refresh_state()
        if show_output:
            print()
        return reached, timed_out and not reached, terminal, errors

    # -- changes ----------------------------------------------------------------------------
    def update(
        self,
        min_nodes: int | str | None = None,
        max_nodes: int | str | None = None,
        idle_seconds_before_scaledown: int | str | None = None,
    ) -> None:
        """Change the scale settings of the live cluster; unspecified values are kept and
        nothing happens when all are None. The VM size and priority cannot change."""
        change = checked(
            ComputeUpdate,
            {
                "min_nodes": min_nodes,
                "max_nodes": max_nodes,
                "idle_seconds_before_scaledown": idle_seconds_before_scaledown,
            },
        )
        if not change.model_dump(exclude_none=True):
            return
        with compute_errors():
            found = computes_api(self.workspace).update(self.name, change)
        self._initialize(self.workspace, found)

    # -- nodes and runs ---------------------------------------------------------------------
    def list_nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes: ``[{'nodeId', 'port', 'publicIpAddress', 'privateIpAddress',
        'nodeState', 'runId', 'hostId', 'hostState'}]``; nodeState is 'idle', 'running',
        'preparing', 'unusable', 'leaving' or 'preempted', runId the run a node works on (or
        None); on a Ray cluster hostId is the Ray node holding it and hostState Ray's view of
        it ('pending' while Ray finds room, 'alive', 'dead')."""
        with compute_errors():
            found = computes_api(self.workspace).nodes(self.name)
        return [_node_dict(node) for node in found]

    def preempt_node(self, node_id: str) -> dict[str, Any]:
        """Evict one node of a low-priority cluster, as Azure does (trainforge extension, for
        trying out preemption); its run is queued again. A dedicated cluster raises."""
        with compute_errors():
            found = computes_api(self.workspace).preempt(self.name, node_id)
        return _node_dict(found)

    def get_active_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        status: str | None = None,
    ) -> Iterator[Run]:
        """A generator of the runs on this cluster that have not ended, newest first.

        :param type: only runs of this type (e.g. 'azureml.scriptrun').
        :param tags: a tag name, a list of names, or a {name: value} dict to match.
        :param properties: as ``tags``, for properties.
        :param status: only runs in this status, e.g. 'Running' or 'Queued'.
        """
        for run in list_runs(
            self.workspace,
            tags=tags,
            properties=properties,
            target=self.name,
            status=status,
            type=type,
        ):
            if status is None and RunStatus(run.status).is_terminal:
                continue
            yield run

    # -- serialization ----------------------------------------------------------------------
    def serialize(self) -> dict[str, Any]:
        """The cluster in the service's JSON shape, status included (no password)."""
        result = super().serialize()
        subnet = None
        if self.subnet_name:
            subnet = {
                "id": (
                    f"/subscriptions/{self.workspace.subscription_id}/resourceGroups/"
                    f"{self.vnet_resourcegroup_name}/providers/Microsoft.Network/"
                    f"virtualNetworks/{self.vnet_name}/subnets/{self.subnet_name}"
                )
            }
        result["identity"] = (
            {"type": self.identity_type, "userAssignedIdentities": self.identity_id}
            if self.identity_type
            else None
        )
        result["properties"]["properties"] = {
            "vmSize": self.vm_size,
            "vmPriority": self.vm_priority,
            "scaleSettings": self.scale_settings.serialize(),
            "userAccountCredentials": {
                "adminUserName": self.admin_username,
                "adminUserSshPublicKey": self.admin_user_ssh_key,
                "adminUserPassword": None,
            },
            "subnet": subnet,
            "remoteLoginPortPublicAccess": self.remote_login_port_public_access,
        }
        result["properties"]["status"] = self._status.serialize() if self._status else None
        return result


def _node_dict(node: NodeInfo) -> dict[str, Any]:
    return {
        "nodeId": node.node_id,
        "port": node.port,
        "publicIpAddress": node.public_ip_address,
        "privateIpAddress": node.private_ip_address,
        "nodeState": node.state,
        "runId": node.run_id,
        # trainforge: the host as the backend sees it (on Ray: the Ray node id and whether
        # Ray counts it alive, or 'pending' while Ray finds room for the node).
        "hostId": node.host_id,
        "hostState": node.host_state,
    }


class BatchAiCompute(AmlCompute):
    """The 2018 name of AmlCompute (SDK <= 0.1.74), kept so Batch AI era code runs.

    Its ``provisioning_configuration`` takes the Batch AI arguments and returns the same
    AmlComputeProvisioningConfiguration; clusters it creates are AmlCompute clusters.
    """

    @staticmethod
    def provisioning_configuration(  # type: ignore[override]
        vm_size: str = "",
        vm_priority: str = "dedicated",
        autoscale_enabled: bool = False,
        cluster_min_nodes: int | str | None = 0,
        cluster_max_nodes: int | str | None = None,
        admin_username: str | None = None,
        admin_user_password: str | None = None,
        admin_user_ssh_key: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> AmlComputeProvisioningConfiguration:
        """The legacy settings of a cluster, as AmlCompute's.

        With ``autoscale_enabled`` the cluster scales between ``cluster_min_nodes`` and
        ``cluster_max_nodes``; without it (Batch AI's default) it keeps a fixed size of
        ``cluster_max_nodes`` nodes (or ``cluster_min_nodes``, or 1, when that is not given).
        """
        if autoscale_enabled:
            min_nodes, max_nodes = cluster_min_nodes, cluster_max_nodes
        else:
            size = cluster_max_nodes
            if size is None:
                size = cluster_min_nodes or 1
            min_nodes = max_nodes = size
        return AmlCompute.provisioning_configuration(
            vm_size=vm_size,
            vm_priority=vm_priority,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            admin_username=admin_username,
            admin_user_password=admin_user_password,
            admin_user_ssh_key=admin_user_ssh_key,
            vnet_resourcegroup_name=vnet_resourcegroup_name,
            vnet_name=vnet_name,
            subnet_name=subnet_name,
            tags=tags,
            description=description,
            **kwargs,
        )
