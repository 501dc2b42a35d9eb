"""Published pipelines and pipeline endpoints: publish a graph (or a pipeline run's),
read, list, enable and disable them, and submit one as a new pipeline run with new
parameter values (the SDK's ``submit``, a REST trigger's POST, a schedule's firing)."""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainforge.schemas.pipelines import (
    DatasetValue,
    ParameterValue,
    PipelineGraph,
    PipelineSubmit,
)
from trainforge.schemas.published_pipelines import (
    PIPELINE_ENDPOINT_PROPERTY,
    PIPELINE_ID_PROPERTY,
    PipelineEndpointAdd,
    PipelineEndpointCreate,
    PipelineEndpointInfo,
    PipelineEndpointUpdate,
    PipelineEndpointVersion,
    PublishedPipelineCreate,
    PublishedPipelineInfo,
    PublishedPipelineRun,
)
from trainforge.server.errors import BadRequest, Conflict, NotFound
from trainforge.server.services import datasets, pipelines
from trainforge.server.services.runs import RunService
from trainforge.server.store import models
from trainforge.server.store.published import (
    PipelineEndpointRow,
    PipelineEndpointVersionRow,
    PublishedPipelineRow,
)


def endpoint_path(ws: models.Workspace, pipeline_id: str) -> str:
    """The path (under the API) a POST runs a published pipeline on."""
    return f"/workspaces/{ws.name}/publishedpipelines/{pipeline_id}/runs"


def endpoint_path_of_endpoint(ws: models.Workspace, endpoint_id: str) -> str:
    return f"/workspaces/{ws.name}/pipelineendpoints/{endpoint_id}/runs"


# -- published pipelines -----------------------------------------------------------------


def publish(
    db: Session, runs: RunService, ws: models.Workspace, request: PublishedPipelineCreate
) -> PublishedPipelineRow:
    """Keep the graph (the request's, or the one ``source_run_id`` ran) under a new id.
    Its computes and datastores must exist now, as at a submit."""
    if request.graph is not None:
        graph = request.graph
    else:
        assert request.source_run_id is not None
        graph = PipelineGraph.model_validate(
            pipelines.pipeline_of(db, ws, request.source_run_id).graph
        )
    pipelines._check_steps(db, runs, ws, graph)
    body = graph.model_dump(mode="json")
    row = PublishedPipelineRow(
        workspace_id=ws.id,
        id=str(uuid.uuid4()),
        name=request.name,
        description=request.description if request.description is not None else graph.description,
        version=request.version,
        status="Active",
        continue_on_step_failure=request.continue_on_step_failure,
        graph=body,
        graph_id=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
        source_run_id=request.source_run_id,
        created_by=request.created_by,
    )
    db.add(row)
    db.flush()
    return row


def get(db: Session, ws: models.Workspace, pipeline_id: str) -> PublishedPipelineRow:
    row = db.get(PublishedPipelineRow, (ws.id, pipeline_id))
    if row is None:
        raise NotFound(f"Published pipeline {pipeline_id!r} not found in workspace {ws.name!r}")
    return row


def listing(db: Session, ws: models.Workspace, active_only: bool) -> list[PublishedPipelineRow]:
    query = select(PublishedPipelineRow).where(PublishedPipelineRow.workspace_id == ws.id)
    if active_only:
        query = query.where(PublishedPipelineRow.status == "Active")
    return list(db.scalars(query.order_by(PublishedPipelineRow.created)))


def info(ws: models.Workspace, row: PublishedPipelineRow) -> PublishedPipelineInfo:
    graph = PipelineGraph.model_validate(row.graph)
    return PublishedPipelineInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        version=row.version,
        status="Active" if row.status == "Active" else "Disabled",
        continue_on_step_failure=row.continue_on_step_failure,
        graph_id=row.graph_id,
        total_run_steps=len(graph.steps),
        step_names=[step.name for step in graph.steps],
        parameters=graph.parameters,
        source_run_id=row.source_run_id,
        created_by=row.created_by,
        created=row.created,
        endpoint_path=endpoint_path(ws, row.id),
    )


def trigger_values(
    db: Session, ws: models.Workspace, body: PublishedPipelineRun
) -> dict[str, ParameterValue]:
    """A REST trigger's assignments as parameter values: each dataset named by its id in
    ``DataSetDefinitionValueAssignments`` read from the workspace's registry (404)."""
    values = body.values()
    for name, assignment in body.dataset_assignments.items():
        dataset_id = assignment.saved_dataset_reference.id
        try:
            info = datasets.get_by_id(db, ws, dataset_id)
        except NotFound as exc:
            raise NotFound(f"DataSetDefinitionValueAssignments: {name!r}: {exc}") from None
        values[name] = DatasetValue(dataset_id=info.id, definition=info.definition)
    return values


def submit(
    db: Session,
    runs: RunService,
    ws: models.Workspace,
    row: PublishedPipelineRow,
    experiment_name: str,
    values: dict[str, ParameterValue],
    continue_on_step_failure: bool | None = None,
    run_source: str = "SDK",
    description: str | None = None,
    display_name: str | None = None,
    submitted_by: str | None = None,
    properties: dict[str, str] | None = None,
) -> models.Run:
    """A new pipeline run of the published graph: ``values`` over its parameters'
    defaults (an unknown name is a 400 naming it). A disabled pipeline refuses (409)."""
    if row.status != "Active":
        raise Conflict(
            f"Published pipeline {row.id!r} ({row.name}) is disabled; enable() it to submit"
        )
    request = PipelineSubmit.model_construct(
        graph=PipelineGraph.model_validate(row.graph),
        pipeline_parameters=values,
        continue_on_step_failure=(
            row.continue_on_step_failure
            if continue_on_step_failure is None
            else continue_on_step_failure
        ),
        regenerate_outputs=False,
        run_id=None,
        parent_run_id=None,
        display_name=display_name,
        description=description if description is not None else row.description,
        tags={},
        submitted_by=submitted_by,
    )
    return pipelines.create(
        db,
        runs,
        ws,
        experiment_name,
        request,
        properties={
            PIPELINE_ID_PROPERTY: row.id,
            "runSource": run_source,
            **(properties or {}),
        },
    )


# -- pipeline endpoints ------------------------------------------------------------------


def create_endpoint(
    db: Session, ws: models.Workspace, request: PipelineEndpointCreate
) -> PipelineEndpointRow:
    """A new endpoint whose version 0 (its default) is ``pipeline_id``."""
    get(db, ws, request.pipeline_id)
    if endpoint_by_name(db, ws, request.name) is not None:
        raise Conflict(
            f"A pipeline endpoint named {request.name!r} exists in workspace {ws.name!r}; "
            "add a version to it (PipelineEndpoint.get(ws, name=...).add_default(pipeline))"
        )
    row = PipelineEndpointRow(
        workspace_id=ws.id,
        id=str(uuid.uuid4()),
        name=request.name,
        description=request.description,
        status="Active",
        default_version=0,
    )
    db.add(row)
    db.flush()
    db.add(
        PipelineEndpointVersionRow(
            workspace_id=ws.id, endpoint_id=row.id, version=0, pipeline_id=request.pipeline_id
        )
    )
    db.flush()
    return row


def endpoint_by_name(db: Session, ws: models.Workspace, name: str) -> PipelineEndpointRow | None:
    return db.scalar(
        select(PipelineEndpointRow).where(
            PipelineEndpointRow.workspace_id == ws.id, PipelineEndpointRow.name == name
        )
    )


def get_endpoint(db: Session, ws: models.Workspace, key: str) -> PipelineEndpointRow:
    """An endpoint by id, or by name."""
    row = db.get(PipelineEndpointRow, (ws.id, key)) or endpoint_by_name(db, ws, key)
    if row is None:
        raise NotFound(f"Pipeline endpoint {key!r} not found in workspace {ws.name!r}")
    return row


def endpoints(db: Session, ws: models.Workspace, active_only: bool) -> list[PipelineEndpointRow]:
    query = select(PipelineEndpointRow).where(PipelineEndpointRow.workspace_id == ws.id)
    if active_only:
        query = query.where(PipelineEndpointRow.status == "Active")
    return list(db.scalars(query.order_by(PipelineEndpointRow.created)))


def _versions(db: Session, row: PipelineEndpointRow) -> list[PipelineEndpointVersionRow]:
    return list(
        db.scalars(
            select(PipelineEndpointVersionRow)
            .where(
                PipelineEndpointVersionRow.workspace_id == row.workspace_id,
                PipelineEndpointVersionRow.endpoint_id == row.id,
            )
            .order_by(PipelineEndpointVersionRow.version)
        )
    )


def endpoint_info(
    db: Session, ws: models.Workspace, row: PipelineEndpointRow
) -> PipelineEndpointInfo:
    return PipelineEndpointInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        status="Active" if row.status == "Active" else "Disabled",
        default_version=str(row.default_version),
        versions=[
            PipelineEndpointVersion(version=str(v.version), pipeline_id=v.pipeline_id)
            for v in _versions(db, row)
        ],
        created=row.created,
        endpoint_path=endpoint_path_of_endpoint(ws, row.id),
    )


def add_version(
    db: Session, ws: models.Workspace, row: PipelineEndpointRow, request: PipelineEndpointAdd
) -> None:
    get(db, ws, request.pipeline_id)
    last = db.scalar(
        select(func.max(PipelineEndpointVersionRow.version)).where(
            PipelineEndpointVersionRow.workspace_id == ws.id,
            PipelineEndpointVersionRow.endpoint_id == row.id,
        )
    )
    version = 0 if last is None else last + 1
    db.add(
        PipelineEndpointVersionRow(
            workspace_id=ws.id, endpoint_id=row.id, version=version, pipeline_id=request.pipeline_id
        )
    )
    if request.set_default:
        row.default_version = version
    db.flush()


def _version_number(row: PipelineEndpointRow, versions: list[int], version: str) -> int:
    if not version.isdigit() or int(version) not in versions:
        raise NotFound(
            f"Pipeline endpoint {row.name!r} has no version {version!r}; its versions are "
            f"{', '.join(map(str, versions))}"
        )
    return int(version)


def update_endpoint(
    db: Session, ws: models.Workspace, row: PipelineEndpointRow, request: PipelineEndpointUpdate
) -> None:
    if request.default_version is not None:
        numbers = [v.version for v in _versions(db, row)]
        row.default_version = _version_number(row, numbers, request.default_version)
    if request.status is not None:
        row.status = request.status
    if request.name is not None and request.name != row.name:
        if endpoint_by_name(db, ws, request.name) is not None:
            raise Conflict(f"A pipeline endpoint named {request.name!r} exists")
        row.name = request.name
    if request.description is not None:
        row.description = request.description
    db.flush()


def endpoint_pipeline(
    db: Session, ws: models.Workspace, row: PipelineEndpointRow, version: str | None
) -> PublishedPipelineRow:
    """The published pipeline of ``version`` (the default when None)."""
    if row.status != "Active":
        raise Conflict(f"Pipeline endpoint {row.name!r} is disabled; enable() it to submit")
    versions = {v.version: v.pipeline_id for v in _versions(db, row)}
    number = (
        row.default_version if version is None else _version_number(row, list(versions), version)
    )
    if number not in versions:
        raise BadRequest(f"Pipeline endpoint {row.name!r} has no default version")
    return get(db, ws, versions[number])


def endpoint_properties(row: PipelineEndpointRow) -> dict[str, str]:
    return {PIPELINE_ENDPOINT_PROPERTY: row.id}
