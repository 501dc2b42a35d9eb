"""node addresses

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 03:45:00

The address a node agent reports (its Ray node's IP on the Ray backend): the
MASTER_ADDR of a gang whose rank 0 runs there, and the node's private IP in list_nodes.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('address')
