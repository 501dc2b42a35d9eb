"""service replicas

Revision ID: 0066
Revises: 0065
Create Date: 2026-12-04 18:50:00

The replicas of AKS-style services: each on a node of the service's cluster, with the
host process that keeps its scoring process up and the port it answers on behind the
service's router.
"""

import sqlalchemy as sa
from alembic import op

revision = "0066"
down_revision = "0065"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_replicas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pid_create_time", sa.Float(), nullable=True),
        sa.Column("host_restarts", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "name", name="uq_service_replicas_name"),
    )
    op.create_index(
        "ix_service_replicas_workspace_id", "service_replicas", ["workspace_id"], unique=False
    )
    op.create_index(
        "ix_service_replicas_service_id", "service_replicas", ["service_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_service_replicas_service_id", table_name="service_replicas")
    op.drop_index("ix_service_replicas_workspace_id", table_name="service_replicas")
    op.drop_table("service_replicas")
