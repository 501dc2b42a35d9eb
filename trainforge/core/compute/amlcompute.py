"""AmlCompute: an autoscaling cluster of nodes, as ``azureml.core.compute.AmlCompute``.

``AmlCompute.provisioning_configuration(...)`` checks the settings the way the SDK does;
``ComputeTarget.create(ws, name, config)`` provisions the cluster. The control plane owns
the cluster: it grows it toward ``max_nodes`` while work waits and releases nodes idle
longer than ``idle_seconds_before_scaledown``, never going below ``min_nodes``.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from trainforge.compute import registry
from trainforge.core.compute import compute as _compute
from trainforge.core.compute.compute import (
    PENDING_STATES,
    ComputeTarget,
    ComputeTargetProvisioningConfiguration,
    compute_errors,
    computes_path,
)
from trainforge.core.compute.ray import ray_settings
from trainforge.exceptions import ComputeTargetException
from trainforge.schemas.compute import ComputeInfo, NodeInfo, VmSize

if TYPE_CHECKING:
    from trainforge.core.run import Run
    from trainforge.core.workspace import Workspace

DEFAULT_VM_SIZE = "STANDARD_NC6"
# The SDK's docstring says max_nodes defaults to 4 (its validation then refuses None);
# trainforge takes the documented default.
DEFAULT_MAX_NODES = 4
DEFAULT_IDLE_SECONDS = 1800
VM_PRIORITIES = ("dedicated", "lowpriority")
SERVICE_PRIORITIES = {"dedicated": "Dedicated", "lowpriority": "LowPriority"}
REMOTE_LOGIN_VALUES = ("Enabled", "Disabled", "NotSpecified")
IDENTITY_TYPES = ("SystemAssigned", "UserAssigned")
TERMINAL_STATES = ("Failed", "Canceled")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _as_int(value: Any, argument: str, what: str) -> int:
    """``value`` as an int of 0 or more; int-convertible strings ('300') are accepted."""
    result: int | None = None
    if isinstance(value, bool):
        result = None
    elif isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip())
        except ValueError:
            result = None
    if result is None:
        raise ComputeTargetException(
            f"Invalid {argument} {value!r}: expected a whole number of {what} "
            "(an int, or a string such as '300')"
        )
    if result < 0:
        raise ComputeTargetException(f"Invalid {argument} {value!r}: it must be 0 or more")
    return result


def _choice(value: Any, argument: str, allowed: tuple[str, ...]) -> str:
    """The allowed value that ``value`` names, compared case-insensitively."""
    if isinstance(value, str):
        for option in allowed:
            if value.lower() == option.lower():
                return option
    quoted = [f"'{option}'" for option in allowed]
    listed = f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    raise ComputeTargetException(f"Invalid {argument} {value!r}: allowed values are {listed}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _duration_seconds(value: Any) -> int | None:
    """Seconds in an ISO-8601 duration such as 'PT1800S' or 'PT30M'; ints pass through."""
    if value is None or isinstance(value, int):
        return value
    match = _DURATION.fullmatch(str(value))
    if not match:
        raise ComputeTargetException(
            f"Invalid nodeIdleTimeBeforeScaleDown {value!r}: expected an ISO-8601 duration "
            "such as 'PT1800S'"
        )
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _service_priority(vm_priority: str) -> str:
    return SERVICE_PRIORITIES.get(vm_priority.lower(), vm_priority)


# -- status objects ------------------------------------------------------------------------
class ScaleSettings:
    """How an AmlCompute cluster scales: node-count bounds and the idle time before scale-down.

    ``minimum_node_count`` nodes are always kept; the cluster grows up to
    ``maximum_node_count`` while work waits; a node idle for
    ``idle_seconds_before_scaledown`` seconds is released.
    """

    def __init__(
        self,
        minimum_node_count: int,
        maximum_node_count: int,
        idle_seconds_before_scaledown: int,
    ) -> None:
        self.minimum_node_count = minimum_node_count
        self.maximum_node_count = maximum_node_count
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown

    def serialize(self) -> dict[str, Any]:
        """``{'minNodeCount', 'maxNodeCount', 'nodeIdleTimeBeforeScaleDown': 'PT<n>S'}``."""
        idle = self.idle_seconds_before_scaledown
        return {
            "minNodeCount": self.minimum_node_count,
            "maxNodeCount": self.maximum_node_count,
            "nodeIdleTimeBeforeScaleDown": None if idle is None else f"PT{idle}S",
        }

    @staticmethod
    def deserialize(object_dict: dict[str, Any] | None) -> ScaleSettings | None:
        """ScaleSettings from the service's dict (``serialize()``'s shape); None for None."""
        if not object_dict:
            return None
        return ScaleSettings(
            object_dict.get("minNodeCount"),  # type: ignore[arg-type]
            object_dict.get("maxNodeCount"),  # type: ignore[arg-type]
            _duration_seconds(object_dict.get("nodeIdleTimeBeforeScaleDown")),  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return (
            f"ScaleSettings(minimum_node_count={self.minimum_node_count}, "
            f"maximum_node_count={self.maximum_node_count}, "
            f"idle_seconds_before_scaledown={self.idle_seconds_before_scaledown})"
        )


class AmlComputeNodeStateCounts:
    """How many nodes of a cluster are in each node state."""

    _KEYS = (
        ("preparing_node_count", "preparingNodeCount", "preparing"),
        ("running_node_count", "runningNodeCount", "running"),
        ("idle_node_count", "idleNodeCount", "idle"),
        ("unusable_node_count", "unusableNodeCount", "unusable"),
        ("leaving_node_count", "leavingNodeCount", "leaving"),
        ("preempted_node_count", "preemptedNodeCount", "preempted"),
    )

    def __init__(
        self,
        idle_node_count: int = 0,
        leaving_node_count: int = 0,
        preempted_node_count: int = 0,
        preparing_node_count: int = 0,
        running_node_count: int = 0,
        unusable_node_count: int = 0,
    ) -> None:
        self.idle_node_count = idle_node_count
        self.leaving_node_count = leaving_node_count
        self.preempted_node_count = preempted_node_count
        self.preparing_node_count = preparing_node_count
        self.running_node_count = running_node_count
        self.unusable_node_count = unusable_node_count

    def serialize(self) -> dict[str, int]:
        """``{'preparingNodeCount', 'runningNodeCount', 'idleNodeCount', 'unusableNodeCount',
        'leavingNodeCount', 'preemptedNodeCount'}``."""
        return {key: getattr(self, attribute) for attribute, key, _ in self._KEYS}

    @staticmethod
    def deserialize(object_dict: dict[str, Any] | None) -> AmlComputeNodeStateCounts | None:
        """Counts from the service's camelCase dict; None for None."""
        if object_dict is None:
            return None
        return AmlComputeNodeStateCounts(
            **{
                attribute: object_dict.get(key, 0)
                for attribute, key, _ in AmlComputeNodeStateCounts._KEYS
            }
        )

    @staticmethod
    def _from_counts(counts: Any) -> AmlComputeNodeStateCounts:
        return AmlComputeNodeStateCounts(
            **{
                attribute: getattr(counts, state)
                for attribute, _, state in AmlComputeNodeStateCounts._KEYS
            }
        )

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{attribute}={getattr(self, attribute)}" for attribute, _, _ in self._KEYS
        )
        return f"AmlComputeNodeStateCounts({inner})"


class AmlComputeStatus:
    """The detailed status of an AmlCompute cluster, as ``AmlCompute.get_status()`` returns it.

    Attributes: ``allocation_state`` ('Steady' | 'Resizing'),
    ``allocation_state_transition_time``, ``creation_time``, ``current_node_count``,
    ``errors`` (list or None), ``modified_time``, ``node_state_counts``
    (AmlComputeNodeStateCounts), ``provisioning_state``,
    ``provisioning_state_transition_time``, ``scale_settings`` (ScaleSettings),
    ``target_node_count``, ``vm_priority`` ('Dedicated' | 'LowPriority'), ``vm_size``.
    Times are timezone-aware datetimes.
    """

    def __init__(
        self,
        allocation_state: str | None,
        allocation_state_transition_time: datetime | None,
        creation_time: datetime | None,
        current_node_count: int | None,
        errors: list[dict[str, Any]] | None,
        modified_time: datetime | None,
        node_state_counts: AmlComputeNodeStateCounts | None,
        provisioning_state: str | None,
        provisioning_state_transition_time: datetime | None,
        scale_settings: ScaleSettings | None,
        target_node_count: int | None,
        vm_priority: str | None,
        vm_size: str | None,
    ) -> None:
        self.allocation_state = allocation_state
        self.allocation_state_transition_time = allocation_state_transition_time
        self.creation_time = creation_time
        self.current_node_count = current_node_count
        self.errors = errors
        self.modified_time = modified_time
        self.node_state_counts = node_state_counts
        self.provisioning_state = provisioning_state
        self.provisioning_state_transition_time = provisioning_state_transition_time
        self.scale_settings = scale_settings
        self.target_node_count = target_node_count
        self.vm_priority = vm_priority
        self.vm_size = vm_size

    def serialize(self) -> dict[str, Any]:
        """The status in the service's JSON shape (camelCase keys, ISO-8601 times)."""
        return {
            "currentNodeCount": self.current_node_count,
            "targetNodeCount": self.target_node_count,
            "nodeStateCounts": (
                self.node_state_counts.serialize() if self.node_state_counts else None
            ),
            "allocationState": self.allocation_state,
            "allocationStateTransitionTime": _iso(self.allocation_state_transition_time),
            "errors": self.errors,
            "creationTime": _iso(self.creation_time),
            "modifiedTime": _iso(self.modified_time),
            "provisioningState": self.provisioning_state,
            "provisioningStateTransitionTime": _iso(self.provisioning_state_transition_time),
            "scaleSettings": self.scale_settings.serialize() if self.scale_settings else None,
            "vmPriority": self.vm_priority,
            "vmSize": self.vm_size,
        }

    @staticmethod
    def deserialize(object_dict: dict[str, Any] | None) -> AmlComputeStatus | None:
        """A status from ``serialize()``'s dict; None for None."""
        if object_dict is None:
            return None
        return AmlComputeStatus(
            allocation_state=object_dict.get("allocationState"),
            allocation_state_transition_time=_parse_time(
                object_dict.get("allocationStateTransitionTime")
            ),
            creation_time=_parse_time(object_dict.get("creationTime")),
            current_node_count=object_dict.get("currentNodeCount"),
            errors=object_dict.get("errors"),
            modified_time=_parse_time(object_dict.get("modifiedTime")),
            node_state_counts=AmlComputeNodeStateCounts.deserialize(
                object_dict.get("nodeStateCounts")
            ),
            provisioning_state=object_dict.get("provisioningState"),
            provisioning_state_transition_time=_parse_time(
                object_dict.get("provisioningStateTransitionTime")
            ),
            scale_settings=ScaleSettings.deserialize(object_dict.get("scaleSettings")),
            target_node_count=object_dict.get("targetNodeCount"),
            vm_priority=object_dict.get("vmPriority"),
            vm_size=object_dict.get("vmSize"),
        )

    @staticmethod
    def _from_info(info: ComputeInfo | dict[str, Any]) -> AmlComputeStatus:
        """The status from the control plane's ComputeInfo (a model or its JSON dict)."""
        if not isinstance(info, ComputeInfo):
            info = ComputeInfo.model_validate(info)
        status = info.status
        scale = info.scale_settings
        return AmlComputeStatus(
            allocation_state=status.allocation_state,
            allocation_state_transition_time=status.allocation_state_transition_time,
            creation_time=info.created,
            current_node_count=status.current_node_count,
            errors=status.errors or None,
            modified_time=info.modified,
            node_state_counts=AmlComputeNodeStateCounts._from_counts(status.node_state_counts),
            provisioning_state=info.provisioning_state,
            # ComputeInfo has no time of the last provisioning change; 'modified' is the
            # nearest the control plane reports.
            provisioning_state_transition_time=info.modified,
            scale_settings=ScaleSettings(
                scale.min_nodes, scale.max_nodes, scale.idle_seconds_before_scaledown
            ),
            target_node_count=status.target_node_count,
            vm_priority=_service_priority(info.vm_priority),
            vm_size=info.vm_size,
        )

    def __repr__(self) -> str:
        return f"AmlComputeStatus({self.serialize()!r})"


# -- provisioning configuration ------------------------------------------------------------
class AmlComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    """The settings of a new AmlCompute cluster; make it with
    ``AmlCompute.provisioning_configuration(...)`` and pass it to ``ComputeTarget.create``.

    Only the VM size, priority and scale settings shape a trainforge cluster; the
    administrator account, VNet, identity, remote-login and public-IP settings are
    accepted, checked and recorded (a password is never stored, only whether one was given).
    """

    def __init__(
        self,
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
    ) -> None:
        super().__init__(AmlCompute, location)
        self.backend = backend
        self.ray_address = ray_address
        self.ray_auth_token_path = ray_auth_token_path
        self.vm_size = vm_size
        self.vm_priority = vm_priority
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown
        self.admin_username = admin_username
        self.admin_user_password = admin_user_password
        self.admin_user_ssh_key = admin_user_ssh_key
        self.vnet_resourcegroup_name = vnet_resourcegroup_name
        self.vnet_name = vnet_name
        self.subnet_name = subnet_name
        self.tags = tags
        self.description = description
        self.remote_login_port_public_access = remote_login_port_public_access
        self.identity_type = identity_type
        self.identity_id = identity_id
        self.enable_node_public_ip = enable_node_public_ip

    def validate_configuration(self) -> None:
        """Check every setting, filling the defaults; raise ComputeTargetException naming
        the argument that is not allowed, and what is."""
        self._validate_backend()
        if self.vm_size is None or self.vm_size == "":
            # trainforge's own: the server sizes a Ray-backed cluster's nodes from its Ray nodes.
            sized = registry.backend_class(self.backend).sizes_from_hosts
            self.vm_size = None if sized else DEFAULT_VM_SIZE
        if self.vm_size is not None and (
            not isinstance(self.vm_size, str) or not self.vm_size.strip()
        ):
            raise ComputeTargetException(
                f"Invalid vm_size {self.vm_size!r}: expected a VM size name such as "
                "'STANDARD_D2_V2' (AmlCompute.supported_vmsizes(ws) lists them)"
            )
        self.vm_priority = _choice(
            "dedicated" if self.vm_priority is None else self.vm_priority,
            "vm_priority",
            VM_PRIORITIES,
        )
        self.min_nodes = (
            0 if self.min_nodes is None else _as_int(self.min_nodes, "min_nodes", "nodes")
        )
        self.max_nodes = (
            DEFAULT_MAX_NODES
            if self.max_nodes is None
            else _as_int(self.max_nodes, "max_nodes", "nodes")
        )
        if self.max_nodes < self.min_nodes:
            raise ComputeTargetException(
                f"Invalid max_nodes {self.max_nodes}: it must be at least min_nodes "
                f"({self.min_nodes})"
            )
        self.idle_seconds_before_scaledown = (
            DEFAULT_IDLE_SECONDS
            if self.idle_seconds_before_scaledown is None
            else _as_int(
                self.idle_seconds_before_scaledown, "idle_seconds_before_scaledown", "seconds"
            )
        )
        self._validate_vnet()
        self._validate_admin()
        self.remote_login_port_public_access = _choice(
            "NotSpecified"
            if self.remote_login_port_public_access is None
            else self.remote_login_port_public_access,
            "remote_login_port_public_access",
            REMOTE_LOGIN_VALUES,
        )
        self._validate_identity()
        if self.tags is not None and not isinstance(self.tags, dict):
            raise ComputeTargetException(
                f"Invalid tags {self.tags!r}: expected a dict of string keys and values"
            )
        if self.description is not None and not isinstance(self.description, str):
            raise ComputeTargetException(
                f"Invalid description {self.description!r}: expected a string"
            )
        if not isinstance(self.enable_node_public_ip, bool):
            raise ComputeTargetException(
                f"Invalid enable_node_public_ip {self.enable_node_public_ip!r}: expected True "
                "or False"
            )

    def _validate_backend(self) -> None:
        self.backend = _choice(self.backend, "backend", tuple(registry.names()))
        try:
            registry.check_settings(
                self.backend, ray_settings(self.ray_address, self.ray_auth_token_path)
            )
        except registry.BackendSettingsError as exc:
            raise ComputeTargetException(exc.sdk_message) from None

    def _validate_vnet(self) -> None:
        names = ("vnet_resourcegroup_name", "vnet_name", "subnet_name")
        given = [name for name in names if getattr(self, name)]
        if given and len(given) != len(names):
            missing = [name for name in names if name not in given]
            raise ComputeTargetException(
                "Invalid VNet settings: vnet_resourcegroup_name, vnet_name and subnet_name "
                f"must be given together or not at all; missing: {', '.join(missing)}"
            )

    def _validate_admin(self) -> None:
        if self.admin_username:
            if not (self.admin_user_password or self.admin_user_ssh_key):
                raise ComputeTargetException(
                    f"Invalid admin_username {self.admin_username!r}: an administrator "
                    "account needs admin_user_password or admin_user_ssh_key"
                )
        elif self.admin_user_password or self.admin_user_ssh_key:
            given = "admin_user_password" if self.admin_user_password else "admin_user_ssh_key"
            raise ComputeTargetException(f"admin_username is required when {given} is given")
        password = self.admin_user_password
        if password:
            if not isinstance(password, str):
                raise ComputeTargetException("Invalid admin_user_password: expected a string")
            classes = (
                any(c.islower() for c in password),
                any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(c in string.punctuation or not c.isalnum() for c in password),
            )
            if sum(classes) < 3:
                raise ComputeTargetException(
                    "Invalid admin_user_password: it must contain characters of at least 3 "
                    "of these 4 kinds: lowercase letters, uppercase letters, digits and "
                    "special characters"
                )

    def _validate_identity(self) -> None:
        if self.identity_type is None:
            return
        self.identity_type = _choice(self.identity_type, "identity_type", IDENTITY_TYPES)
        if isinstance(self.identity_id, str):
            self.identity_id = [self.identity_id]
        if self.identity_type == "UserAssigned" and not self.identity_id:
            raise ComputeTargetException(
                "identity_id is required when identity_type is 'UserAssigned': give the "
                "resource ids of the user-assigned identities"
            )

    def _settings(self) -> dict[str, object]:
        """The SDK settings a local cluster records but does not act on (no password)."""
        return {
            "admin_username": self.admin_username,
            "admin_user_password_set": bool(self.admin_user_password),
            "admin_user_ssh_key": self.admin_user_ssh_key,
            "vnet_resourcegroup_name": self.vnet_resourcegroup_name,
            "vnet_name": self.vnet_name,
            "subnet_name": self.subnet_name,
            "remote_login_port_public_access": self.remote_login_port_public_access,
            "identity_type": self.identity_type,
            "identity_id": self.identity_id,
            "location": self.location,
            "enable_node_public_ip": self.enable_node_public_ip,
            **ray_settings(self.ray_address, self.ray_auth_token_path),
        }

    def _to_body(self, name: str) -> dict[str, Any]:
        """The ComputeCreate request for a cluster ``name`` (validate first)."""
        return {
            "name": name,
            "compute_type": AmlCompute._compute_type,
            "backend": self.backend,
            "vm_size": self.vm_size,
            "vm_priority": self.vm_priority,
            "scale_settings": {
                "min_nodes": self.min_nodes,
                "max_nodes": self.max_nodes,
                "idle_seconds_before_scaledown": self.idle_seconds_before_scaledown,
            },
            "tags": dict(self.tags or {}),
            "description": self.description,
            "settings": self._settings(),
        }

    def __repr__(self) -> str:
        return (
            f"AmlComputeProvisioningConfiguration(vm_size={self.vm_size!r}, "
            f"vm_priority={self.vm_priority!r}, min_nodes={self.min_nodes!r}, "
            f"max_nodes={self.max_nodes!r}, "
            f"idle_seconds_before_scaledown={self.idle_seconds_before_scaledown!r})"
        )


# -- the cluster ---------------------------------------------------------------------------
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

    _compute_type = "AmlCompute"

    def _initialize(self, workspace: Workspace, info: ComputeInfo) -> None:
        super()._initialize(workspace, info)
        settings = info.settings
        scale = info.scale_settings
        self.vm_size = info.vm_size
        self.vm_priority = _service_priority(info.vm_priority)
        self.scale_settings = ScaleSettings(
            scale.min_nodes, scale.max_nodes, scale.idle_seconds_before_scaledown
        )
        self.admin_username = settings.get("admin_username")
        self.admin_user_password = None
        self.admin_user_ssh_key = settings.get("admin_user_ssh_key")
        self.vnet_resourcegroup_name = settings.get("vnet_resourcegroup_name")
        self.vnet_name = settings.get("vnet_name")
        self.subnet_name = settings.get("subnet_name")
        self.remote_login_port_public_access = settings.get(
            "remote_login_port_public_access", "NotSpecified"
        )
        self.identity_type = settings.get("identity_type")
        self.identity_id = settings.get("identity_id")
        self.enable_node_public_ip = settings.get("enable_node_public_ip", True)
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
        with compute_errors():
            found = workspace._client.post(
                computes_path(workspace), provisioning_configuration._to_body(name)
            )
        cluster = ComputeTarget._from_info(workspace, ComputeInfo.model_validate(found))
        cluster._operation_pending = True
        return cluster  # type: ignore[return-value]

    @staticmethod
    def supported_vmsizes(
        workspace: Workspace, location: str | None = None
    ) -> list[dict[str, Any]]:
        """The VM sizes a cluster can use: ``[{'name', 'vCPUs', 'gpus', 'memoryGB',
        'maxResourceVolumeMB'}]``. ``location`` is accepted; every location has the same."""
        with compute_errors():
            found = workspace._client.get("/vm-sizes")
        return [VmSize.model_validate(item).model_dump() for item in found]

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
        wanted = (
            self.scale_settings.minimum_node_count
            if min_node_count is None
            else _as_int(min_node_count, "min_node_count", "nodes")
        )
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
        body: dict[str, int] = {}
        if min_nodes is not None:
            body["min_nodes"] = _as_int(min_nodes, "min_nodes", "nodes")
        if max_nodes is not None:
            body["max_nodes"] = _as_int(max_nodes, "max_nodes", "nodes")
        if idle_seconds_before_scaledown is not None:
            body["idle_seconds_before_scaledown"] = _as_int(
                idle_seconds_before_scaledown, "idle_seconds_before_scaledown", "seconds"
            )
        if not body:
            return
        with compute_errors():
            found = self.workspace._client.patch(computes_path(self.workspace, self.name), body)
        self._initialize(self.workspace, ComputeInfo.model_validate(found))

    # -- nodes and runs ---------------------------------------------------------------------
    def list_nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes: ``[{'nodeId', 'port', 'publicIpAddress', 'privateIpAddress',
        'nodeState', 'runId', 'hostId', 'hostState'}]``; nodeState is 'idle', 'running',
        'preparing', 'unusable', 'leaving' or 'preempted', runId the run a node works on (or
        None); on a Ray cluster hostId is the Ray node holding it and hostState Ray's view of
        it ('pending' while Ray finds room, 'alive', 'dead')."""
        with compute_errors():
            found = self.workspace._client.get(f"{computes_path(self.workspace, self.name)}/nodes")
        return [_node_dict(NodeInfo.model_validate(item)) for item in found]

    def preempt_node(self, node_id: str) -> dict[str, Any]:
        """Evict one node of a low-priority cluster, as Azure does (trainforge extension, for
        trying out preemption); its run is queued again. A dedicated cluster raises."""
        with compute_errors():
            found = self.workspace._client.post(
                f"{computes_path(self.workspace, self.name)}/nodes/{node_id}/preempt"
            )
        return _node_dict(NodeInfo.model_validate(found))

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
        from trainforge.core.run import list_runs

        for run in list_runs(
            self.workspace,
            tags=tags,
            properties=properties,
            target=self.name,
            status=status,
            type=type,
        ):
            if status is None and run._info.status.is_terminal:
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
