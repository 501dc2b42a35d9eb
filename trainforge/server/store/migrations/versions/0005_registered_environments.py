"""registered environments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 02:35:00

Reserved so that work on several issues can add tables side by side; filled by the
issue that owns it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
