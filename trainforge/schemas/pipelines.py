"""ML pipelines as the REST API sees them: a graph of steps, the data between them, the
parameters of a submit, and a pipeline run's steps with their states.

The graph's rules (``graph_errors``) are the SDK's ``Pipeline.validate()`` list and the
server's check of a submit: one function, so both give the same errors.
"""

from __future__ import annotations

import graphlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from trainforge.schemas.automl import AutoMLSettings
from trainforge.schemas.datastores import (
    DataReferenceSpec,
    DatasetDefinition,
    DatasetInputSpec,
    DatasetParse,
    OutputRegistration,
)
from trainforge.schemas.names import RunId
from trainforge.schemas.runs import RunDefinition, RunStatus
from trainforge.schemas.sweeps import SweepSettings

DATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
DATA_NAME_RULE = "1 to 128 letters, digits and '_', not starting with a digit"
STEP_NAME_RULE = "1 to 255 characters"
PIPELINE_RUN_TYPE = "azureml.PipelineRun"
STEP_RUN_TYPE = "azureml.StepRun"
PIPELINE_LOG = "azureml-logs/pipeline.txt"
# What runconfig_pipeline_params may set, and the RunDefinition field each one sets.
RUNCONFIG_PARAMS = {
    "NodeCount": "node_count",
    "MpiProcessCountPerNode": "process_count_per_node",
    "TensorflowWorkerCount": "worker_count",
    "TensorflowParameterServerCount": "parameter_server_count",
}

Scalar = bool | int | float | str
MAX_ITERATION = 1000


def _data_name(field: str) -> Any:
    def check(value: str) -> str:
        if not DATA_NAME.fullmatch(value):
            raise ValueError(f"{field}: {value!r} is not allowed; use {DATA_NAME_RULE}")
        return value

    return AfterValidator(check)


DataName = Annotated[str, _data_name("name")]
ParameterName = Annotated[str, _data_name("parameter name")]


class ParameterRef(BaseModel):
    """A PipelineParameter where a literal goes (an argument, a ``params`` value): its value
    at submit."""

    parameter: ParameterName


StepArgument = str | ParameterRef


class DataPathValue(BaseModel):
    """A DataPath as a parameter's value: a path on a datastore."""

    datastore_name: str
    path_on_datastore: str | None = None


class DatasetValue(BaseModel):
    """A dataset as a parameter's value (``PipelineParameter(name, default_value=dataset)``):
    what it reads, and its id when it is registered."""

    dataset_id: str | None = None
    definition: DatasetDefinition


ParameterValue = Scalar | DataPathValue | DatasetValue


def value_kind(value: ParameterValue) -> str:
    """The kind of a parameter's value, in the SDK's words: a value of one kind never
    stands in for another at a submit."""
    if isinstance(value, DataPathValue):
        return "DataPath"
    if isinstance(value, DatasetValue):
        return "Dataset"
    return "scalar"


def parameter_json(value: ParameterValue) -> Any:
    """A parameter's value as stored (JSON)."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def parameter_from_json(value: Any) -> ParameterValue:
    """A stored parameter value back: a dict is a dataset's definition or a DataPath."""
    if not isinstance(value, dict):
        return value  # type: ignore[no-any-return]
    if "definition" in value:
        return DatasetValue.model_validate(value)
    return DataPathValue.model_validate(value)


class PipelineParameterSpec(BaseModel):
    """``PipelineParameter(name, default_value)``."""

    name: ParameterName
    default_value: ParameterValue


class StepInput(BaseModel):
    """One input of a step, reaching its processes as ``$AZUREML_DATAREFERENCE_<name>``
    (a dataset input: as its own variable).

    - ``pipeline_data``: the PipelineData ``name`` another step of the graph produces;
    - ``data_reference``: a path on a datastore (``reference``);
    - ``datapath_parameter``: the DataPath value of parameter ``parameter``;
    - ``dataset``: a dataset input (``dataset``);
    - ``dataset_parameter``: the dataset value of parameter ``parameter``, consumed as
      input ``name`` in ``mode`` (``DatasetConsumptionConfig(name, pipeline_parameter)``).
    """

    name: str = Field(min_length=1, max_length=255)
    kind: Literal[
        "pipeline_data", "data_reference", "datapath_parameter", "dataset", "dataset_parameter"
    ]
    mode: Literal["mount", "download", "direct"] = "mount"
    path_on_compute: str | None = None
    overwrite: bool = False
    reference: DataReferenceSpec | None = None
    parameter: ParameterName | None = None
    dataset: DatasetInputSpec | None = None
    # A pipeline_data input: the output it reads when its own name is another
    # (``output.as_input(name)``), and whether it is read as a dataset.
    source: DataName | None = None
    as_dataset: DatasetParse | None = None

    @property
    def data(self) -> str:
        """The upstream output a pipeline_data input reads."""
        return self.source or self.name

    @model_validator(mode="after")
    def _kind_has_its_part(self) -> StepInput:
        needed = {
            "pipeline_data": None,
            "data_reference": "reference",
            "datapath_parameter": "parameter",
            "dataset": "dataset",
            "dataset_parameter": "parameter",
        }[self.kind]
        if needed is not None and getattr(self, needed) is None:
            raise ValueError(f"{needed}: required for an input of kind {self.kind}")
        return self


TRAINING_OUTPUT_KINDS = ("HyperDriveStep", "AutoMLStep")


class TrainingOutputSpec(BaseModel):
    """``TrainingOutput(type, iteration=None, metric=None, model_file=None)``: what a
    HyperDriveStep or an AutoMLStep puts in an output once its search ended. 'Metrics': a
    JSON file of every child run's metrics (``{run id: {metric: value}}``). 'Model': the
    best child's model (an AutoMLStep: its ``outputs/model.pkl``, or iteration
    ``iteration``'s, or the best by ``metric``; a HyperDriveStep: its file ``model_file``,
    else its whole ``outputs`` folder)."""

    type: Literal["Metrics", "Model"]
    iteration: int | None = Field(default=None, ge=0, le=MAX_ITERATION)
    metric: str | None = Field(default=None, min_length=1, max_length=255)
    model_file: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _fits_its_type(self) -> TrainingOutputSpec:
        if self.type == "Metrics" and (self.iteration is not None or self.metric is not None):
            given = "iteration" if self.iteration is not None else "metric"
            raise ValueError(f"{given}: not for a TrainingOutput of type 'Metrics' (only 'Model')")
        if self.type == "Metrics" and self.model_file is not None:
            raise ValueError("model_file: not for a TrainingOutput of type 'Metrics'")
        if self.iteration is not None and self.metric is not None:
            raise ValueError(
                "iteration: give iteration or metric for a TrainingOutput of type 'Model', not both"
            )
        return self


class StepOutput(BaseModel):
    """A PipelineData a step produces: kept on ``datastore_name`` under
    ``azureml/<step run id>/<name>``."""

    name: DataName
    datastore_name: str
    mode: Literal["mount", "upload"] = "mount"
    path_on_compute: str | None = None
    overwrite: bool = False
    # An OutputFileDatasetConfig's destination on the datastore, with the placeholders
    # {run-id} and {output-name}; None: azureml/<step run id>/<name>.
    destination: str | None = Field(default=None, max_length=1024)
    registration: OutputRegistration | None = None
    # ``PipelineData(pipeline_output_name=...)``: the name PipelineRun.get_pipeline_output knows.
    pipeline_output_name: DataName | None = None
    # ``PipelineData(training_output=...)``: filled by a HyperDriveStep or AutoMLStep when
    # its search ends (a file: the metrics JSON or the model file; or the model's folder).
    training_output: TrainingOutputSpec | None = None


class StepSpec(BaseModel):
    """One step: what its child run runs (``definition``: script or command, compute,
    environment, nodes; its arguments are in ``arguments``), its code snapshot, its data and
    what it waits for."""

    name: str = Field(min_length=1, max_length=255)
    kind: Literal[
        "PythonScriptStep",
        "CommandStep",
        "EstimatorStep",
        "MpiStep",
        "HyperDriveStep",
        "ParallelRunStep",
        "DataTransferStep",
        "AutoMLStep",
    ] = "PythonScriptStep"
    definition: RunDefinition
    arguments: list[StepArgument] = Field(default_factory=list)
    # A CommandStep's command words (parameters resolved as in arguments); none: the script.
    command: list[StepArgument] = Field(default_factory=list)
    snapshot_id: str | None = None
    inputs: list[StepInput] = Field(default_factory=list)
    outputs: list[StepOutput] = Field(default_factory=list)
    # ``params``: environment variables AML_PARAMETER_<name> of the step's processes.
    params: dict[str, StepArgument] = Field(default_factory=dict)
    # ``runconfig_pipeline_params``: 'NodeCount' (and the like) -> a parameter's name.
    runconfig_pipeline_params: dict[str, ParameterName] = Field(default_factory=dict)
    run_after: list[str] = Field(default_factory=list)
    allow_reuse: bool = True
    version: str | None = None
    # A HyperDriveStep: the sweep whose trials run ``definition``; its outputs are its best
    # trial's, and ``metrics_output`` (one of its outputs) gets every trial's metrics.
    sweep: SweepSettings | None = None
    metrics_output: str | None = None
    # An AutoMLStep: the AutoML run whose iterations run ``definition`` (the iteration
    # script of the snapshot); its outputs are TrainingOutputs, filled when it completes.
    automl: AutoMLSettings | None = None

    @model_validator(mode="after")
    def _sweep_of_a_hyperdrive_step(self) -> StepSpec:
        if (self.kind == "HyperDriveStep") != (self.sweep is not None):
            raise ValueError(f"step {self.name!r}: a sweep is given with a HyperDriveStep only")
        if (self.kind == "AutoMLStep") != (self.automl is not None):
            raise ValueError(
                f"step {self.name!r}: automl settings are given with an AutoMLStep only"
            )
        if self.metrics_output is not None and self.metrics_output not in {
            o.name for o in self.outputs
        }:
            raise ValueError(
                f"step {self.name!r}: metrics_output {self.metrics_output!r} is not an output"
            )
        return self


class PipelineGraph(BaseModel):
    """The steps of a pipeline and its parameters (with their defaults)."""

    steps: list[StepSpec] = Field(min_length=1, max_length=1000)
    parameters: list[PipelineParameterSpec] = Field(default_factory=list)
    description: str | None = None

    @model_validator(mode="after")
    def _valid_graph(self) -> PipelineGraph:
        errors = graph_errors(self)
        if errors:
            raise ValueError("; ".join(errors))
        return self


def producers(graph: PipelineGraph) -> dict[str, str]:
    """PipelineData name -> the step that produces it."""
    return {output.name: step.name for step in graph.steps for output in step.outputs}


def dependencies(graph: PipelineGraph) -> dict[str, set[str]]:
    """Step name -> the steps it waits for: the producers of its inputs, and run_after."""
    made = producers(graph)
    return {
        step.name: {
            made[i.data] for i in step.inputs if i.kind == "pipeline_data" and i.data in made
        }
        | set(step.run_after)
        for step in graph.steps
    }


def _parameter_refs(step: StepSpec) -> set[str]:
    refs = {a.parameter for a in [*step.arguments, *step.command] if isinstance(a, ParameterRef)}
    refs |= {v.parameter for v in step.params.values() if isinstance(v, ParameterRef)}
    refs |= set(step.runconfig_pipeline_params.values())
    refs |= {i.parameter for i in step.inputs if i.parameter is not None}
    return refs


def graph_errors(graph: PipelineGraph) -> list[str]:
    """What is wrong with the graph, one message per problem: duplicate step, output or
    parameter names, inputs nobody produces, unknown steps in run_after, unknown
    parameters, cycles. Empty: the graph is valid."""
    errors: list[str] = []
    names = [step.name for step in graph.steps]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"steps: step name {name!r} is used by {names.count(name)} steps")
    outputs = [output.name for step in graph.steps for output in step.outputs]
    for name in sorted({n for n in outputs if outputs.count(n) > 1}):
        errors.append(
            f"outputs: PipelineData {name!r} is produced by more than one step "
            "(an output name must be unique in the pipeline)"
        )
    public = [o.pipeline_output_name for s in graph.steps for o in s.outputs]
    for name in sorted({n for n in public if n is not None and public.count(n) > 1}):
        errors.append(f"outputs: pipeline_output_name {name!r} is given to more than one output")
    parameter_names = [p.name for p in graph.parameters]
    for name in sorted({n for n in parameter_names if parameter_names.count(n) > 1}):
        errors.append(f"parameters: PipelineParameter {name!r} is defined more than once")
    made = producers(graph)
    known = set(names)
    for step in graph.steps:
        for item in step.inputs:
            if item.kind == "pipeline_data" and item.data not in made:
                errors.append(
                    f"step {step.name!r}: input {item.data!r} is not connected: no step of the "
                    "pipeline produces it (give the producing step, or list it in its outputs)"
                )
            if item.kind == "pipeline_data" and made.get(item.data) == step.name:
                errors.append(f"step {step.name!r}: consumes its own output {item.data!r}")
        for other in step.run_after:
            if other not in known:
                errors.append(f"step {step.name!r}: run_after names {other!r}, not in the pipeline")
        for ref in sorted(_parameter_refs(step) - set(parameter_names)):
            errors.append(
                f"step {step.name!r}: uses PipelineParameter {ref!r}, which is not defined"
            )
        errors += _training_output_errors(step)
        for key in step.runconfig_pipeline_params:
            if key not in RUNCONFIG_PARAMS:
                errors.append(
                    f"step {step.name!r}: runconfig_pipeline_params {key!r} is not allowed; "
                    f"use one of {', '.join(RUNCONFIG_PARAMS)}"
                )
    if not errors:
        try:
            order(graph)
        except graphlib.CycleError as exc:
            cycle = " -> ".join(reversed(exc.args[1]))
            errors.append(f"the pipeline has a cycle: {cycle}")
    return errors


def _training_output_errors(step: StepSpec) -> list[str]:
    """A TrainingOutput is the output of a HyperDriveStep or an AutoMLStep only; picking a
    model by ``iteration`` or ``metric`` is an AutoMLStep's, ``model_file`` a
    HyperDriveStep's; every output of an AutoMLStep is a TrainingOutput."""
    errors = []
    for output in step.outputs:
        wanted = output.training_output
        where = f"step {step.name!r}: output {output.name!r}"
        if wanted is None:
            if step.kind == "AutoMLStep":
                errors.append(
                    f"{where}: an AutoMLStep's outputs are PipelineData with a training_output "
                    "(TrainingOutput('Metrics') or TrainingOutput('Model'))"
                )
            continue
        if step.kind not in TRAINING_OUTPUT_KINDS:
            errors.append(
                f"{where}: training_output is for the outputs of a HyperDriveStep or an "
                f"AutoMLStep, not of a {step.kind}"
            )
        elif step.kind == "HyperDriveStep" and (
            wanted.iteration is not None or wanted.metric is not None
        ):
            given = "iteration" if wanted.iteration is not None else "metric"
            errors.append(
                f"{where}: TrainingOutput {given} picks an AutoMLStep's model; a "
                "HyperDriveStep's model is its best trial's (name the file with model_file)"
            )
        elif step.kind == "AutoMLStep" and wanted.model_file is not None:
            errors.append(
                f"{where}: TrainingOutput model_file is for a HyperDriveStep; an AutoMLStep's "
                "model is the iteration's model.pkl"
            )
    return errors


def training_kind(step: StepSpec, output: StepOutput) -> str | None:
    """'Metrics' or 'Model' for an output the step fills when its search ends (a
    HyperDriveStep's ``metrics_output`` is a 'Metrics' one); None for one its processes
    write."""
    if output.training_output is not None:
        return output.training_output.type
    return "Metrics" if output.name == step.metrics_output else None


def order(graph: PipelineGraph) -> list[str]:
    """The step names in an order where each comes after what it waits for (CycleError if
    there is none)."""
    return list(graphlib.TopologicalSorter(dependencies(graph)).static_order())


def parameter_values(
    graph: PipelineGraph, assignments: dict[str, ParameterValue]
) -> dict[str, ParameterValue]:
    """Every parameter's value at a submit: the assignment, else the default. An assigned
    name the pipeline does not define is a ValueError naming it."""
    defined = {p.name: p for p in graph.parameters}
    unknown = sorted(set(assignments) - set(defined))
    if unknown:
        raise ValueError(
            f"pipeline_parameters: {', '.join(map(repr, unknown))} not defined in the pipeline"
            + (f"; its parameters are {', '.join(sorted(defined))}" if defined else "; it has none")
        )
    values: dict[str, ParameterValue] = {}
    for name, spec in defined.items():
        value = assignments.get(name, spec.default_value)
        if value_kind(spec.default_value) != value_kind(value):
            raise ValueError(
                f"pipeline_parameters: {name!r} takes a {value_kind(spec.default_value)} "
                f"as its default does, not a {value_kind(value)}"
            )
        values[name] = value
    return values


class PipelineSubmit(BaseModel):
    """``Experiment.submit(pipeline, pipeline_parameters, continue_on_step_failure,
    regenerate_outputs)``."""

    graph: PipelineGraph
    pipeline_parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    continue_on_step_failure: bool = False
    regenerate_outputs: bool = False
    run_id: RunId | None = None
    parent_run_id: RunId | None = None
    display_name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    tags: dict[str, str | None] = Field(default_factory=dict)
    submitted_by: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _known_parameters(self) -> PipelineSubmit:
        parameter_values(self.graph, self.pipeline_parameters)
        return self


class OutputLocation(BaseModel):
    """Where a step's output is: ``PortDataReference``'s datastore and path."""

    datastore_name: str
    path_on_datastore: str


StepState = Literal["waiting", "running", "done", "skipped"]


class StepRunInfo(BaseModel):
    """A step of a pipeline run: its child run (none until it is submitted) and state."""

    name: str
    kind: str
    run_id: str | None
    status: RunStatus
    state: StepState
    depends_on: list[str]
    inputs: list[str]
    outputs: dict[str, OutputLocation]
    reused_run_id: str | None = None
    fingerprint: str | None = None
    # pipeline_output_name -> the output of this step it names.
    pipeline_outputs: dict[str, str] = Field(default_factory=dict)


class PipelineRunGraph(BaseModel):
    """``GET .../pipelineruns/{id}/graph``: every step with its live state, for
    ``PipelineRun.get_graph``, the widget and the studio."""

    run_id: str
    status: RunStatus
    continue_on_step_failure: bool
    regenerate_outputs: bool
    parameters: dict[str, ParameterValue]
    steps: list[StepRunInfo]
    edges: list[tuple[str, str]]
    created: datetime
