"""Backends are found by name through the entry-point group ``trainforge.backends``, each
with its own settings model; a package that declares one adds a backend."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.inprocess import Api
from trainforge.compute import registry
from trainforge.compute.local import LocalBackend
from trainforge.compute.ray_settings import RaySettings
from trainforge.core.compute import AmlCompute
from trainforge.core.compute_target import ComputeTargetException

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def declared(folder: Path, name: str, module: str) -> Iterator[str]:
    """A throwaway distribution on sys.path declaring the backend ``name``, the class
    ``Backend`` of the module source ``module``, in the group trainforge.backends."""
    module_name = f"{name}_backend"
    (folder / f"{module_name}.py").write_text(textwrap.dedent(module))
    info = folder / f"{module_name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[trainforge.backends]\n{name} = {module_name}:Backend\n"
    )
    sys.path.insert(0, str(folder))
    try:
        yield name
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module_name, None)


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[str]:
    """The backend ``toy``: a local backend whose clusters need a ``toy_pool`` setting."""
    module = """
        from pydantic import BaseModel, Field

        from trainforge.compute.local import LocalBackend


        class ToySettings(BaseModel):
            toy_pool: str = Field(description="the pool to draw toy nodes from")


        class Backend(LocalBackend):
            name = "toy"
            settings_model = ToySettings
        """
    with declared(tmp_path, "toy", module) as name:
        yield name


@pytest.fixture
def plain_plugin(tmp_path: Path) -> Iterator[str]:
    """The backend ``plain``: a local backend taking the local backend's settings."""
    module = """
        from trainforge.compute.local import LocalBackend


        class Backend(LocalBackend):
            name = "plain"
        """
    with declared(tmp_path, "plain", module) as name:
        yield name


def test_the_built_in_backends_are_what_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert {p.name: p.value for p in registry.BUILTIN} == declared[registry.GROUP]
    assert registry.names()[:2] == ["local", "ray"]
    assert registry.backend_class("local") is LocalBackend
    assert registry.backend_class("ray").settings_model is RaySettings


def test_a_declared_entry_point_adds_a_backend_with_its_settings(plugin: str) -> None:
    assert plugin in registry.names()
    backends = registry.create_backends(lambda name: lambda: None)
    assert backends[plugin].name == plugin
    with pytest.raises(registry.BackendSettingsError, match="settings.toy_pool: required"):
        registry.check_settings(plugin, {})
    assert registry.check_settings(plugin, {"toy_pool": "p1", "vnet_name": "x"}).toy_pool == "p1"  # type: ignore[attr-defined]


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(
        registry.UnknownBackend, match="Invalid backend 'yarn': allowed values are 'local' or 'ray'"
    ):
        registry.backend_class("yarn")


def test_the_rest_create_takes_a_registered_backend_and_names_the_known_ones(
    plain_plugin: str, tmp_path: Path
) -> None:
    # The server is made while the plugin is declared, as one started after installing it.
    api = Api(tmp_path / "home", f"sqlite:///{tmp_path / 'trainforge.db'}")
    try:
        api.workspace("ws1")
        path = "/workspaces/ws1/computes"
        body = {"name": "c1", "backend": "Plain", "vm_size": "STANDARD_D2_V2"}
        made = api.call("POST", path, json=body)
        assert made["backend"] == plain_plugin
        assert api.call("GET", f"{path}/c1")["backend"] == plain_plugin

        refused = api.request("POST", path, json={**body, "name": "c2", "backend": "yarn"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["message"] == (
            "backend: Invalid backend 'yarn': allowed values are 'local', 'ray' or 'plain'"
        )
        assert [c["name"] for c in api.call("GET", path)] == ["c1"]
    finally:
        api.close()


def test_the_sdk_takes_the_backends_installed_with_it(plain_plugin: str) -> None:
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", backend="PLAIN")
    assert config._to_body("c1")["backend"] == plain_plugin
    with pytest.raises(
        ComputeTargetException,
        match="Invalid backend 'yarn': allowed values are 'local', 'ray' or 'plain'",
    ):
        AmlCompute.provisioning_configuration(backend="yarn")
