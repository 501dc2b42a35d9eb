"""an index on metrics by name, kind, attempt and step

Revision ID: 0077
Revises: 0076
Create Date: 2026-12-04 23:00:00

A chart's read of one metric (``runs/{id}/metric_series``) sizes the series from this
index alone (its newest attempt, its count and step bounds) and seeks a zoomed step range
in it, instead of reading every point of the series from the table.
"""

from alembic import op

revision = "0077"
down_revision = "0076"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_metrics_series",
        "metrics",
        ["workspace_id", "run_id", "name", "kind", "attempt", "step"],
    )


def downgrade() -> None:
    op.drop_index("ix_metrics_series", table_name="metrics")
