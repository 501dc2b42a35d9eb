"""the answer kept with each idempotency key

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-02 01:40:00

Every create (datastores, datasets, environments, sweeps, node commands, cancels, the
workspace itself), not only run submissions, honours an Idempotency-Key: the answer of the
first request is kept with its key and given again to a retry, which creates nothing.
"""

from alembic import op
import sqlalchemy as sa


revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_keys", schema=None) as batch_op:
        batch_op.drop_column("response")
