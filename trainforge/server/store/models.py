"""Tables of the metadata store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from trainforge.schemas.compute import AssignmentState


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` with its zone; a naive one (SQLite drops zones, clients may too) is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class JSONText(TypeDecorator[Any]):
    """JSON kept as exact text. SQLite gives a column declared JSON numeric affinity, which
    would turn a stored 1.0 into 1 and cut 0.1 + 0.2 to 15 digits."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def run_reference(table: str) -> ForeignKeyConstraint:
    """The foreign key of a row that belongs to a run: (workspace_id, run_id), since a run
    id is a key within its workspace only. The row goes with its run."""
    return ForeignKeyConstraint(
        ["workspace_id", "run_id"],
        ["runs.workspace_id", "runs.id"],
        name=f"fk_{table}_run",
        ondelete="CASCADE",
    )


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    subscription_id: Mapped[str] = mapped_column(String(64))
    resource_group: Mapped[str] = mapped_column(String(128))
    location: Mapped[str] = mapped_column(String(64))
    friendly_name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sku: Mapped[str] = mapped_column(String(32), default="basic")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    run_counter: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_experiment_created", "experiment_id", "created"),
        Index("ix_runs_status", "status"),
        # Listings, newest first: a workspace's top-level runs (parent IS NULL) or a run's
        # children, by status, and by time (the cursor seeks on created).
        Index("ix_runs_workspace_parent_created", "workspace_id", "parent_run_id", "created"),
        Index("ix_runs_workspace_status_created", "workspace_id", "status", "created"),
        Index("ix_runs_workspace_created", "workspace_id", "created"),
    )

    # A run id is a key within its workspace only (a caller may choose it: a Batch AI job's
    # name), so every row that refers to a run names the workspace too.
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    run_type: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    parent_run_id: Mapped[str | None] = mapped_column(String(256), index=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(String(128))
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    submitted_by: Mapped[str | None] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended: Mapped[datetime | None] = mapped_column(UTCDateTime)


def run_key(workspace_id: str, run_id: str) -> str:
    """One string that names a run on the whole server (change notices, logs)."""
    return f"{workspace_id}/{run_id}"


def of_run(table: Any, run: Run) -> tuple[Any, ...]:
    """The conditions that pick ``table``'s rows of ``run`` (a table with ``run_reference``)."""
    return (table.workspace_id == run.workspace_id, table.run_id == run.id)


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (
        run_reference("metrics"),
        Index("ix_metrics_run_name", "workspace_id", "run_id", "name"),
        # A chart's read of one series: its size and step bounds from the index alone, and
        # a zoomed step range sought in it (services/metrics.series_of).
        Index("ix_metrics_series", "workspace_id", "run_id", "name", "kind", "attempt", "step"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    run_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    step: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[Any] = mapped_column(JSONText)
    description: Mapped[str] = mapped_column(Text, default="")
    time: Mapped[float] = mapped_column(Float)
    # A requeued run logs again from its start; reads keep each name's newest attempt.
    attempt: Mapped[int] = mapped_column(Integer, default=1)


class MetricLastValue(Base):
    """Each run's last scalar point of each metric name (its newest attempt's), kept with
    every batch in the batch's transaction: what a listing's metric thresholds, columns
    and sort read, one row per (run, name) however long the series."""

    __tablename__ = "metric_last_values"
    __table_args__ = (
        run_reference("metric_last_values"),
        # A threshold or a sort on a name seeks here, across the workspace's runs, instead
        # of probing every run's points.
        Index("ix_metric_last_values_name_number", "workspace_id", "name", "number", "run_id"),
    )

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The point it is (metrics.id): a batch that commits late never replaces a newer point.
    metric_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[Any] = mapped_column(JSONText)
    # The value as a number; NULL when it is none (a string, a bool, NaN, an infinity).
    number: Mapped[float | None] = mapped_column(Float)


class MetricBatch(Base):
    """Batch ids already stored, so that a client retrying a batch never duplicates it."""

    __tablename__ = "metric_batches"
    __table_args__ = (run_reference("metric_batches"),)

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Assignment(Base):
    """A run's attempt placed on a backend: what the scheduler must watch and stop."""

    __tablename__ = "assignments"
    __table_args__ = (
        run_reference("assignments"),
        Index("ix_assignments_run", "workspace_id", "run_id"),
        # Open assignments are looked up on every heartbeat and scheduler pass.
        Index("ix_assignments_state_node", "state", "node_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    run_id: Mapped[str] = mapped_column(String(256))
    attempt: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str | None] = mapped_column(String(128))
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_create_time: Mapped[float | None] = mapped_column(Float)
    # pending (placed, launcher not started) -> active -> stopping -> ended
    state: Mapped[str] = mapped_column(String(16), default=AssignmentState.PENDING.value)
    # What the launcher reported: running, succeeded, failed or canceled.
    outcome: Mapped[str | None] = mapped_column(String(16))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    node_rank: Mapped[int] = mapped_column(Integer, default=0)
    node_count: Mapped[int] = mapped_column(Integer, default=1)
    # Where rank 0 listens for the gang's rendezvous (MASTER_PORT), free when placed.
    master_port: Mapped[int | None] = mapped_column(Integer)
    stop_requested: Mapped[float | None] = mapped_column(Float)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskEndpoint(Base):
    """Where one task of a run attempt listens, as its node's launcher published it."""

    __tablename__ = "task_endpoints"
    __table_args__ = (
        run_reference("task_endpoints"),
        UniqueConstraint(
            "workspace_id",
            "run_id",
            "attempt",
            "task_type",
            "task_index",
            name="uq_task_endpoints_task",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    run_id: Mapped[str] = mapped_column(String(256))
    attempt: Mapped[int] = mapped_column(Integer)
    node_rank: Mapped[int] = mapped_column(Integer)
    task_type: Mapped[str] = mapped_column(String(16))
    task_index: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)


class NodeCommand(Base):
    """A command one node of a gang asks another to run (mpirun's remote daemons)."""

    __tablename__ = "node_commands"
    __table_args__ = (
        run_reference("node_commands"),
        Index("ix_node_commands_run", "workspace_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(36))
    run_id: Mapped[str] = mapped_column(String(256))
    attempt: Mapped[int] = mapped_column(Integer)
    node_rank: Mapped[int] = mapped_column(Integer)
    command: Mapped[str] = mapped_column(Text)
    # posted -> running -> ended
    state: Mapped[str] = mapped_column(String(16), default="posted")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Secret(Base):
    __tablename__ = "secrets"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(127), primary_key=True)
    # Sealed with the server's secrets key (``services.secrets.Vault``).
    value: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(128), default="text/plain")
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Datastore(Base):
    __tablename__ = "datastores"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    datastore_type: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_default: Mapped[bool] = mapped_column(default=False)
    # Sealed with the server's secrets key; no route returns it (``access`` derives from it).
    credentials: Mapped[str | None] = mapped_column(Text)


class Snapshot(Base):
    """A code snapshot, by content hash within its workspace (whose folder keeps its files)."""

    __tablename__ = "snapshots"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    file_count: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Compute(Base):
    """A compute target; an AmlCompute cluster whose nodes the autoscaler manages."""

    __tablename__ = "computes"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    compute_type: Mapped[str] = mapped_column(String(32))
    backend: Mapped[str] = mapped_column(String(32))
    vm_size: Mapped[str] = mapped_column(String(64))
    vm_priority: Mapped[str] = mapped_column(String(16))
    min_nodes: Mapped[int] = mapped_column(Integer)
    max_nodes: Mapped[int] = mapped_column(Integer)
    idle_seconds_before_scaledown: Mapped[int] = mapped_column(Integer)
    node_deallocation_option: Mapped[str] = mapped_column(
        String(32), default="waitforjobcompletion", server_default="waitforjobcompletion"
    )
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provisioning_state: Mapped[str] = mapped_column(String(16))
    provisioning_errors: Mapped[list[Any] | None] = mapped_column(JSON)
    node_counter: Mapped[int] = mapped_column(Integer, default=0)
    target_node_count: Mapped[int] = mapped_column(Integer, default=0)
    allocation_changed: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Node(Base):
    """One node of a cluster: a node-agent process (local) or a node actor (Ray).

    ``name`` is what users see (``<cluster>-n001``), unique within its cluster; ``id`` is
    unique on the server (and on the Ray cluster, which names actors after it), so clusters
    of one name in two workspaces never share a node key."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("compute_id", "name", name="uq_nodes_compute_name"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    compute_id: Mapped[str] = mapped_column(
        ForeignKey("computes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(256))
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_create_time: Mapped[float | None] = mapped_column(Float)
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the agent reports as its address (its Ray node's IP on the Ray backend).
    address: Mapped[str | None] = mapped_column(String(255))
    # The nodes provisioned together for one gang share a placement group (Ray), so they
    # are known to sit on distinct hosts; host_* is the backend's own view of the host.
    placement_group: Mapped[str | None] = mapped_column(String(255))
    bundle_index: Mapped[int | None] = mapped_column(Integer)
    host_id: Mapped[str | None] = mapped_column(String(255))
    host_state: Mapped[str | None] = mapped_column(String(16))
    placed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_changed: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dataset(Base):
    """One version of a registered dataset; versions never change once written."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Registering the same definition under another name points at the existing one.
    definition_hash: Mapped[str] = mapped_column(String(64), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegisteredEnvironment(Base):
    """One version of an environment registered in a workspace (``env.register(ws)``)."""

    __tablename__ = "environments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", "version"),
        Index("ix_environments_content", "workspace_id", "name", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestKey(Base):
    """The Idempotency-Key of a create request and what it made (the runs it created, or
    its answer): the client's retry of that request (its answer was lost) gets them again,
    not new ones."""

    __tablename__ = "request_keys"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # What the request was (its path in the workspace): a key reused elsewhere is refused.
    request: Mapped[str] = mapped_column(Text)
    run_ids: Mapped[list[Any]] = mapped_column(default=list)
    # The answer of a create that made something other than runs, given again to a retry.
    response: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    # Indexed: keys older than the retention window are pruned oldest first.
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RegisteredModel(Base):
    """One version of a model registered in a workspace; its files never change.

    The files live in ``<workspace>/models/<name>/<version>/<asset_name>``."""

    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", "version"),
        Index("ix_models_run", "workspace_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    asset_name: Mapped[str] = mapped_column(String(255))
    is_folder: Mapped[bool] = mapped_column(default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes: beyond 2 GiB too
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_framework: Mapped[str] = mapped_column(String(64), default="Custom")
    model_framework_version: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(256))
    experiment_name: Mapped[str | None] = mapped_column(String(255))
    # [{scenario, dataset_id}], sample datasets and the resource configuration.
    datasets: Mapped[list[Any]] = mapped_column(default=list)
    sample_input_dataset_id: Mapped[str | None] = mapped_column(String(36))
    sample_output_dataset_id: Mapped[str | None] = mapped_column(String(36))
    resource_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelName(Base):
    """The last version given under a model name: a deleted version's number is never
    given again, so ``name:version`` always means the same files."""

    __tablename__ = "model_names"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_version: Mapped[int] = mapped_column(Integer, default=0)


class Service(Base):
    """A scoring service of a workspace (``Model.deploy``): what it serves and the host
    process that keeps its scoring process up."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    compute_type: Mapped[str] = mapped_column(String(16))
    # The ServiceCreate it was deployed with; ``models`` as '<name>:<version>' ids.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    models: Mapped[list[Any]] = mapped_column(default=list)
    port: Mapped[int] = mapped_column(Integer)
    # The primary and secondary keys of a service with key auth, as JSON sealed with the
    # server's secrets key (``services.secrets.Vault``).
    keys: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_create_time: Mapped[float | None] = mapped_column(Float)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceReplica(Base):
    """One replica of an AKS service, placed on a node of its cluster: the host process
    that keeps its scoring process up, on a port of its own behind the service's router.

    ``workspace_id`` is kept beside ``service_id`` so every lookup is scoped by workspace
    without a join; a replica goes with its service and with its node."""

    __tablename__ = "service_replicas"
    __table_args__ = (UniqueConstraint("service_id", "name", name="uq_service_replicas_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    # ``<service>-r<n>``: its folder under the service's, and what logs and the API name.
    name: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(128))
    port: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_create_time: Mapped[float | None] = mapped_column(Float)
    # How often the control plane started its host again after it died.
    host_restarts: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
