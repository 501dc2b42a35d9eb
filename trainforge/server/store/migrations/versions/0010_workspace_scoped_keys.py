"""workspace-scoped keys of nodes and snapshots

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:50:00

Node ids were one key for the whole server, so a cluster of the same name in a second
workspace could not get its ``<cluster>-n001``. A node keeps a server-wide unique ``id``
and gains the ``name`` users see, unique within its cluster (existing nodes keep their id
as their name). Snapshots were keyed by content hash alone while their files are kept per
workspace; their key becomes (workspace, content hash).
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _snapshot_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot change a primary key in place: the table is copied, rows kept.
        with op.batch_alter_table('snapshots', recreate='always') as batch_op:
            batch_op.create_primary_key('pk_snapshots', columns)
    else:
        op.drop_constraint('snapshots_pkey', 'snapshots', type_='primary')
        op.create_primary_key('snapshots_pkey', 'snapshots', columns)


def upgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=128), nullable=True))
    op.execute('UPDATE nodes SET name = id')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint('uq_nodes_compute_name', ['compute_id', 'name'])
    _snapshot_key(['workspace_id', 'id'])


def downgrade() -> None:
    # The same content in two workspaces cannot share one global key: keep one row of each.
    op.execute(
        'DELETE FROM snapshots WHERE EXISTS (SELECT 1 FROM snapshots AS kept '
        'WHERE kept.id = snapshots.id AND (kept.created < snapshots.created '
        'OR (kept.created = snapshots.created AND kept.workspace_id < snapshots.workspace_id)))'
    )
    _snapshot_key(['id'])
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_constraint('uq_nodes_compute_name', type_='unique')
        batch_op.drop_column('name')
