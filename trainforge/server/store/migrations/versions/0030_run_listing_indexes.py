"""indexes for listing runs at scale

Revision ID: 0030
Revises: 0017
Create Date: 2026-12-02 06:20:00

Run listings filter and order in SQL and page with a cursor on (created, number, id):
the workspace's top-level runs or a run's children newest first, by status, and by
creation time.
"""

from alembic import op


revision = "0030"
down_revision = "0017"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_runs_workspace_parent_created": ["workspace_id", "parent_run_id", "created"],
    "ix_runs_workspace_status_created": ["workspace_id", "status", "created"],
    "ix_runs_workspace_created": ["workspace_id", "created"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "runs", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="runs")
