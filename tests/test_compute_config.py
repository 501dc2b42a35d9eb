"""AmlCompute provisioning settings and status objects, checked without nodes.

Each check is what a user of ``azureml.core.compute`` relies on (see
shared/reference/azureml-v1.md section 2): the SDK's defaults, its validation with
ComputeTargetException naming the argument, and the status dict shape. Clusters with
real node agents are tested in test_clusters.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from trainforge.core.compute import (
    AmlCompute,
    AmlComputeProvisioningConfiguration,
    AmlComputeStatus,
    BatchAiCompute,
    ComputeTarget,
    ScaleSettings,
)
from trainforge.core.compute_target import ComputeTargetException
from trainforge.exceptions import ComputeTargetException as BaseComputeTargetException

STATUS_KEYS = {
    "currentNodeCount",
    "targetNodeCount",
    "nodeStateCounts",
    "allocationState",
    "allocationStateTransitionTime",
    "errors",
    "creationTime",
    "modifiedTime",
    "provisioningState",
    "provisioningStateTransitionTime",
    "scaleSettings",
    "vmPriority",
    "vmSize",
}
NODE_COUNT_KEYS = {
    "preparingNodeCount",
    "runningNodeCount",
    "idleNodeCount",
    "unusableNodeCount",
    "leavingNodeCount",
    "preemptedNodeCount",
}
SEED_CALL = dict(
    vm_size="STANDARD_NC6",
    vm_priority="lowpriority",
    min_nodes=1,
    max_nodes=2,
    idle_seconds_before_scaledown="300",
    vnet_resourcegroup_name="<my-resource-group>",
    vnet_name="<my-vnet-name>",
    subnet_name="<my-subnet-name>",
)
CREATED = datetime(2019, 3, 1, 12, 0, 0, tzinfo=UTC)
MODIFIED = datetime(2019, 3, 1, 12, 5, 30, tzinfo=UTC)


def _info(name: str = "nc6", **overrides: Any) -> dict[str, Any]:
    """A ComputeInfo as the control plane sends it (JSON)."""
    info: dict[str, Any] = {
        "name": name,
        "compute_type": "AmlCompute",
        "backend": "local",
        "vm_size": "STANDARD_NC6",
        "vm_priority": "lowpriority",
        "scale_settings": {"min_nodes": 1, "max_nodes": 2, "idle_seconds_before_scaledown": 300},
        "tags": {},
        "description": None,
        "settings": {"vnet_name": "<my-vnet-name>", "admin_user_password_set": False},
        "provisioning_state": "Succeeded",
        "provisioning_errors": None,
        "node_resources": {"vcpus": 6, "memory_gb": 56.0, "gpus": 1},
        "created": CREATED.isoformat(),
        "modified": MODIFIED.isoformat(),
        "status": {
            "current_node_count": 1,
            "target_node_count": 2,
            "node_state_counts": {
                "idle": 0,
                "running": 1,
                "preparing": 0,
                "unusable": 0,
                "leaving": 0,
                "preempted": 0,
            },
            "allocation_state": "Resizing",
            "allocation_state_transition_time": MODIFIED.isoformat(),
            "errors": None,
        },
    }
    info.update(overrides)
    return info


def _raises(argument: str, **kwargs: Any) -> ComputeTargetException:
    with pytest.raises(ComputeTargetException) as caught:
        AmlCompute.provisioning_configuration(**kwargs)
    assert argument in caught.value.message, caught.value.message
    return caught.value


# -- defaults ------------------------------------------------------------------------------
def test_provisioning_configuration_defaults() -> None:
    config = AmlCompute.provisioning_configuration()
    assert isinstance(config, AmlComputeProvisioningConfiguration)
    assert config.type is AmlCompute
    assert config.vm_size == "STANDARD_NC6"
    assert config.vm_priority == "dedicated"
    assert config.min_nodes == 0
    assert config.max_nodes == 4
    assert config.idle_seconds_before_scaledown == 1800
    assert config.remote_login_port_public_access == "NotSpecified"
    assert config.identity_type is None
    assert config.enable_node_public_ip is True
    assert config.admin_username is None


def test_none_means_default() -> None:
    config = AmlCompute.provisioning_configuration(
        vm_size=None,  # type: ignore[arg-type]
        min_nodes=None,
        max_nodes=None,
        idle_seconds_before_scaledown=None,
    )
    assert (config.vm_size, config.min_nodes, config.max_nodes) == ("STANDARD_NC6", 0, 4)
    assert config.idle_seconds_before_scaledown == 1800


def test_seed_call_is_accepted() -> None:
    config = AmlCompute.provisioning_configuration(**SEED_CALL)
    assert config.vm_size == "STANDARD_NC6"
    assert config.vm_priority == "lowpriority"
    assert (config.min_nodes, config.max_nodes) == (1, 2)
    assert config.idle_seconds_before_scaledown == 300
    assert config.vnet_name == "<my-vnet-name>"
    body = config._to_body("nc6")
    assert body["scale_settings"] == {
        "min_nodes": 1,
        "max_nodes": 2,
        "idle_seconds_before_scaledown": 300,
        "node_deallocation_option": "waitforjobcompletion",  # AmlCompute lets busy nodes finish
    }
    assert body["settings"]["subnet_name"] == "<my-subnet-name>"
    assert body["vm_priority"] == "lowpriority"


def test_exception_is_the_sdk_one() -> None:
    assert ComputeTargetException is BaseComputeTargetException


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("priority", ["spot", "", 1])
def test_vm_priority_must_be_dedicated_or_lowpriority(priority: Any) -> None:
    error = _raises("vm_priority", vm_priority=priority)
    assert "'dedicated'" in error.message and "'lowpriority'" in error.message


def test_vm_priority_accepts_service_casing() -> None:
    assert AmlCompute.provisioning_configuration(vm_priority="LowPriority").vm_priority == (
        "lowpriority"
    )


@pytest.mark.parametrize("idle", ["five minutes", "3.5", [300], -1, 2.5])
def test_idle_seconds_must_be_a_whole_number(idle: Any) -> None:
    _raises("idle_seconds_before_scaledown", idle_seconds_before_scaledown=idle)


@pytest.mark.parametrize("idle", [300, "300", " 300 ", 300.0, 0])
def test_idle_seconds_accepts_int_convertible(idle: Any) -> None:
    config = AmlCompute.provisioning_configuration(idle_seconds_before_scaledown=idle)
    assert config.idle_seconds_before_scaledown == int(idle)


def test_max_nodes_at_least_min_nodes() -> None:
    error = _raises("max_nodes", min_nodes=3, max_nodes=2)
    assert "min_nodes" in error.message
    config = AmlCompute.provisioning_configuration(min_nodes=2, max_nodes=2)
    assert (config.min_nodes, config.max_nodes) == (2, 2)


def test_min_nodes_above_default_max_is_refused() -> None:
    _raises("max_nodes", min_nodes=5)


@pytest.mark.parametrize(
    ("argument", "value"), [("min_nodes", -1), ("max_nodes", -2), ("min_nodes", "one")]
)
def test_node_counts_are_whole_numbers_of_zero_or_more(argument: str, value: Any) -> None:
    _raises(argument, **{argument: value})


@pytest.mark.parametrize(
    "given",
    [
        {"vnet_name": "v"},
        {"vnet_resourcegroup_name": "rg", "vnet_name": "v"},
        {"subnet_name": "s", "vnet_resourcegroup_name": "rg"},
    ],
)
def test_vnet_needs_all_three_or_none(given: dict[str, str]) -> None:
    error = _raises("subnet_name", **given)
    assert "vnet_resourcegroup_name" in error.message and "vnet_name" in error.message
    missing = {"vnet_resourcegroup_name", "vnet_name", "subnet_name"} - set(given)
    assert all(name in error.message.split("missing:")[1] for name in missing)


def test_admin_username_needs_a_password_or_ssh_key() -> None:
    error = _raises("admin_username", admin_username="azureuser")
    assert "admin_user_password" in error.message and "admin_user_ssh_key" in error.message
    with_key = AmlCompute.provisioning_configuration(
        admin_username="azureuser", admin_user_ssh_key="ssh-rsa AAAA"
    )
    assert with_key.admin_user_ssh_key == "ssh-rsa AAAA"


def test_password_without_admin_username_is_refused() -> None:
    _raises("admin_username", admin_user_password="Passw0rd!")


@pytest.mark.parametrize("password", ["password", "PASSWORD", "12345678", "password1", "Password"])
def test_password_needs_three_character_classes(password: str) -> None:
    error = _raises("admin_user_password", admin_username="azureuser", admin_user_password=password)
    assert "3" in error.message


@pytest.mark.parametrize("password", ["Password1", "password1!", "PASSWORD1!", "Passw0rd!"])
def test_complex_passwords_are_accepted(password: str) -> None:
    config = AmlCompute.provisioning_configuration(
        admin_username="azureuser", admin_user_password=password
    )
    settings = config._to_body("c1")["settings"]
    assert settings["admin_user_password_set"] is True
    assert password not in repr(config._to_body("c1"))


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Enabled", "Enabled"), ("disabled", "Disabled"), ("NOTSPECIFIED", "NotSpecified")],
)
def test_remote_login_values_are_case_insensitive(given: str, stored: str) -> None:
    config = AmlCompute.provisioning_configuration(remote_login_port_public_access=given)
    assert config.remote_login_port_public_access == stored


def test_remote_login_value_is_checked() -> None:
    error = _raises("remote_login_port_public_access", remote_login_port_public_access="Open")
    assert "'Enabled'" in error.message and "'NotSpecified'" in error.message


def test_identity_type_is_checked() -> None:
    error = _raises("identity_type", identity_type="ManagedByMe")
    assert "'SystemAssigned'" in error.message and "'UserAssigned'" in error.message
    assert (
        AmlCompute.provisioning_configuration(identity_type="SystemAssigned").identity_type
        == "SystemAssigned"
    )


def test_user_assigned_identity_needs_identity_id() -> None:
    _raises("identity_id", identity_type="UserAssigned")
    config = AmlCompute.provisioning_configuration(
        identity_type="UserAssigned", identity_id="/subscriptions/x/identities/me"
    )
    assert config.identity_id == ["/subscriptions/x/identities/me"]


def test_tags_must_be_a_dict() -> None:
    _raises("tags", tags=["a", "b"])  # type: ignore[arg-type]


def test_create_validates_the_configuration_again(ws) -> None:  # type: ignore[no-untyped-def]
    config = AmlCompute.provisioning_configuration()
    config.vm_priority = "spot"
    with pytest.raises(ComputeTargetException, match="vm_priority"):
        ComputeTarget.create(ws, "c1", config)
    assert "c1" not in ws.compute_targets


def test_extra_settings_go_to_settings() -> None:
    config = AmlCompute.provisioning_configuration(
        **SEED_CALL,
        admin_username="azureuser",
        admin_user_password="Passw0rd!",
        remote_login_port_public_access="enabled",
        location="westeurope",
        enable_node_public_ip=False,
        tags={"team": "vision"},
        description="GPU cluster",
    )
    body = config._to_body("nc6")
    assert body["tags"] == {"team": "vision"}
    assert body["description"] == "GPU cluster"
    assert body["settings"] == {
        "admin_username": "azureuser",
        "admin_user_password_set": True,
        "admin_user_ssh_key": None,
        "vnet_resourcegroup_name": "<my-resource-group>",
        "vnet_name": "<my-vnet-name>",
        "subnet_name": "<my-subnet-name>",
        "remote_login_port_public_access": "Enabled",
        "identity_type": None,
        "identity_id": None,
        "location": "westeurope",
        "enable_node_public_ip": False,
    }


# -- legacy BatchAiCompute -----------------------------------------------------------------
def test_batchai_autoscale_maps_to_min_and_max() -> None:
    config = BatchAiCompute.provisioning_configuration(
        vm_size="STANDARD_NC6", autoscale_enabled=True, cluster_min_nodes=0, cluster_max_nodes=4
    )
    assert isinstance(config, AmlComputeProvisioningConfiguration)
    assert (config.min_nodes, config.max_nodes) == (0, 4)
    assert config.type is AmlCompute


def test_batchai_without_autoscale_is_a_fixed_size() -> None:
    config = BatchAiCompute.provisioning_configuration(vm_size="STANDARD_NC6", cluster_max_nodes=2)
    assert (config.min_nodes, config.max_nodes) == (2, 2)
    with pytest.raises(ComputeTargetException, match="vm_priority"):
        BatchAiCompute.provisioning_configuration(vm_priority="spot")


# -- status objects ------------------------------------------------------------------------
def test_status_from_compute_info_serializes_to_the_reference_shape() -> None:
    status = AmlComputeStatus._from_info(_info())
    result = status.serialize()
    assert set(result) == STATUS_KEYS
    assert set(result["nodeStateCounts"]) == NODE_COUNT_KEYS
    assert result["nodeStateCounts"]["runningNodeCount"] == 1
    assert result["currentNodeCount"] == 1
    assert result["targetNodeCount"] == 2
    assert result["allocationState"] == "Resizing"
    assert result["errors"] is None
    assert result["creationTime"] == CREATED.isoformat()
    assert result["modifiedTime"] == MODIFIED.isoformat()
    assert result["allocationStateTransitionTime"] == MODIFIED.isoformat()
    assert datetime.fromisoformat(result["provisioningStateTransitionTime"])
    assert result["provisioningState"] == "Succeeded"
    assert result["scaleSettings"] == {
        "minNodeCount": 1,
        "maxNodeCount": 2,
        "nodeIdleTimeBeforeScaleDown": "PT300S",
    }
    assert result["vmPriority"] == "LowPriority"
    assert result["vmSize"] == "STANDARD_NC6"


def test_status_attributes() -> None:
    status = AmlComputeStatus._from_info(_info(vm_priority="dedicated"))
    assert status.vm_priority == "Dedicated"
    assert status.creation_time == CREATED
    assert status.current_node_count == 1
    counts = status.node_state_counts
    assert counts is not None
    assert (counts.running_node_count, counts.idle_node_count) == (1, 0)
    for name in ("leaving", "preempted", "preparing", "unusable"):
        assert getattr(counts, f"{name}_node_count") == 0
    assert status.scale_settings is not None
    assert status.scale_settings.idle_seconds_before_scaledown == 300


def test_status_round_trips_through_deserialize() -> None:
    serialized = AmlComputeStatus._from_info(_info()).serialize()
    again = AmlComputeStatus.deserialize(serialized)
    assert again is not None
    assert again.serialize() == serialized


def test_scale_settings_serialize_and_parse_iso_durations() -> None:
    settings = ScaleSettings(0, 4, 1800)
    assert settings.serialize() == {
        "minNodeCount": 0,
        "maxNodeCount": 4,
        "nodeIdleTimeBeforeScaleDown": "PT1800S",
    }
    parsed = ScaleSettings.deserialize(
        {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT2M"}
    )
    assert parsed is not None and parsed.idle_seconds_before_scaledown == 120
