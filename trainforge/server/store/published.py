"""Tables of published pipelines, pipeline endpoints and schedules (migration 0051).

Every key begins with the workspace: a published pipeline's id, an endpoint's name and a
schedule's id are looked up in their workspace only, and what refers to a published
pipeline does so by (workspace_id, pipeline id). A schedule's firings are kept one row
per slot: the slot is in the key, so a slot fires once whatever restarts in between.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trainforge.server.store.models import Base, UTCDateTime, utcnow


def _published(table: str, column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["workspace_id", column],
        ["published_pipelines.workspace_id", "published_pipelines.id"],
        name=f"fk_{table}_{column}",
        ondelete="CASCADE",
    )


class PublishedPipelineRow(Base):
    """A pipeline's graph kept under an id, to run again with new parameter values."""

    __tablename__ = "published_pipelines"
    __table_args__ = (Index("ix_published_pipelines_name", "workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(64))
    # Active | Disabled: a disabled one refuses submits (and its schedules do not fire).
    status: Mapped[str] = mapped_column(String(16), default="Active")
    continue_on_step_failure: Mapped[bool] = mapped_column(Boolean, default=False)
    # The PipelineGraph as accepted (snapshot ids included); graph_id: its content hash.
    graph: Mapped[dict[str, Any]] = mapped_column(JSON)
    graph_id: Mapped[str] = mapped_column(String(64))
    source_run_id: Mapped[str | None] = mapped_column(String(256))
    created_by: Mapped[str | None] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineEndpointRow(Base):
    """A named, versioned endpoint over published pipelines."""

    __tablename__ = "pipeline_endpoints"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_pipeline_endpoints_name"),)

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Active")
    default_version: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineEndpointVersionRow(Base):
    """Version ``version`` (0, 1, ...) of an endpoint: the published pipeline it runs."""

    __tablename__ = "pipeline_endpoint_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "endpoint_id"],
            ["pipeline_endpoints.workspace_id", "pipeline_endpoints.id"],
            name="fk_pipeline_endpoint_versions_endpoint",
            ondelete="CASCADE",
        ),
        _published("pipeline_endpoint_versions", "pipeline_id"),
    )

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleRow(Base):
    """A schedule of a published pipeline (or of an endpoint's default version): a
    recurrence, or a datastore path polled for new and changed files."""

    __tablename__ = "pipeline_schedules"
    __table_args__ = (
        _published("pipeline_schedules", "pipeline_id"),
        ForeignKeyConstraint(
            ["workspace_id", "pipeline_endpoint_id"],
            ["pipeline_endpoints.workspace_id", "pipeline_endpoints.id"],
            name="fk_pipeline_schedules_pipeline_endpoint_id",
            ondelete="CASCADE",
        ),
        # The loop's question: which active schedules are due.
        Index("ix_pipeline_schedules_due", "status", "next_due"),
    )

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    pipeline_id: Mapped[str | None] = mapped_column(String(64))
    pipeline_endpoint_id: Mapped[str | None] = mapped_column(String(64))
    experiment_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="Active")
    # The Recurrence as accepted; None for a schedule on a datastore.
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pipeline_parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    continue_on_step_failure: Mapped[bool | None] = mapped_column(Boolean)
    datastore_name: Mapped[str | None] = mapped_column(String(255))
    polling_interval: Mapped[int] = mapped_column(Integer, default=5)
    data_path_parameter_name: Mapped[str | None] = mapped_column(String(128))
    path_on_datastore: Mapped[str | None] = mapped_column(String(1024))
    # What the last poll saw ({file: version}); None until the first poll.
    seen: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The next slot (a recurrence) or poll (a datastore); the anchor slots count from.
    next_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anchor: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleFiringRow(Base):
    """One slot a schedule fired for, and the pipeline run it submitted."""

    __tablename__ = "pipeline_schedule_firings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "schedule_id"],
            ["pipeline_schedules.workspace_id", "pipeline_schedules.id"],
            name="fk_pipeline_schedule_firings_schedule",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["runs.workspace_id", "runs.id"],
            name="fk_pipeline_schedule_firings_run",
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # A recurrence's slot (ISO moment) or a changed file ('<path>@<version>').
    slot: Mapped[str] = mapped_column(String(1100), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
