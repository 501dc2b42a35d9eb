"""node hosts and placement groups

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 05:40:00

Where a node lives as its backend sees it: the placement group and bundle a Ray node
actor was placed with (a gang's nodes share one STRICT_SPREAD group), the Ray node that
holds it and that Ray node's state, and when it was placed (the first-heartbeat limit
counts from there, not from the request, so waiting for the autoscaler is not a failure).
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement_group', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('bundle_index', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('host_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('host_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('placed', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        for column in ('placed', 'host_state', 'host_id', 'bundle_index', 'placement_group'):
            batch_op.drop_column(column)
