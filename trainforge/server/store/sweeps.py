"""Tables of HyperDrive sweeps (migration 0006): what a restarted control plane resumes from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trainforge.server.store.models import Base, UTCDateTime, run_reference, utcnow


class Sweep(Base):
    """One HyperDrive run: its configuration and where the sweep stands."""

    __tablename__ = "sweeps"
    __table_args__ = (run_reference("sweeps"),)

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    # The SweepCreate request as accepted: sampling, policy, metric, budgets, trial template.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    # running -> done (the parent run then holds the final status)
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    # The policy's own memory (ASHA's rungs), so decisions survive a restart.
    policy_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    best_run_id: Mapped[str | None] = mapped_column(String(256))
    best_value: Mapped[float | None] = mapped_column(Float)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SweepTrial(Base):
    """A child run of a sweep, with its sampled values and the policy's verdicts."""

    __tablename__ = "sweep_trials"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "sweep_run_id"],
            ["sweeps.workspace_id", "sweeps.run_id"],
            name="fk_sweep_trials_sweep",
            ondelete="CASCADE",
        ),
        Index("ix_sweep_trials_run", "workspace_id", "run_id"),
    )

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sweep_run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    # optuna's view of the parameters (Bayesian sampling), to rebuild its study.
    internal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The last interval the policy looked at.
    evaluated: Mapped[int] = mapped_column(Integer, default=0)
    canceled_by_policy: Mapped[str | None] = mapped_column(Text)
    # The status the sweep log last reported for this trial.
    reported: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
