"""an index on assignments by state and node

Revision ID: 0075
Revises: 0066
Create Date: 2026-12-04 18:50:00

Every heartbeat and every scheduler pass looks up the open assignments (of a node, or of
the 'local' targets). Assignments are kept after their runs end, so without this index
each of those lookups read every assignment the server ever made.
"""

from alembic import op

revision = "0075"
down_revision = "0066"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assignments_state_node", "assignments", ["state", "node_id"])


def downgrade() -> None:
    op.drop_index("ix_assignments_state_node", table_name="assignments")
