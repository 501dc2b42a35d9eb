"""Tables of AutoML runs (migration 0060): the search's state, so a restarted control plane
goes on proposing where it stopped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trainforge.server.store.models import Base, UTCDateTime, run_reference, utcnow


class AutoMLSearch(Base):
    """One AutoML run (its parent run): the settings, FLAML's searcher, the best so far."""

    __tablename__ = "automl_runs"
    __table_args__ = (run_reference("automl_runs"),)

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    # The AutoMLCreate request as accepted.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # running -> done (the parent run then holds the final status)
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    # How many proposals were asked of the searcher (each under its own trial id).
    calls: Mapped[int] = mapped_column(Integer, default=0)
    # FLAML's searcher, pickled after every change (search.py).
    searcher: Mapped[bytes] = mapped_column(LargeBinary)
    best_run_id: Mapped[str | None] = mapped_column(String(256))
    best_value: Mapped[float | None] = mapped_column(Float)
    # When experiment_timeout ends the search (None: no timeout).
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why no more iterations start (a budget, the exit score, early stopping).
    stop_reason: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AutoMLIteration(Base):
    """A child run of an AutoML run: the pipeline FLAML proposed and how it scored."""

    __tablename__ = "automl_iterations"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "automl_run_id"],
            ["automl_runs.workspace_id", "automl_runs.run_id"],
            name="fk_automl_iterations_automl_run",
            ondelete="CASCADE",
        ),
        Index("ix_automl_iterations_run", "workspace_id", "run_id"),
    )

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    automl_run_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(256))
    learner: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The searcher's id of this proposal.
    trial_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    # The status this iteration was last reported to the searcher and the log with.
    reported: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
