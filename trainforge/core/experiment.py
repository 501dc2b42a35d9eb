"""Experiment: a named group of runs in a workspace."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainforge.client.api import api
from trainforge.client.api.experiments import ExperimentsApi
from trainforge.client.errors import sdk_errors
from trainforge.exceptions import UserErrorException
from trainforge.schemas.names import EXPERIMENT_NAME, EXPERIMENT_RULE

if TYPE_CHECKING:
    from trainforge.core.run import Run
    from trainforge.core.workspace import Workspace


@dataclass(frozen=True)
class RunSource:
    """How an experiment starts and lists its runs.

    Runs are ``trainforge.core.run``'s: it builds Run objects on experiments, so it imports
    this module (not the other way round) and gives its functions with
    ``set_run_source`` when it loads, as HyperDrive gives its run type with
    ``Run.add_type_provider``; ``_runs`` imports it when no one has yet.
    """

    start_logging: Callable[..., Run]
    """``start_logging(experiment, *args, **kwargs)``: an interactive run, Running."""
    list_runs: Callable[..., Iterator[Run]]
    """``list_runs(workspace, tags=None, properties=None, **filters)``: runs, newest first."""


_run_source: RunSource | None = None


def set_run_source(source: RunSource) -> None:
    """Start and list every experiment's runs through ``source`` (see RunSource)."""
    global _run_source
    _run_source = source


def _runs() -> RunSource:
    if _run_source is None:
        # trainforge.core.run gives its functions when it loads (it imports this module,
        # so this one imports it only when runs are first asked for).
        importlib.import_module("trainforge.core.run")
    assert _run_source is not None
    return _run_source


class Experiment:
    """``Experiment(workspace, name)``: gets the experiment, creating it if needed."""

    def __init__(
        self,
        workspace: Workspace,
        name: str,
        _skip_name_validation: bool = False,
        _id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not _skip_name_validation and (
            not isinstance(name, str) or not EXPERIMENT_NAME.fullmatch(name)
        ):
            raise UserErrorException(f"Experiment name {name!r} is invalid: {EXPERIMENT_RULE}")
        self._workspace = workspace
        self._name = name
        if _id is None:
            with sdk_errors():
                _id = api(workspace, ExperimentsApi).ensure(name).id
        self._id = _id

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def name(self) -> str:
        return self._name

    @property
    def id(self) -> str:
        return self._id

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> Run:
        """Submit a ScriptRunConfig or Estimator (later: HyperDrive, pipelines); returns at once."""
        submit = getattr(config, "_submit", None)
        if submit is None:
            raise UserErrorException(
                f"config: cannot submit a {type(config).__name__}; give a ScriptRunConfig or an Estimator"
            )
        return submit(self, tags, **kwargs)

    def start_logging(self, *args: Any, **kwargs: Any) -> Run:
        """Start an interactive run (Running) for logging from this process; a context manager."""
        return _runs().start_logging(self, *args, **kwargs)

    def get_runs(
        self,
        type: str | None = None,
        tags: str | dict[str, str] | None = None,
        properties: str | dict[str, str] | None = None,
        include_children: bool = False,
        order_by: str | None = None,
    ) -> Iterator[Run]:
        """The experiment's runs, newest first, filtered by type, tags and properties.

        ``order_by`` (trainforge's, not azureml's) sorts them on the server instead:
        ``"metrics.accuracy desc"``, ``"tags.team"``, ``"duration desc"``, ``"end_time"``, ...
        (runs without the value last)."""
        yield from _runs().list_runs(
            self._workspace,
            experiment=self._name,
            include_children=include_children,
            tags=tags,
            properties=properties,
            type=type,
            **({"order_by": order_by} if order_by is not None else {}),
        )

    @staticmethod
    def list(
        workspace: Workspace,
        experiment_name: str | None = None,
        view_type: str = "ActiveOnly",
        tags: Any = None,
    ) -> list[Experiment]:
        experiments = list(workspace.experiments.values())
        return [exp for exp in experiments if experiment_name in (None, exp.name)]

    def get_portal_url(self) -> str:
        return f"{self._workspace.get_portal_url()}/experiments/{self._name}"

    def __repr__(self) -> str:
        return f"Experiment(Name: {self._name},\nWorkspace: {self._workspace.name})"
