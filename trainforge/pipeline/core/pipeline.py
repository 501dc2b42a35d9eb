"""Pipeline (``azureml.pipeline.core.pipeline``): a graph of steps, validated here with the
service's own rules and run by the control plane."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from trainforge.client.api import api
from trainforge.client.api.pipelines import PipelinesApi
from trainforge.client.api.published_pipelines import PublishedPipelinesApi
from trainforge.client.errors import sdk_errors, validated
from trainforge.core._tags import sanitize
from trainforge.core.run import run_of, submitting_user, upload_snapshot
from trainforge.exceptions import SnapshotException, UserErrorException
from trainforge.pipeline.core.builder import (
    BuildContext,
    PipelineStep,
    StepSequence,
    _datastore_name,
)
from trainforge.pipeline.core.graph import parameter_value
from trainforge.pipeline.core.run import PipelineRun
from trainforge.schemas.pipelines import (
    ParameterValue,
    PipelineGraph,
    PipelineSubmit,
    StepSpec,
    graph_errors,
)
from trainforge.schemas.published_pipelines import PublishedPipelineCreate
from trainforge.storage.snapshot import SnapshotLimitError

if TYPE_CHECKING:
    from trainforge.core.experiment import Experiment
    from trainforge.core.workspace import Workspace
    from trainforge.pipeline.core.published_pipeline import PublishedPipeline

log = logging.getLogger("trainforge")


class Pipeline:
    """``Pipeline(workspace, steps, description=None, default_datastore=None,
    default_source_directory=None, resolve_closure=True)``.

    ``steps`` is a list of steps or a StepSequence; with ``resolve_closure`` the steps
    that the given ones need (producers of their inputs, steps they run after) are pulled
    in, so ``Pipeline(ws, steps=[last_step])`` runs the whole chain.
    """

    def __init__(
        self,
        workspace: Workspace,
        steps: Any,
        description: str | None = None,
        default_datastore: Any = None,
        default_source_directory: str | None = None,
        resolve_closure: bool = True,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
        **kwargs: Any,
    ) -> None:
        self._workspace = workspace
        self._description = description
        self._default_datastore = _datastore_name(
            default_datastore or kwargs.pop("default_datastore_name", None)
        )
        self._default_source_directory = default_source_directory
        self._edges: list[tuple[PipelineStep, PipelineStep]] = []
        if isinstance(steps, StepSequence):
            given = steps._all()
            self._edges = steps._edges()
        elif isinstance(steps, PipelineStep):
            given = [steps]
        else:
            given = []
            for item in list(steps or []):
                if isinstance(item, StepSequence):
                    given += item._all()
                    self._edges += item._edges()
                elif isinstance(item, PipelineStep):
                    given.append(item)
                else:
                    raise UserErrorException(
                        f"steps: expected steps or a StepSequence, not {type(item).__name__}"
                    )
        if not given:
            raise UserErrorException("steps: a pipeline needs at least one step")
        self._steps = self._closure(given) if resolve_closure else _unique(given)

    @staticmethod
    def _closure(steps: list[PipelineStep]) -> list[PipelineStep]:
        found: list[PipelineStep] = []
        pending = list(steps)
        while pending:
            step = pending.pop(0)
            if any(step is s for s in found):
                continue
            found.append(step)
            pending.extend(step._upstream())
        return found

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def steps(self) -> list[PipelineStep]:
        return list(self._steps)

    def _run_after(self, step: PipelineStep) -> list[str]:
        names = [s.name for s in step._run_after]
        names += [before.name for before, after in self._edges if after is step]
        return sorted(set(names))

    def _specs(self, context: BuildContext) -> list[StepSpec]:
        return [step._spec(context, self._run_after(step)) for step in self._steps]

    def _context(self, upload: bool) -> BuildContext:
        snapshots: dict[str, str | None] = {}

        def snapshot(source_directory: str) -> str | None:
            key = str(Path(source_directory).resolve())
            if key not in snapshots:
                if not upload:
                    snapshots[key] = None
                else:
                    try:
                        snapshots[key] = upload_snapshot(self._workspace, source_directory)
                    except SnapshotLimitError as exc:
                        raise SnapshotException(str(exc)) from None
            return snapshots[key]

        default = self._default_datastore or self._workspace.get_default_datastore().name
        return BuildContext(self._workspace, default, self._default_source_directory, snapshot)

    def _errors(self, context: BuildContext) -> tuple[list[str], PipelineGraph | None]:
        specs = self._specs(context)
        graph = PipelineGraph.model_construct(
            steps=specs, parameters=context.parameter_specs(), description=self._description
        )
        errors = graph_errors(graph)
        return errors, None if errors else PipelineGraph.model_validate(graph.model_dump())

    @staticmethod
    def load_yaml(
        workspace: Workspace,
        filename: str,
        _workflow_provider: Any = None,
        _service_endpoint: Any = None,
    ) -> Pipeline:
        """A Pipeline from the SDK's pipeline YAML: ``pipeline:`` with ``description``
        (or ``name``), ``parameters`` (``type``: string, int, float, bool or datapath, and
        ``default``), ``data_references`` (``datastore`` + ``path_on_datastore``, or
        ``dataset_name``/``dataset_id``), ``default_compute`` and ``steps`` (each with its
        ``type``: PythonScriptStep or DataTransferStep; ``inputs`` with ``source`` and
        ``bind_mode``, ``outputs`` with ``destination``, ``datastore`` and ``bind_mode``,
        ``arguments`` with ``input:<name>``/``output:<name>``, ``parameters``, ``compute``,
        ``runconfig``, ``source_directory``, ``allow_reuse``). A bad file raises ValueError
        naming the key; nothing is built."""
        from trainforge.pipeline.core import pipeline_yaml

        steps, description = pipeline_yaml.load(workspace, filename)
        return Pipeline(workspace, steps, description=description)

    def validate(self) -> list[str]:
        """The pipeline's errors: inputs nobody produces, duplicate step or output names,
        cycles, unknown parameters. Empty: the pipeline is valid. Uploads nothing."""
        errors, _ = self._errors(self._context(upload=False))
        if errors:
            for error in errors:
                print(error)
        return errors

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        regenerate_outputs: bool = False,
        parent_run_id: str | None = None,
        credential_passthrough: Any = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """Submit the pipeline as a run of ``experiment_name``; returns at once."""
        from trainforge.core.experiment import Experiment

        return self._submit(
            Experiment(self._workspace, experiment_name),
            pipeline_parameters=pipeline_parameters,
            continue_on_step_failure=continue_on_step_failure,
            regenerate_outputs=regenerate_outputs,
            parent_run_id=parent_run_id,
            **kwargs,
        )

    def _submit(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        regenerate_outputs: bool = False,
        parent_run_id: str | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """``Experiment.submit(pipeline, ...)``: check the graph, snapshot each step's
        folder, and hand the graph to the control plane."""
        graph, values = self._service_graph(pipeline_parameters)
        request = validated(
            PipelineSubmit,
            graph=graph,
            pipeline_parameters=values,
            continue_on_step_failure=bool(continue_on_step_failure),
            regenerate_outputs=bool(regenerate_outputs),
            parent_run_id=parent_run_id,
            tags=sanitize(tags or {}),
            description=self._description,
            submitted_by=submitting_user(),
        )
        with sdk_errors():
            info = api(experiment.workspace, PipelinesApi).submit(experiment.name, request)
        return cast(PipelineRun, run_of(experiment, info))

    def publish(
        self,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> PublishedPipeline:
        """Publish the pipeline: the control plane keeps its graph (and its steps'
        snapshots) under an id, to run again by ``PublishedPipeline.submit`` or a POST on
        its ``endpoint``, or on a Schedule."""
        from trainforge.pipeline.core.published_pipeline import PublishedPipeline

        graph, _ = self._service_graph(None)
        request = validated(
            PublishedPipelineCreate,
            name=name or f"Pipeline-{uuid.uuid4().hex[:8]}",
            description=description if description is not None else self._description,
            version=version,
            continue_on_step_failure=bool(continue_on_step_failure),
            graph=graph,
            created_by=submitting_user(),
        )
        with sdk_errors():
            info = api(self._workspace, PublishedPipelinesApi).publish(request)
        return PublishedPipeline(self._workspace, info)

    def _service_graph(
        self, pipeline_parameters: dict[str, Any] | None
    ) -> tuple[PipelineGraph, dict[str, ParameterValue]]:
        """The graph as the service takes it, each step's folder uploaded as a snapshot,
        and the parameter values given; a bad graph or an unknown parameter is refused
        before anything is uploaded."""
        context = self._context(upload=False)
        errors, _ = self._errors(context)
        if errors:
            raise UserErrorException("The pipeline is not valid: " + "; ".join(errors))
        # Parameters are checked before anything is uploaded.
        values = {
            name: parameter_value(name, value)
            for name, value in (pipeline_parameters or {}).items()
        }
        unknown = sorted(set(values) - set(context.parameters))
        if unknown:
            raise UserErrorException(
                f"pipeline_parameters: {', '.join(map(repr, unknown))} not defined in the pipeline"
                + (
                    f"; its parameters are {', '.join(sorted(context.parameters))}"
                    if context.parameters
                    else "; it has none"
                )
            )
        context = self._context(upload=True)
        _, graph = self._errors(context)
        assert graph is not None
        return graph, values

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self._steps]})"


def _unique(steps: list[PipelineStep]) -> list[PipelineStep]:
    found: list[PipelineStep] = []
    for step in steps:
        if not any(step is s for s in found):
            found.append(step)
    return found
