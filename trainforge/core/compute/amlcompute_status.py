"""The status objects of an AmlCompute cluster: ScaleSettings, AmlComputeNodeStateCounts
and AmlComputeStatus, in the shapes ``azureml.core.compute.amlcompute`` gives them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trainforge.exceptions import ComputeTargetException
from trainforge.schemas.compute import ComputeInfo
from trainforge.schemas.compute_settings import duration_seconds, iso_duration

SERVICE_PRIORITIES = {"dedicated": "Dedicated", "lowpriority": "LowPriority"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def service_priority(vm_priority: str) -> str:
    """'dedicated' -> 'Dedicated', 'lowpriority' -> 'LowPriority', as the service reports it."""
    return SERVICE_PRIORITIES.get(vm_priority.lower(), vm_priority)


def _idle_seconds(value: Any) -> int | None:
    try:
        return duration_seconds(value)
    except ValueError as exc:
        raise ComputeTargetException(str(exc)) from None


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
        return {
            "minNodeCount": self.minimum_node_count,
            "maxNodeCount": self.maximum_node_count,
            "nodeIdleTimeBeforeScaleDown": iso_duration(self.idle_seconds_before_scaledown),
        }

    @staticmethod
    def deserialize(object_dict: dict[str, Any] | None) -> ScaleSettings | None:
        """ScaleSettings from the service's dict (``serialize()``'s shape); None for None."""
        if not object_dict:
            return None
        return ScaleSettings(
            object_dict.get("minNodeCount"),  # type: ignore[arg-type]
            object_dict.get("maxNodeCount"),  # type: ignore[arg-type]
            _idle_seconds(object_dict.get("nodeIdleTimeBeforeScaleDown")),  # type: ignore[arg-type]
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
            vm_priority=service_priority(info.vm_priority),
            vm_size=info.vm_size,
        )

    def __repr__(self) -> str:
        return f"AmlComputeStatus({self.serialize()!r})"
