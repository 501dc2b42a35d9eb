"""ML pipeline runs: submit (the parent run, its graph and its steps), read the graph with
each step's state, and what a step's child run is made of (its definition with the data
and parameter values of this run, and its fingerprint for reuse)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainforge.schemas.datastores import (
    DataReferenceSpec,
    DatasetDefinition,
    DatasetInputSpec,
    DatasetPath,
    StorageAccess,
)
from trainforge.schemas.pipelines import (
    PIPELINE_RUN_TYPE,
    RUNCONFIG_PARAMS,
    DataPathValue,
    DatasetValue,
    OutputLocation,
    ParameterRef,
    ParameterValue,
    PipelineGraph,
    PipelineRunGraph,
    PipelineSubmit,
    StepArgument,
    StepInput,
    StepRunInfo,
    StepSpec,
    dependencies,
    order,
    parameter_from_json,
    parameter_json,
    parameter_values,
    producers,
)
from trainforge.schemas.runs import RunCreate, RunDefinition, RunStatus
from trainforge.server.errors import BadRequest, NotFound
from trainforge.server.services import datastores
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.pipelines import PipelineRunRow, PipelineStepRow
from trainforge.storage import transfer
from trainforge.storage.locations import datastore_path, join, open_filesystem

CANCELED_WITH_PARENT = "The step run was canceled because its pipeline run {parent} was canceled"


def output_path(step_run_id: str, name: str, destination: str | None = None) -> str:
    """Where a step run's output ``name`` is kept on its datastore: a PipelineData under
    ``azureml/<step run id>/<name>`` (as Azure ML does), an OutputFileDatasetConfig at its
    destination with ``{run-id}`` and ``{output-name}`` filled in."""
    if destination is None:
        return f"azureml/{step_run_id}/{name}"
    path = destination.replace("{run-id}", step_run_id).replace("{output-name}", name)
    return path.strip("/")


def _check_steps(db: Session, runs: RunService, ws: models.Workspace, graph: PipelineGraph) -> None:
    """Every step's compute target and every datastore named must exist: a bad name is
    the submit's 4xx, nothing is created."""
    for step in graph.steps:
        try:
            runs._check_target(db, ws, step.definition)
        except BadRequest as exc:
            raise BadRequest(f"step {step.name!r}: {exc.message}") from None
        except NotFound as exc:
            raise NotFound(f"step {step.name!r}: {exc.message}") from None
        names = [o.datastore_name for o in step.outputs]
        names += [i.reference.datastore_name for i in step.inputs if i.reference is not None]
        for name in names:
            if datastores.find(db, ws, name) is None:
                raise NotFound(
                    f"step {step.name!r}: datastore {name!r} not found in workspace {ws.name!r}"
                )


def create(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    experiment_name: str,
    request: PipelineSubmit,
    properties: dict[str, str] | None = None,
) -> models.Run:
    """Create the pipeline run (Running at once) and its steps, which the pipeline loop
    submits as their inputs become ready. ``properties`` are added to the run's (a
    published pipeline's id, the schedule that submitted it, its run source)."""
    graph = request.graph
    _check_steps(db, runs, ws, graph)
    try:
        values = parameter_values(graph, request.pipeline_parameters)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    check_datastores(db, ws, values)
    parent = runs.create(
        db,
        ws,
        experiment_name,
        RunCreate(
            run_id=request.run_id or str(uuid.uuid4()),
            kind="pipeline",
            run_type=PIPELINE_RUN_TYPE,
            parent_run_id=request.parent_run_id,
            display_name=request.display_name,
            description=request.description or graph.description,
            tags=dict(request.tags),
            properties={
                "azureml.runsource": "azureml.PipelineRun",
                "runSource": "SDK",
                "runType": "SDK",
                "azureml.parameters": json.dumps(
                    {k: _json_value(v) for k, v in values.items()}, sort_keys=True
                ),
                "azureml.continue_on_step_failure": str(request.continue_on_step_failure),
                "azureml.pipelineComponent": "pipelinerun",
                **(properties or {}),
            },
            submitted_by=request.submitted_by,
        ),
    )
    db.add(
        PipelineRunRow(
            workspace_id=ws.id,
            run_id=parent.id,
            graph=graph.model_dump(mode="json"),
            parameters={k: _json_value(v) for k, v in values.items()},
            continue_on_step_failure=request.continue_on_step_failure,
            regenerate_outputs=request.regenerate_outputs,
            state="running",
        )
    )
    db.flush()
    for index, name in enumerate(order(graph)):
        db.add(
            PipelineStepRow(
                workspace_id=ws.id,
                pipeline_run_id=parent.id,
                name=name,
                index=index,
                state="waiting",
                outputs={},
            )
        )
    db.flush()
    return parent


def check_datastores(db: Session, ws: models.Workspace, values: dict[str, ParameterValue]) -> None:
    """Each datastore a DataPath or a dataset value reads is one of the workspace's (404)."""
    for name, value in values.items():
        stores = []
        if isinstance(value, DataPathValue):
            stores = [value.datastore_name]
        elif isinstance(value, DatasetValue):
            stores = sorted({p.datastore_name for p in value.definition.paths if p.datastore_name})
        for store in stores:
            if datastores.find(db, ws, store) is None:
                raise NotFound(f"pipeline_parameters: {name!r}: datastore {store!r} not found")


def _json_value(value: ParameterValue) -> Any:
    return parameter_json(value)


def loaded_parameters(row: PipelineRunRow) -> dict[str, ParameterValue]:
    return {name: parameter_from_json(value) for name, value in row.parameters.items()}


def pipeline_of(db: Session, ws: models.Workspace, run_id: str) -> PipelineRunRow:
    row = db.get(PipelineRunRow, (ws.id, run_id))
    if row is None:
        raise NotFound(f"Pipeline run {run_id!r} not found in workspace {ws.name!r}")
    return row


def steps_of(db: Session, row: PipelineRunRow) -> list[PipelineStepRow]:
    return list(
        db.scalars(
            select(PipelineStepRow)
            .where(
                PipelineStepRow.workspace_id == row.workspace_id,
                PipelineStepRow.pipeline_run_id == row.run_id,
            )
            .order_by(PipelineStepRow.index)
        )
    )


def step_status(db: Session, step: PipelineStepRow) -> RunStatus:
    """A step's status: its run's, NotStarted until it has one."""
    if step.run_id is None:
        return RunStatus.NOT_STARTED
    run = db.get(models.Run, (step.workspace_id, step.run_id))
    return RunStatus(run.status) if run is not None else RunStatus.NOT_STARTED


def graph_info(db: Session, ws: models.Workspace, run_id: str) -> PipelineRunGraph:
    row = pipeline_of(db, ws, run_id)
    parent = db.get(models.Run, (ws.id, run_id))
    assert parent is not None
    graph = PipelineGraph.model_validate(row.graph)
    specs = {step.name: step for step in graph.steps}
    waits = dependencies(graph)
    steps = []
    for step in steps_of(db, row):
        spec = specs[step.name]
        steps.append(
            StepRunInfo(
                name=step.name,
                kind=spec.kind,
                run_id=step.run_id,
                status=step_status(db, step),
                state=step.state,
                depends_on=sorted(waits[step.name]),
                inputs=[i.name for i in spec.inputs],
                outputs={k: OutputLocation.model_validate(v) for k, v in step.outputs.items()},
                reused_run_id=step.reused_run_id,
                fingerprint=step.fingerprint,
                pipeline_outputs={
                    o.pipeline_output_name: o.name for o in spec.outputs if o.pipeline_output_name
                },
            )
        )
    return PipelineRunGraph(
        run_id=run_id,
        status=RunStatus(parent.status),
        continue_on_step_failure=row.continue_on_step_failure,
        regenerate_outputs=row.regenerate_outputs,
        parameters=loaded_parameters(row),
        steps=steps,
        edges=sorted((before, name) for name, befores in waits.items() for before in befores),
        created=row.created,
    )


# -- a step's child run ------------------------------------------------------------------


def _literal(value: ParameterValue) -> str:
    if isinstance(value, DataPathValue):
        return value.path_on_datastore or ""
    if isinstance(value, DatasetValue):
        return value.dataset_id or ""
    return str(value)


def _argument(arg: StepArgument, values: dict[str, ParameterValue]) -> str:
    return _literal(values[arg.parameter]) if isinstance(arg, ParameterRef) else arg


def resolved_definition(
    step: StepSpec,
    values: dict[str, ParameterValue],
    upstream: dict[str, OutputLocation],
    outputs: dict[str, OutputLocation],
) -> RunDefinition:
    """The step's RunDefinition for one pipeline run: parameter values in its arguments,
    ``params`` as AML_PARAMETER_<name>, its runconfig parameters, each input bound to
    where its data is (``upstream``: the producing steps' outputs) and each output to
    where it goes (``outputs``)."""
    definition = step.definition.model_copy(deep=True)
    definition.arguments = [_argument(a, values) for a in step.arguments]
    if step.command:
        definition.command = [_argument(a, values) for a in step.command]
    variables = dict(definition.environment.environment_variables)
    for name, param in step.params.items():
        variables[f"AML_PARAMETER_{name}"] = _argument(param, values)
    definition.environment.environment_variables = variables
    for key, parameter in step.runconfig_pipeline_params.items():
        count = values[parameter]
        if isinstance(count, bool) or not isinstance(count, int | str) or not str(count).isdigit():
            raise BadRequest(
                f"step {step.name!r}: runconfig_pipeline_params {key!r} takes a whole number, "
                f"parameter {parameter!r} is {count!r}"
            )
        setattr(definition, RUNCONFIG_PARAMS[key], int(count))
    references = dict(definition.data_references)
    for item in step.inputs:
        if item.kind == "pipeline_data" and item.as_dataset is not None:
            where = upstream[item.data]
            parse = item.as_dataset
            definition.datasets = {
                **definition.datasets,
                item.name: DatasetInputSpec(
                    name=item.name,
                    mode=item.mode,
                    path_on_compute=item.path_on_compute,
                    definition=DatasetDefinition(
                        dataset_type=parse.dataset_type,
                        paths=[
                            DatasetPath(
                                datastore_name=where.datastore_name, path=where.path_on_datastore
                            )
                        ],
                        separator=parse.separator,
                        header=parse.header,
                        include_path=parse.include_path,
                    ),
                ),
            }
        elif item.kind == "pipeline_data":
            where = upstream[item.data]
            references[item.name] = DataReferenceSpec(
                datastore_name=where.datastore_name,
                mode="download" if item.mode == "download" else "mount",
                path_on_datastore=where.path_on_datastore,
                path_on_compute=item.path_on_compute,
                overwrite=item.overwrite,
                allow_empty=True,
            )
        elif item.kind == "data_reference":
            assert item.reference is not None
            references[item.name] = item.reference
        elif item.kind == "datapath_parameter":
            value = _parameter_of(step, item, values, DataPathValue, "DataPath")
            references[item.name] = DataReferenceSpec(
                datastore_name=value.datastore_name,
                mode="download" if item.mode == "download" else "mount",
                path_on_datastore=value.path_on_datastore,
                path_on_compute=item.path_on_compute,
                overwrite=item.overwrite,
            )
        elif item.kind == "dataset_parameter":
            definition.datasets = {
                **definition.datasets,
                item.name: _dataset_input(step, item, values),
            }
        else:
            assert item.dataset is not None
            definition.datasets = {**definition.datasets, item.name: item.dataset}
    for output in step.outputs:
        where = outputs[output.name]
        references[output.name] = DataReferenceSpec(
            datastore_name=where.datastore_name,
            mode="upload",
            path_on_datastore=where.path_on_datastore,
            path_on_compute=output.path_on_compute or where.path_on_datastore,
            overwrite=output.overwrite,
        )
    definition.data_references = references
    return definition


Value = TypeVar("Value", DataPathValue, DatasetValue)


def _parameter_of(
    step: StepSpec,
    item: StepInput,
    values: dict[str, ParameterValue],
    kind: type[Value],
    what: str,
) -> Value:
    """The value of an input's parameter at this submit, of the kind the input takes."""
    assert item.parameter is not None
    value = values[item.parameter]
    if not isinstance(value, kind):
        raise BadRequest(
            f"step {step.name!r}: input {item.name!r} takes a {what}; parameter "
            f"{item.parameter!r} is {value!r}"
        )
    return value


def _dataset_input(
    step: StepSpec, item: StepInput, values: dict[str, ParameterValue]
) -> DatasetInputSpec:
    """A ``dataset_parameter`` input: the dataset its parameter has at this submit."""
    value = _parameter_of(step, item, values, DatasetValue, "dataset")
    return DatasetInputSpec(
        name=item.name,
        mode=item.mode,
        path_on_compute=item.path_on_compute,
        dataset_id=value.dataset_id,
        definition=value.definition,
    )


Digest = Callable[[str, str | None], str]


def fingerprint(
    step: StepSpec,
    values: dict[str, ParameterValue],
    upstream: dict[str, OutputLocation],
    digest: Digest,
) -> str:
    """What makes a step's execution the same as an earlier one: its definition (script or
    command, arguments and parameter values, environment, compute, nodes), its code (the
    snapshot's content hash, .amlignore honoured), its outputs' names and stores, and the
    identity of each input: the producing step run's output, or a path's content (bytes),
    or a dataset's version."""
    blank = {
        o.name: OutputLocation(datastore_name=o.datastore_name, path_on_datastore="")
        for o in step.outputs
    }
    definition = resolved_definition(step, values, upstream, blank)
    # Inputs are named by identity below; their locations in the definition are these same.
    definition.data_references = {
        k: v for k, v in definition.data_references.items() if v.mode == "upload"
    }
    identities: list[Any] = []
    for item in step.inputs:
        if item.kind == "pipeline_data":
            where = upstream[item.data]
            identities.append(
                [item.name, "pipeline_data", where.datastore_name, where.path_on_datastore]
            )
        elif item.kind in ("data_reference", "datapath_parameter"):
            if item.reference is not None:
                store, path = item.reference.datastore_name, item.reference.path_on_datastore
            else:
                assert item.parameter is not None
                value = values[item.parameter]
                assert isinstance(value, DataPathValue)
                store, path = value.datastore_name, value.path_on_datastore
            identities.append([item.name, item.kind, item.mode, store, path, digest(store, path)])
        elif item.kind == "dataset_parameter":
            spec = _dataset_input(step, item, values)
            identities.append([item.name, "dataset", spec.model_dump(mode="json")])
        else:
            assert item.dataset is not None
            identities.append([item.name, "dataset", item.dataset.model_dump(mode="json")])
    body = {
        "kind": step.kind,
        "definition": definition.model_dump(mode="json"),
        "snapshot_id": step.snapshot_id,
        "inputs": identities,
        "version": step.version,
    }
    # Only where given: fingerprints of other steps stay as they were.
    if step.sweep is not None:
        body["sweep"] = step.sweep.model_dump(mode="json")
    if step.automl is not None:
        body["automl"] = step.automl.model_dump(mode="json")
    trained = {o.name: o.training_output for o in step.outputs if o.training_output is not None}
    if trained:
        body["training_outputs"] = {k: v.model_dump(mode="json") for k, v in trained.items()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class ContentDigests:
    """The content hash of a path on a datastore, for reuse: a local store's files are read
    (kept per file by size and modification time, so an unchanged file is read once); a
    remote store's are named by their size and ETag, which the store changes with the
    bytes."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, int, str], str] = {}

    def of(self, access: StorageAccess, path: str | None) -> str:
        fs = open_filesystem(access)
        base = join(access.root, datastore_path(path))
        found = transfer.list_files(fs, base)
        total = hashlib.sha256()
        for remote in sorted(found):
            info = found[remote]
            relative = remote[len(fs._strip_protocol(base).rstrip("/")) :]
            if access.storage_kind == "local":
                key = (remote, info.size, info.version)
                if key not in self._files:
                    with fs.open(remote, "rb") as f:
                        self._files[key] = hashlib.file_digest(f, "sha256").hexdigest()
                part = self._files[key]
            else:
                part = f"{info.size}:{info.version}"
            total.update(f"{relative}\0{part}\n".encode())
        return total.hexdigest()


def reusable_step(db: Session, ws: models.Workspace, fingerprint_: str) -> PipelineStepRow | None:
    """The latest step that ran (not reused) with this fingerprint in the workspace and
    completed: its outputs are whole."""
    query = (
        select(PipelineStepRow)
        .join(
            models.Run,
            (models.Run.workspace_id == PipelineStepRow.workspace_id)
            & (models.Run.id == PipelineStepRow.run_id),
        )
        .where(
            PipelineStepRow.workspace_id == ws.id,
            PipelineStepRow.fingerprint == fingerprint_,
            PipelineStepRow.reused_run_id.is_(None),
            models.Run.status == RunStatus.COMPLETED.value,
        )
        .order_by(models.Run.ended.desc())
        .limit(1)
    )
    return db.scalar(query)


def upstream_locations(
    graph: PipelineGraph, steps: dict[str, PipelineStepRow]
) -> dict[str, OutputLocation]:
    """PipelineData name -> where its producing step's run put it (those that have run)."""
    found: dict[str, OutputLocation] = {}
    for data, producer in producers(graph).items():
        where = steps[producer].outputs.get(data)
        if where is not None:
            found[data] = OutputLocation.model_validate(where)
    return found
