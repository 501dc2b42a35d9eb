"""Ray-backed cluster settings are checked before anything is created."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trainforge.core.compute import AmlCompute, ComputeTarget, RayCompute
from trainforge.core.compute_target import ComputeTargetException
from trainforge.schemas.compute import ComputeCreate


def test_the_ray_backend_needs_an_address() -> None:
    with pytest.raises(
        ComputeTargetException, match="ray_address is required when backend is 'ray'"
    ):
        AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", backend="ray")
    with pytest.raises(
        ComputeTargetException, match="Invalid backend 'yarn': allowed values are 'local' or 'ray'"
    ):
        AmlCompute.provisioning_configuration(backend="yarn")
    with pytest.raises(ComputeTargetException, match="apply only when backend is 'ray'"):
        AmlCompute.provisioning_configuration(ray_address="10.0.0.4:6379")
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", backend="ray", ray_address="10.0.0.4:6379"
    )
    body = config._to_body("c1")
    assert body["backend"] == "ray" and body["settings"]["ray_address"] == "10.0.0.4:6379"
    # The SDK's defaults are unchanged: a plain configuration is a local cluster.
    assert AmlCompute.provisioning_configuration()._to_body("c2")["backend"] == "local"


def test_the_server_refuses_a_ray_cluster_without_an_address() -> None:
    with pytest.raises(ValidationError, match=r"settings.ray_address: required"):
        ComputeCreate(name="c1", backend="ray", vm_size="STANDARD_D2_V2")


def test_attach_checks_the_address(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ComputeTargetException, match="Invalid address 'head-node'"):
        RayCompute.attach_configuration(address="head-node")
    with pytest.raises(ComputeTargetException, match="Cannot attach x: trainforge provisions"):
        ComputeTarget.attach(ws, "x", object())


def test_one_server_drives_one_ray_cluster(ws) -> None:  # type: ignore[no-untyped-def]
    def config(address: str):  # type: ignore[no-untyped-def]
        return AmlCompute.provisioning_configuration(
            vm_size="STANDARD_D2_V2", backend="ray", ray_address=address, min_nodes=0
        )

    first = ComputeTarget.create(ws, "ray-one", config("10.0.0.4:6379"))
    try:
        with pytest.raises(
            ComputeTargetException, match="already drives the Ray cluster at 10.0.0.4:6379"
        ):
            ComputeTarget.create(ws, "ray-two", config("10.0.0.5:6379"))
        assert "ray-two" not in ws.compute_targets
    finally:
        first.delete()
        first.wait_for_completion(is_delete_operation=True)
