"""Backends are found by name through the entry-point group ``trainforge.backends``, each
with its own settings model; a package that declares one adds a backend."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainforge.compute import registry
from trainforge.compute.local import LocalBackend
from trainforge.compute.ray_settings import RaySettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[str]:
    """A throwaway distribution on sys.path declaring the backend ``toy`` (a local backend
    whose clusters need a ``toy_pool`` setting)."""
    (tmp_path / "toy_backend.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel, Field

            from trainforge.compute.local import LocalBackend


            class ToySettings(BaseModel):
                toy_pool: str = Field(description="the pool to draw toy nodes from")


            class ToyBackend(LocalBackend):
                name = "toy"
                settings_model = ToySettings
            """
        )
    )
    info = tmp_path / "toy_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[trainforge.backends]\ntoy = toy_backend:ToyBackend\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "toy"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("toy_backend", None)


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
