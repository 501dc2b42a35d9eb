"""Run: one execution of an experiment, with its status, metrics, tags, files and children."""

from __future__ import annotations

import html
import importlib
import io
import logging
import numbers
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from trainforge.client import log_stream
from trainforge.client.api import api
from trainforge.client.api.files import FilesApi
from trainforge.client.api.runs import RunsApi
from trainforge.client.api.snapshots import SnapshotsApi
from trainforge.client.errors import sdk_errors, validated
from trainforge.client.session import Session, run_session
from trainforge.core._tags import sanitize
from trainforge.core.experiment import Experiment, RunSource, set_run_source
from trainforge.exceptions import (
    ActivityFailedException,
    ExperimentExecutionException,
    RunEnvironmentException,
    UserErrorException,
)
from trainforge.schemas.runs import ChildrenCreate, MetricPoint, RunInfo, RunStatus
from trainforge.schemas.settings import RunContext
from trainforge.storage.paths import UnsafePathError, safe_relative_path

if TYPE_CHECKING:
    from trainforge.core.workspace import Workspace

log = logging.getLogger("trainforge")
DOCS_PAGE = (
    "https://docs.microsoft.com/en-us/python/api/azureml-core/azureml.core.run.run?view=azure-ml-py"
)
SUMMARY_WIDTH = 100  # print(run) stays within a terminal or notebook this wide
SCALAR_TYPES = (bool, int, float, str)


def _scalar(name: str, value: Any) -> bool | int | float | str:
    if isinstance(value, SCALAR_TYPES):
        return value
    if isinstance(value, numbers.Number):  # numpy and other numeric scalars
        item = getattr(value, "item", None)
        return item() if callable(item) else float(value)  # type: ignore[arg-type]
    raise UserErrorException(
        f"Metric {name!r}: run.log takes a scalar (int, float, bool or str), not "
        f"{type(value).__name__}; use log_list for lists and log_row or log_table for tables"
    )


# Builds the Run object of a run type: (experiment, run id, its info, extra arguments).
RunFactory = Callable[..., "Run"]
RUN_TYPE_PROVIDERS = "trainforge.run_type_providers"


class Run:
    """A run of an experiment, as ``azureml.core.Run``.

    ``Run(experiment, run_id)`` loads an existing run; inside a submitted script use
    ``Run.get_context()``.
    """

    # Run type -> factory: a run loaded by id comes back as the class its type calls for
    # (HyperDriveRun for 'hyperdrive'). Packages add theirs with ``add_type_provider``
    # (trainforge.train does for HyperDrive) or the entry-point group RUN_TYPE_PROVIDERS.
    _run_type_registry: ClassVar[dict[str, RunFactory]] = {}

    def __init__(
        self, experiment: Experiment, run_id: str, outputs: str | None = None, **kwargs: Any
    ) -> None:
        self._experiment = experiment
        self._workspace = experiment.workspace
        self._session: Session = self._workspace.service_context
        self._runs = api(self._workspace, RunsApi)
        self._files = api(self._workspace, FilesApi)
        self._path = self._runs.path(run_id)
        info: RunInfo | None = kwargs.pop("_info", None)
        if info is None:
            with sdk_errors():
                info = self._runs.get(run_id)
        self._info = info
        self._outputs = outputs
        self._in_submitted_context: bool = kwargs.pop("_in_submitted_context", False)

    # -- identity -----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._info.run_id

    @property
    def number(self) -> int:
        return self._info.number

    @property
    def type(self) -> str | None:
        return self._info.run_type

    @property
    def status(self) -> str:
        """The status when last fetched; ``get_status()`` asks the service."""
        return self._info.status.value

    @property
    def experiment(self) -> Experiment:
        return self._experiment

    @property
    def name(self) -> str | None:
        return self._info.display_name

    @property
    def display_name(self) -> str:
        return self._info.display_name or self.id

    @display_name.setter
    def display_name(self, value: str) -> None:
        self._update({"display_name": value})

    @property
    def description(self) -> str | None:
        return self._info.description

    @description.setter
    def description(self, value: str) -> None:
        self._update({"description": value})

    @property
    def tags(self) -> dict[str, str | None]:
        return dict(self._info.tags)

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._info.properties)

    @property
    def parent(self) -> Run | None:
        """The parent run, or None for a top-level run."""
        if self._info.parent_run_id is None:
            return None
        return get_run(self._workspace, self._info.parent_run_id, self._experiment)

    @property
    def input_datasets(self) -> dict[str, Any]:
        """The run's dataset inputs: {name: local path} for mounted and downloaded ones, {name:
        dataset} in direct mode. Paths exist only on the nodes, so inside the run's script."""
        definition = self._info.definition
        if definition is None or not definition.datasets:
            return {}
        here = RunContext().run_id == self.id
        found: dict[str, Any] = {}
        for name, spec in definition.datasets.items():
            if spec.mode == "direct":
                from trainforge.core.dataset import Dataset
                from trainforge.data.abstract_dataset import dataset_of

                found[name] = (
                    Dataset.get_by_id(self._workspace, spec.dataset_id)
                    if spec.dataset_id
                    else dataset_of(spec.definition, self._workspace)
                )
            elif here and name in os.environ:
                found[name] = os.environ[name]
        return found

    # How run.register_model registers: trainforge.core.model (which imports this module)
    # sets it, so that this module never imports the model module back.
    _model_registrar: ClassVar[Callable[..., Any] | None] = None

    @staticmethod
    def set_model_registrar(registrar: Callable[..., Any]) -> None:
        """Make ``run.register_model(...)`` call ``registrar(run, ...)`` (Model's)."""
        Run._model_registrar = registrar

    @staticmethod
    def add_type_provider(runtype: str, run_factory: RunFactory) -> None:
        """Make runs of type ``runtype`` load as ``run_factory(experiment, run_id, _info=...)``."""
        Run._run_type_registry[runtype] = run_factory

    # -- status -------------------------------------------------------------------------
    def _refresh(self) -> RunInfo:
        with sdk_errors():
            self._info = self._runs.get(self.id)
        return self._info

    def _update(self, body: dict[str, Any]) -> None:
        with sdk_errors():
            self._info = self._runs.update(self.id, body)

    def get_status(self) -> str:
        if not self._info.status.is_terminal:
            self._refresh()
        return self.status

    def get_detailed_status(self) -> dict[str, Any]:
        status = self.get_status()
        details = None
        if status == RunStatus.QUEUED:
            details = "Waiting for the scheduler to place the run"
        return {"status": status, "details": details}

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
    ) -> dict[str, Any]:
        """Block until the run ends; with ``show_output`` stream its log as it is written.

        Returns ``get_details()``. A failed run raises ActivityFailedException unless
        ``raise_on_error`` is False.
        """
        try:
            if show_output:
                print(f"RunId: {self.id}")
                print(f"Web View: {self.get_portal_url()}")
                log_stream.follow(self._runs, self.id, _write_stdout, _announce_log)
                details = self.get_details()
                print("\nExecution Summary\n=================")
                print(f"RunId: {self.id}")
                print(f"Web View: {self.get_portal_url()}\n")
                for warning in self._info.warnings:
                    print(f"Warnings:\n{warning}\n")
            else:
                # The wait's answer is the run as it ended: no need to ask for it again.
                with sdk_errors():
                    self._info = log_stream.wait_for_info(self._runs, self.id)
                details = self._details(self._info)
        except KeyboardInterrupt:
            raise ExperimentExecutionException(
                "The output streaming for the run interrupted.\n"
                "But the run is still executing on the compute target.\n"
                f"To cancel it: run.cancel(), or from a shell: "
                f"trainforge run cancel {self.id} -w {self._workspace.name}"
            ) from None
        if self.status == RunStatus.FAILED:
            if raise_on_error:
                raise ActivityFailedException(error_details=details.get("error"))
            if show_output:
                # The log streamed above holds the traceback: say what failed, once.
                message = (details.get("error") or {}).get("error", {}).get("message", "")
                print(f"Error occurred: {message.strip().splitlines()[0] if message else ''}")
        return details

    def cancel(self) -> None:
        """Cancel the run: queued runs end at once, running ones after their processes stop."""
        if self._in_submitted_context:
            log.warning("Cancelling a run from inside its own script is not supported")
            return
        with sdk_errors():
            self._info = self._runs.cancel(self.id)

    def start(self) -> None:
        self._update({"status": RunStatus.RUNNING.value})

    def complete(self, _set_status: bool = True) -> None:
        """Store pending metrics and outputs, then mark the run Completed."""
        self.flush()
        if self._in_submitted_context or not _set_status:
            return
        self._upload_outputs()
        self._update({"status": RunStatus.COMPLETED.value})

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        """Mark the run Failed with ``error_details`` (text or an exception) as its error."""
        self.flush()
        if self._in_submitted_context or not _set_status:
            return
        self._upload_outputs()
        message = (
            str(error_details) if error_details is not None else "The run was marked as failed"
        )
        if isinstance(error_details, BaseException):
            message = f"{type(error_details).__name__}: {error_details}"
        error = {"code": error_code or "UserError", "message": message}
        self._update({"status": RunStatus.FAILED.value, "error": error})

    def flush(self, timeout_seconds: int = 300) -> None:
        """Wait until every metric logged so far is stored."""
        if not self._session.metrics.flush(timeout_seconds):
            log.warning(
                "Run %s: metrics logged so far were not all stored within %s s; "
                "they are still queued and will be sent when the server answers",
                self.id,
                timeout_seconds,
            )

    def _upload_outputs(self) -> None:
        if self._outputs and Path(self._outputs).is_dir():
            self.upload_folder("outputs", self._outputs)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self.fail(error_details=exc)
        else:
            self.complete()

    # -- metrics ------------------------------------------------------------------------
    def _log(
        self, name: str, kind: str, value: Any, step: int | None = None, description: str = ""
    ) -> None:
        if not isinstance(name, str) or not name:
            raise UserErrorException("name: a metric needs a non-empty string name")
        try:
            # The server's own rules, checked now: a bad point is the caller's error here,
            # never a refused batch that takes the good points logged with it.
            point = validated(
                MetricPoint, name=name, kind=kind, value=value, step=step, description=description
            )
        except UserErrorException as exc:
            raise UserErrorException(f"Metric {name[:80]!r}: {exc}") from None
        self._session.metrics.log(self._metrics_key, name, kind, value, point.step, description)

    @property
    def _metrics_key(self) -> tuple[str, str]:
        return (self._workspace.name, self.id)

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a scalar; logging the same name again builds a series. Never blocks on the network."""
        self._log(name, "scalar", _scalar(name, value), step, description)

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        self._log(name, "list", [_scalar(name, v) for v in value], None, description)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of a table: ``run.log_row('loss', epoch=1, value=0.3)``."""
        self._log(
            name, "row", {k: _scalar(name, v) for k, v in kwargs.items()}, None, description or ""
        )

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        """Log a table as {column: [values]}."""
        if not isinstance(value, dict):
            raise UserErrorException(
                f"Metric {name!r}: log_table takes a dict of column -> list of values"
            )
        table = {
            k: [_scalar(name, v) for v in (col if isinstance(col, list | tuple) else [col])]
            for k, col in value.items()
        }
        self._log(name, "table", table, None, description)

    def log_image(
        self, name: str, path: str | None = None, plot: Any = None, description: str = ""
    ) -> None:
        """Log an image from a file or a matplotlib plot; it is kept as a run file."""
        if (path is None) == (plot is None):
            raise UserErrorException("log_image: give exactly one of path and plot")
        file_name = f"{name}_{int(time.time())}.png"
        if plot is not None:
            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            self.upload_file(file_name, buffer.getvalue())
        else:
            self.upload_file(file_name, path)  # type: ignore[arg-type]
        self._log(
            name,
            "image",
            f"aml://artifactId/ExperimentRun/dcid.{self.id}/{file_name}",
            None,
            description,
        )

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """{name: value} as the SDK shapes it; ``recursive`` gives {run id: metrics} for the subtree."""
        self.flush()
        with sdk_errors():
            return self._runs.metrics(self.id, name=name, recursive=recursive)

    # -- tags and properties ------------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        """Tag the run; a value that is not a string is stored as ``str(value)``, as in the SDK."""
        self._update({"tags": sanitize({key: value})})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Merge ``tags`` into the run's tags (values coerced to strings, None kept)."""
        self._update({"tags": sanitize(tags)})

    def remove_tags(self, tags: list[str]) -> None:
        self._update({"remove_tags": list(tags)})

    def get_tags(self) -> dict[str, str | None]:
        return dict(self._refresh().tags)

    def add_properties(self, properties: dict[str, str]) -> None:
        """Add properties; changing one already set raises UserErrorException."""
        with sdk_errors():
            self._info = self._runs.add_properties(
                self.id, {k: "None" if v is None else v for k, v in sanitize(properties).items()}
            )

    def get_properties(self) -> dict[str, str]:
        return dict(self._refresh().properties)

    # -- files --------------------------------------------------------------------------
    def _file_name(self, name: str) -> str:
        try:
            return safe_relative_path(name, "name")
        except UnsafePathError as exc:
            raise UserErrorException(str(exc)) from None

    def upload_file(
        self,
        name: str,
        path_or_stream: str | os.PathLike[str] | bytes | BinaryIO,
        datastore_name: str | None = None,
    ) -> dict[str, Any]:
        """Store a file (a path, bytes or a binary stream) as the run file ``name``."""
        target = self._file_name(name)
        # Inside a submitted run the write names its attempt: one superseded is refused.
        attempt = self._session.metrics.attempts.get(self._metrics_key)
        with sdk_errors():
            if isinstance(path_or_stream, str | os.PathLike):
                if not Path(path_or_stream).is_file():
                    raise UserErrorException(f"path_or_stream: {path_or_stream} is not a file")
                with open(path_or_stream, "rb") as stream:
                    return self._files.upload(self.id, target, stream, attempt)
            return self._files.upload(self.id, target, path_or_stream, attempt)

    def upload_files(
        self,
        names: list[str],
        paths: list[str],
        return_artifacts: bool = False,
        timeout_seconds: int | None = None,
        datastore_name: str | None = None,
    ) -> list[dict[str, Any]] | None:
        if len(names) != len(paths):
            raise UserErrorException("names and paths must have the same length")
        uploaded = [self.upload_file(name, path) for name, path in zip(names, paths, strict=True)]
        return uploaded if return_artifacts else None

    def upload_folder(
        self, name: str, path: str, datastore_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Store every file under ``path`` as ``<name>/<relative path>``."""
        root = Path(path)
        if not root.is_dir():
            raise UserErrorException(f"path: {path} is not a folder")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return [
            self.upload_file(f"{name.rstrip('/')}/{p.relative_to(root).as_posix()}", p)
            for p in files
        ]

    def get_file_names(self) -> list[str]:
        with sdk_errors():
            return [item.name for item in self._files.list(self.id)]

    def download_file(
        self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False
    ) -> None:
        """Download the run file ``name`` (default: its base name in the current folder)."""
        source = self._file_name(name)  # refuse a bad name before touching the disk
        destination = Path(output_file_path or Path(name).name)
        if destination.is_dir():
            destination = destination / Path(name).name
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        try:
            with sdk_errors(), open(partial, "wb") as out:
                for chunk in self._files.download(self.id, source):
                    out.write(chunk)
            partial.replace(destination)
        finally:
            partial.unlink(missing_ok=True)

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | None = None,
        output_paths: list[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: int | None = None,
    ) -> None:
        """Download every run file whose name starts with ``prefix``."""
        prefix = prefix or ""
        names = [n for n in self.get_file_names() if n.startswith(prefix)]
        if output_paths is not None and len(output_paths) != len(names):
            raise UserErrorException("output_paths must name one path per downloaded file")
        base = Path(output_directory or ".")
        for i, name in enumerate(names):
            if output_paths is not None:
                self.download_file(name, output_paths[i])
                continue
            relative = name if append_prefix else name[len(prefix) :].lstrip("/")
            self.download_file(name, str(base / relative))

    def get_all_logs(self, destination: str | None = None) -> list[str]:
        destination = destination or "."
        names = [
            n
            for n in self.get_file_names()
            if n.startswith(("azureml-logs/", "logs/", "user_logs/"))
        ]
        for name in names:
            self.download_file(name, str(Path(destination) / name))
        return [str(Path(destination) / name) for name in names]

    # -- models -------------------------------------------------------------------------
    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Register the run's file or folder ``model_path`` (``'outputs/model.pkl'``;
        default: ``model_name``) as the next version of ``model_name``, linked to this run
        and its experiment; returns the :class:`~trainforge.core.model.Model`."""
        registrar = Run._model_registrar
        if registrar is None:
            # trainforge.core.model sets it when imported; trainforge.core loads its
            # modules on demand, so code that never named Model has not imported it.
            importlib.import_module("trainforge.core.model")
            registrar = Run._model_registrar
        assert registrar is not None, "trainforge.core.model sets the model registrar"
        return registrar(
            self,
            model_name,
            model_path,
            tags=tags,
            properties=properties,
            model_framework=model_framework,
            model_framework_version=model_framework_version,
            description=description,
            datasets=datasets,
            sample_input_dataset=sample_input_dataset,
            sample_output_dataset=sample_output_dataset,
            resource_configuration=resource_configuration,
        )

    # -- details ------------------------------------------------------------------------
    def get_details(self) -> dict[str, Any]:
        """The run as the service describes it: status, times, definition, log files, error."""
        return self._details(self._refresh())

    def _details(self, info: RunInfo) -> dict[str, Any]:
        logs = [
            n
            for n in self.get_file_names()
            if log_stream.LOG_NAME.match(n) or n.startswith("logs/")
        ]
        details: dict[str, Any] = {
            "runId": info.run_id,
            "target": info.target,
            "status": info.status.value,
            "startTimeUtc": _iso(info.start_time_utc),
            "properties": dict(info.properties),
            "inputDatasets": [],
            "outputDatasets": [],
            "runDefinition": info.definition.model_dump() if info.definition else None,
            "logFiles": {name: self._files.url(self.id, name) for name in logs},
            "submittedBy": info.submitted_by,
        }
        if info.status.is_terminal:
            details["endTimeUtc"] = _iso(info.end_time_utc)
        if info.warnings:
            details["warnings"] = [{"message": w} for w in info.warnings]
        if info.error is not None:
            details["error"] = {"error": info.error.model_dump()}
        return details

    def get_details_with_logs(self) -> dict[str, Any]:
        details = self.get_details()
        details["logFiles"] = {
            name: self._files.read(self.id, self._file_name(name)).decode(errors="replace")
            for name in details["logFiles"]
        }
        return details

    def get_portal_url(self) -> str:
        """The run's page in the studio (it opens signed in, as ml.azure.com does)."""
        return self._session.studio_url(f"workspaces/{self._workspace.name}/runs/{self.id}")

    # -- children -----------------------------------------------------------------------
    def child_run(
        self, name: str | None = None, run_id: str | None = None, outputs: str | None = None
    ) -> Run:
        """Start a child run (Running); use it as a context manager to complete it."""
        body = {"kind": "child", "parent_run_id": self.id, "run_id": run_id, "display_name": name}
        with sdk_errors():
            created = self._runs.create(self._experiment.name, body)
        return Run(self._experiment, created.run_id, outputs, _info=created)

    def create_children(
        self,
        count: int | None = None,
        tag_key: str | None = None,
        tag_values: list[str] | None = None,
    ) -> list[Run]:
        """Start up to 100 children at once, tagged by number or by ``tag_values``."""
        body = ChildrenCreate.model_construct(count=count, tag_key=tag_key, tag_values=tag_values)
        with sdk_errors():
            created = self._runs.create_children(self.id, body)
        return [Run(self._experiment, info.run_id, _info=info) for info in created]

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: Any = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> Iterator[Run]:
        yield from list_runs(
            self._workspace,
            parent=self.id,
            recursive=recursive,
            tags=tags,
            properties=properties,
            type=type,
            status=status,
        )

    # -- secrets ------------------------------------------------------------------------
    def get_secret(self, name: str) -> str:
        return self._workspace.get_default_keyvault().get_secret(name)

    def get_secrets(self, secrets: list[str]) -> dict[str, str | None]:
        return self._workspace.get_default_keyvault().get_secrets(secrets)

    # -- context ------------------------------------------------------------------------
    @classmethod
    def get_context(
        cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any
    ) -> Run:
        """The run this script was submitted as; outside a run, an offline run that prints."""
        context = RunContext()
        missing = context.missing()
        if missing:
            if not allow_offline:
                raise RunEnvironmentException(
                    f"Could not find the run context: {', '.join(missing)} not set"
                )
            from trainforge.core.offline_run import OfflineRun

            return OfflineRun()
        session = run_session(context.service_endpoint, context.run_token)
        if session.context_run is None:
            ws = _context_workspace()(
                context.subscription_id,
                context.resource_group,
                context.workspace_name,
                _session=session,
            )
            exp = Experiment(
                ws,
                context.experiment_name,
                _skip_name_validation=True,
                _id=context.experiment_id or None,
            )
            run = get_run(ws, context.run_id, exp, _in_submitted_context=True)
            session.metrics.context_run = run._metrics_key
            if context.run_attempt:
                # Writes of an attempt that was requeued meanwhile are refused by the server.
                session.metrics.attempts[run._metrics_key] = context.run_attempt
            session.context_run = run
        return session.context_run  # type: ignore[return-value]

    @classmethod
    def get_submitted_run(cls, **kwargs: Any) -> Run:
        return cls.get_context(allow_offline=False)

    @staticmethod
    def get(workspace: Workspace, run_id: str) -> Run:
        return get_run(workspace, run_id)

    @staticmethod
    def list(
        experiment: Experiment,
        type: str | None = None,
        tags: Any = None,
        properties: Any = None,
        status: str | None = None,
        include_children: bool = False,
    ) -> Iterator[Run]:
        yield from list_runs(
            experiment.workspace,
            experiment=experiment.name,
            include_children=include_children,
            tags=tags,
            properties=properties,
            type=type,
            status=status,
        )

    # -- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Run(Experiment: {self._experiment.name},\nId: {self.id},\nType: {self.type},\nStatus: {self.status})"

    def _summary(self) -> list[tuple[str, str]]:
        return [
            ("Experiment", self._experiment.name),
            ("Id", self.id),
            ("Type", str(self.type)),
            ("Status", self.status),
            ("Details Page", self.get_portal_url()),
            ("Docs Page", DOCS_PAGE),
        ]

    def __str__(self) -> str:
        """A two-column table that stays within 100 columns: a value too long for its row
        (a link) goes whole on the next line, so it can still be copied."""
        lines = []
        for label, value in self._summary():
            row = f"{label:<14}{value}"
            lines.append(row if len(row) <= SUMMARY_WIDTH else f"{label}\n  {value}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The notebook's view: the same rows, links as short text, ids never cut."""
        links = {"Details Page": "Link to trainforge studio", "Docs Page": "Link to Documentation"}
        rows = "".join(
            f"<tr><th style='text-align:left'>{label}</th><td style='text-align:left'>"
            + (
                f'<a href="{html.escape(value)}" target="_blank">{links[label]}</a>'
                if label in links
                else html.escape(value)
            )
            + "</td></tr>"
            for label, value in self._summary()
        )
        return f"<table>{rows}</table>"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _announce_log(name: str) -> None:
    print(f"\nStreaming {name}\n{'=' * (len(name) + 10)}\n")


def _context_workspace() -> Callable[..., Workspace]:
    """The Workspace class, imported when a submitted run first asks for its context:
    the workspace module needs this one, so this one cannot import it at its top."""
    workspace_class: Callable[..., Workspace] = importlib.import_module(
        "trainforge.core.workspace"
    ).Workspace
    return workspace_class


def _run_factory(run_type: str | None) -> RunFactory:
    """The registered factory of ``run_type``; a type no package registered loads as Run."""
    if run_type is None:
        return Run
    if run_type not in Run._run_type_registry:
        for entry in entry_points(group=RUN_TYPE_PROVIDERS, name=run_type):
            Run.add_type_provider(run_type, entry.load())
    return Run._run_type_registry.get(run_type, Run)


def run_of(experiment: Experiment, info: RunInfo, **kwargs: Any) -> Run:
    """The Run object of ``info`` on ``experiment``, without another request: of the class
    its run type registered (HyperDriveRun for 'hyperdrive'), else Run."""
    return _run_factory(info.run_type)(experiment, info.run_id, _info=info, **kwargs)


def info_of(run: Run) -> RunInfo:
    """The run as last fetched from the service (what the CLI prints)."""
    return run._info


def get_run(
    workspace: Workspace, run_id: str, experiment: Experiment | None = None, **kwargs: Any
) -> Run:
    """Load a run by id as the Run subclass its type calls for."""
    with sdk_errors():
        info = api(workspace, RunsApi).get(run_id)
    if experiment is None:
        experiment = Experiment(
            workspace, info.experiment_name, _skip_name_validation=True, _id=info.experiment_id
        )
    return run_of(experiment, info, **kwargs)


def list_runs(
    workspace: Workspace, tags: Any = None, properties: Any = None, **params: Any
) -> Iterator[Run]:
    """Runs of the workspace, newest first; ``tags``/``properties`` filter as the SDK's do."""
    found = api(workspace, RunsApi).iterate(tags=tags, properties=properties, **params)
    experiments: dict[str, Experiment] = {}
    while True:
        # Pages are fetched as the generator is consumed: the first run comes after one page.
        with sdk_errors():
            info = next(found, None)
        if info is None:
            return
        if info.experiment_name not in experiments:
            experiments[info.experiment_name] = Experiment(
                workspace, info.experiment_name, _skip_name_validation=True, _id=info.experiment_id
            )
        yield run_of(experiments[info.experiment_name], info)


def start_logging(
    experiment: Experiment,
    *args: Any,
    outputs: str | None = None,
    snapshot_directory: str | None = ".",
    run_id: str | None = None,
    display_name: str | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> Run:
    """``Experiment.start_logging``: an interactive run, Running until ``complete()``."""
    from trainforge.storage import snapshot as snapshots

    snapshot_id = None
    if snapshot_directory is not None:
        try:
            snapshot_id = upload_snapshot(experiment.workspace, snapshot_directory)
        except snapshots.SnapshotLimitError as exc:
            warnings.warn(f"The run goes on without a snapshot: {exc}", stacklevel=2)
    body = {
        "kind": "interactive",
        "run_id": run_id,
        "display_name": display_name or name,
        "snapshot_id": snapshot_id,
        "properties": {"ContentSnapshotId": snapshot_id} if snapshot_id else {},
        "submitted_by": submitting_user(),
    }
    with sdk_errors():
        created = api(experiment.workspace, RunsApi).create(experiment.name, body)
    return Run(experiment, created.run_id, outputs or "./outputs", _info=created)


def upload_snapshot(workspace: Workspace, source_directory: str | os.PathLike[str]) -> str:
    """Snapshot ``source_directory`` and upload it unless the service already holds it."""
    from trainforge.storage import snapshot as snapshots

    snap = snapshots.take(source_directory)
    store = api(workspace, SnapshotsApi)
    try:
        with sdk_errors():
            if not store.exists(snap.id):
                with open(snap.zip_path, "rb") as body:
                    store.upload(snap.id, body)
    finally:
        snap.zip_path.unlink(missing_ok=True)
    return snap.id


def submitting_user() -> str:
    """The name a submitted run is recorded as submitted by (``submitted_by``)."""
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "unknown"


set_run_source(RunSource(start_logging=start_logging, list_runs=list_runs))
