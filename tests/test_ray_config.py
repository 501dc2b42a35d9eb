"""Ray-backed cluster settings are checked before anything is created."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.inprocess import Api
from tests.ray_cluster import free_port
from trainforge.compute import vm_sizes
from trainforge.core.compute import AmlCompute, ComputeTarget, RayCompute
from trainforge.core.compute_target import ComputeTargetException
from trainforge.schemas.compute import ComputeCreate, Resources


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


def test_the_server_refuses_a_ray_cluster_without_an_address(tmp_path: Path) -> None:
    api = Api(tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}")
    try:
        api.workspace("ws1")
        body = {"name": "c1", "backend": "ray", "vm_size": "STANDARD_D2_V2"}
        response = api.request("POST", "/workspaces/ws1/computes", json=body)
        assert response.status_code == 422
        assert re.search(r"settings.ray_address: required", response.text)
        body["backend"] = "yarn"
        response = api.request("POST", "/workspaces/ws1/computes", json=body)
        assert response.status_code == 422
        assert (
            "backend: Invalid backend 'yarn': allowed values are 'local' or 'ray'" in response.text
        )
        assert "c1" not in [c["name"] for c in api.call("GET", "/workspaces/ws1/computes")]
    finally:
        api.close()


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


def test_a_ray_node_gets_the_largest_size_that_fits() -> None:
    def size(cpus: int, memory: float, gpus: int = 0) -> str | None:
        return vm_sizes.largest_fitting(Resources(vcpus=cpus, memory_gb=memory, gpus=gpus))

    assert size(1, 8) == "STANDARD_D1_V2"
    assert size(2, 7.5) == "STANDARD_D2_V2"  # 2 vCPUs, the most memory under 7.5 GB
    assert size(3, 64) == "STANDARD_D11_V2"  # 2 vCPUs: no size has 3
    assert size(4, 0.6) == "STANDARD_F4S_V2"  # nothing fits in 0.6 GB: the least memory
    assert size(8, 64, gpus=1) == "STANDARD_NC6"
    assert size(0, 64) is None
    # A local cluster without vm_size keeps the SDK's default; a Ray one waits for Ray's.
    assert ComputeCreate(name="c1").vm_size == "STANDARD_NC6"
    body = {"name": "c1", "backend": "ray", "settings": {"ray_address": "10.0.0.4:6379"}}
    assert ComputeCreate.model_validate(body).vm_size is None


def test_attach_without_vm_size_needs_the_ray_cluster(ws) -> None:  # type: ignore[no-untyped-def]
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(
        ComputeTargetException,
        match=rf"vm_size: not given, so the nodes are sized from the Ray nodes of {address}, "
        rf"but Cannot reach the Ray cluster at {address}",
    ):
        ComputeTarget.attach(ws, "ray-unsized", RayCompute.attach_configuration(address=address))
    assert "ray-unsized" not in ws.compute_targets
