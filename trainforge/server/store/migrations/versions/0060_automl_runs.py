"""automl runs

Revision ID: 0060
Revises: 0050
Create Date: 2026-12-02 16:40:00

Automated ML runs and their iterations: the settings, FLAML's searcher (pickled), the best
iteration so far and why the search stopped; each iteration's child run, learner, config
and score. Both refer to their runs by (workspace_id, run id), as every row of a run does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0060"
down_revision = "0051"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automl_runs",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("searcher", sa.LargeBinary(), nullable=False),
        sa.Column("best_run_id", sa.String(length=256), nullable=True),
        sa.Column("best_value", sa.Float(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["runs.workspace_id", "runs.id"],
            name="fk_automl_runs_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "run_id"),
    )
    op.create_index("ix_automl_runs_state", "automl_runs", ["state"], unique=False)
    op.create_table(
        "automl_iterations",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("automl_run_id", sa.String(length=256), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=False),
        sa.Column("learner", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("trial_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reported", sa.String(length=32), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "automl_run_id"],
            ["automl_runs.workspace_id", "automl_runs.run_id"],
            name="fk_automl_iterations_automl_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "automl_run_id", "index"),
    )
    op.create_index(
        "ix_automl_iterations_run", "automl_iterations", ["workspace_id", "run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_automl_iterations_run", table_name="automl_iterations")
    op.drop_table("automl_iterations")
    op.drop_index("ix_automl_runs_state", table_name="automl_runs")
    op.drop_table("automl_runs")
