"""pipeline runs

Revision ID: 0050
Revises: 0042
Create Date: 2026-12-02 11:45:00

ML pipeline runs and their steps: the graph a pipeline run was submitted with, the
parameter values, and each step's run, fingerprint (for reuse) and output locations, so
that the control plane drives a pipeline from the store and goes on after a restart.
Both refer to their runs by (workspace_id, run id), as every row of a run does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=False),
        sa.Column("graph", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("continue_on_step_failure", sa.Boolean(), nullable=False),
        sa.Column("regenerate_outputs", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["runs.workspace_id", "runs.id"],
            name="fk_pipeline_runs_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "run_id"),
    )
    op.create_index("ix_pipeline_runs_state", "pipeline_runs", ["state"], unique=False)
    op.create_table(
        "pipeline_steps",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("reused_run_id", sa.String(length=256), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("reported", sa.String(length=32), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_run_id"],
            ["pipeline_runs.workspace_id", "pipeline_runs.run_id"],
            name="fk_pipeline_steps_pipeline_run",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["runs.workspace_id", "runs.id"],
            name="fk_pipeline_steps_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "pipeline_run_id", "name"),
    )
    op.create_index(
        "ix_pipeline_steps_run", "pipeline_steps", ["workspace_id", "run_id"], unique=False
    )
    op.create_index(
        "ix_pipeline_steps_fingerprint",
        "pipeline_steps",
        ["workspace_id", "fingerprint"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_pipeline_steps_fingerprint", table_name="pipeline_steps")
    op.drop_index("ix_pipeline_steps_run", table_name="pipeline_steps")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_state", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
