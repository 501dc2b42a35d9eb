"""Backends by name: the entry points of the group ``trainforge.backends``.

A package adds a backend by declaring one (``name = "module:Class"``), as Metaflow's
plugins do; the class implements ``ComputeBackend``, says in ``settings_model`` which
cluster settings it takes, and is built with a callable that returns the settings of the
first cluster on it. trainforge's own backends are also registered here, so they are
found even where the installed metadata predates the group (an older editable install).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from trainforge.compute.backend import ComputeBackend

GROUP = "trainforge.backends"
DEFAULT_BACKEND = "local"
# What pyproject.toml declares for trainforge itself.
BUILTIN = (
    EntryPoint(name="local", value="trainforge.compute.local:LocalBackend", group=GROUP),
    EntryPoint(name="ray", value="trainforge.compute.ray_backend:RayBackend", group=GROUP),
)
SettingsOf = Callable[[], dict[str, Any] | None]


class UnknownBackend(ValueError):
    def __init__(self, name: object, known: list[str]) -> None:
        allowed = " or ".join(repr(n) for n in known)
        super().__init__(f"Invalid backend {name!r}: allowed values are {allowed}")
        self.known = known


class BackendSettingsError(ValueError):
    """A cluster setting the backend refuses; the message names it as the API does
    (``settings.<field>: ...``), ``sdk_message`` as the SDK's configuration does."""

    def __init__(self, message: str, sdk_message: str) -> None:
        super().__init__(message)
        self.sdk_message = sdk_message


def registrations() -> dict[str, EntryPoint]:
    """Every backend by name; an installed entry point overrides a built-in one."""
    found = {point.name: point for point in BUILTIN}
    found.update({point.name: point for point in entry_points(group=GROUP)})
    return found


def names() -> list[str]:
    return list(registrations())


def backend_class(name: str) -> type[ComputeBackend]:
    point = registrations().get(name)
    if point is None:
        raise UnknownBackend(name, names())
    return cast(type[ComputeBackend], point.load())


def create_backends(settings_of: Callable[[str], SettingsOf]) -> dict[str, ComputeBackend]:
    """One instance of every backend, each given where to read its clusters' settings."""
    return {name: backend_class(name)(settings_of(name)) for name in names()}  # type: ignore[call-arg]


def check_settings(name: str, settings: Mapping[str, object]) -> BaseModel:
    """The backend's own settings out of a cluster's settings (which also hold the SDK's
    cluster settings); raises UnknownBackend or BackendSettingsError naming the field."""
    model: type[BaseModel] = backend_class(name).settings_model
    for other in names():
        if other == name:
            continue
        foreign = [
            field
            for field in backend_class(other).settings_model.model_fields
            if field not in model.model_fields and settings.get(field) not in (None, "")
        ]
        if foreign:
            names_ = " and ".join(foreign)
            problem = f"apply only when backend is {other!r}"
            raise BackendSettingsError(f"settings.{names_}: {problem}", f"{names_} {problem}")
    try:
        return model.model_validate(dict(settings))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        info = model.model_fields.get(str(error["loc"][0]))
        give = f": give {info.description}" if info is not None and info.description else ""
        if error["type"] == "missing":
            problem = f"required when backend is {name!r}"
            raise BackendSettingsError(
                f"settings.{field}: {problem}{give}", f"{field} is {problem}{give}"
            ) from None
        problem = f"{error['msg']} (backend {name!r})"
        raise BackendSettingsError(f"settings.{field}: {problem}", f"{field}: {problem}") from None
