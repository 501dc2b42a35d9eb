"""Tables of ML pipeline runs (migration 0050): the graph a pipeline run was submitted with
and where each of its steps stands, so that a restarted control plane goes on with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trainforge.server.store.models import Base, UTCDateTime, run_reference, utcnow


class PipelineRunRow(Base):
    """One pipeline run (its parent run): the graph, the parameter values, the options."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (run_reference("pipeline_runs"),)

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    # The PipelineGraph as accepted, and every parameter's value for this run.
    graph: Mapped[dict[str, Any]] = mapped_column(JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    continue_on_step_failure: Mapped[bool] = mapped_column(Boolean, default=False)
    regenerate_outputs: Mapped[bool] = mapped_column(Boolean, default=False)
    # running -> done (the parent run then holds the final status)
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PipelineStepRow(Base):
    """A step of a pipeline run: its step run once submitted (or the earlier run it reuses),
    its fingerprint and where its outputs are."""

    __tablename__ = "pipeline_steps"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "pipeline_run_id"],
            ["pipeline_runs.workspace_id", "pipeline_runs.run_id"],
            name="fk_pipeline_steps_pipeline_run",
            ondelete="CASCADE",
        ),
        run_reference("pipeline_steps"),
        Index("ix_pipeline_steps_run", "workspace_id", "run_id"),
        # Reuse looks an earlier execution up by its fingerprint, in the workspace only.
        Index("ix_pipeline_steps_fingerprint", "workspace_id", "fingerprint"),
    )

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pipeline_run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    index: Mapped[int] = mapped_column(Integer)
    # waiting -> running (its step run submitted) -> done; skipped: never ran (an upstream
    # step failed, or the pipeline run was canceled first).
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    run_id: Mapped[str | None] = mapped_column(String(256))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The step run whose outputs this one reuses (its own run completed at once).
    reused_run_id: Mapped[str | None] = mapped_column(String(256))
    # PipelineData name -> {"datastore_name", "path_on_datastore"}.
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The status the pipeline's log last reported for this step.
    reported: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
