"""an index on request_keys.created, for pruning expired idempotency keys

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 02:15:00

The janitor deletes idempotency keys older than the retention window, oldest first, a
bounded batch at a time; the index keeps each batch a range scan.
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_request_keys_created', 'request_keys', ['created'])


def downgrade() -> None:
    op.drop_index('ix_request_keys_created', table_name='request_keys')
