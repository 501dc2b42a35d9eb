"""each run's last value of each metric, for listings' thresholds, columns and sort

Revision ID: 0076
Revises: 0075
Create Date: 2026-12-04 22:10:00

A metric threshold in a runs listing read each run's newest point in ``metrics``: one
probe per run of the listing, so a threshold no run meets read every run (230 ms at
100,000 runs). This table holds one row per (run, name), written with each batch, and an
index by (workspace, name, number) that a threshold or a sort seeks. Backfilled here from
the points already stored: the highest id of each (run, name) among scalar points, the
newest attempt's last, as the listing read it before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0076"
down_revision = "0075"
branch_labels = None
depends_on = None

# The JSON text as a number, NULL when it is none (a string, a bool, NaN), as the
# listing's ``number_of`` reads it.
NUMBER = {
    "sqlite": "CASE WHEN json_valid(m.value) THEN CASE WHEN json_type(m.value) IN"
    " ('integer', 'real') THEN CAST(m.value AS REAL) END END",
    "postgresql": "CASE WHEN m.value ~ '^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]+)?$'"
    " THEN CAST(m.value AS FLOAT) END",
}


def upgrade() -> None:
    op.create_table(
        "metric_last_values",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("metric_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["runs.workspace_id", "runs.id"],
            name="fk_metric_last_values_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "run_id", "name"),
    )
    number = NUMBER[op.get_bind().dialect.name]
    op.execute(
        "INSERT INTO metric_last_values (workspace_id, run_id, name, metric_id, value, number)"
        f" SELECT m.workspace_id, m.run_id, m.name, m.id, m.value, {number} FROM metrics m"
        " WHERE m.id IN (SELECT max(id) FROM metrics WHERE kind = 'scalar'"
        " GROUP BY workspace_id, run_id, name)"
    )
    op.create_index(
        "ix_metric_last_values_name_number",
        "metric_last_values",
        ["workspace_id", "name", "number", "run_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_metric_last_values_name_number", table_name="metric_last_values")
    op.drop_table("metric_last_values")
