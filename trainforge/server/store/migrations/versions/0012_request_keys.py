"""idempotency keys of run-creating requests

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 22:40:00

A client that sends a POST again after its answer was lost (the server went down while
answering) must not create a second run: each such request carries an Idempotency-Key,
and the runs it created are kept under that key, per workspace.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'request_keys',
        sa.Column('workspace_id', sa.String(length=36), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('request', sa.Text(), nullable=False),
        sa.Column('run_ids', sa.JSON(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('workspace_id', 'key'),
    )


def downgrade() -> None:
    op.drop_table('request_keys')
