"""node deallocation option

Revision ID: 0065
Revises: 0060
Create Date: 2026-12-03 14:50:00

What lowering a cluster's max_nodes below its busy nodes does to their runs (Batch AI's
nodeDeallocationOption): wait for them (AmlCompute's way, the default), requeue or
terminate them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0065"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("computes") as batch:
        batch.add_column(
            sa.Column(
                "node_deallocation_option",
                sa.String(length=32),
                nullable=False,
                server_default="waitforjobcompletion",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("computes") as batch:
        batch.drop_column("node_deallocation_option")
