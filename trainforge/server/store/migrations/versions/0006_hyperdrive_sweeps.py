"""hyperdrive sweeps

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 02:35:00

Reserved so that work on several issues can add tables side by side; filled by the
issue that owns it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
