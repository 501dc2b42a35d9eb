"""datastore credentials off the key vault

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 22:40:00

A datastore's credentials were a key-vault secret (``datastore-credentials-<name>``), so
the secrets API read them back and a PUT there broke the datastore. They move to a
column of the datastore's own row, which no route returns; the secret rows go. Values
are moved as they are: the server seals every plaintext value (secrets and credentials)
with its key when it starts.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PREFIX = 'datastore-credentials-'


def upgrade() -> None:
    with op.batch_alter_table('datastores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credentials', sa.Text(), nullable=True))
    conn = op.get_bind()
    stores = conn.execute(sa.text('SELECT workspace_id, name FROM datastores')).all()
    for workspace_id, name in stores:
        secret = {'ws': workspace_id, 'name': PREFIX + name.lower()}
        value = conn.execute(
            sa.text('SELECT value FROM secrets WHERE workspace_id = :ws AND name = :name'), secret
        ).scalar()
        if value is None:
            continue
        conn.execute(
            sa.text('UPDATE datastores SET credentials = :value WHERE workspace_id = :ws AND name = :ds'),
            {'value': value, 'ws': workspace_id, 'ds': name},
        )
        conn.execute(sa.text('DELETE FROM secrets WHERE workspace_id = :ws AND name = :name'), secret)


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text('SELECT workspace_id, name, credentials FROM datastores WHERE credentials IS NOT NULL')
    ).all()
    for workspace_id, name, value in rows:
        conn.execute(
            sa.text(
                "INSERT INTO secrets (workspace_id, name, value, content_type, updated) "
                "VALUES (:ws, :name, :value, 'application/json', CURRENT_TIMESTAMP)"
            ),
            {'ws': workspace_id, 'name': PREFIX + name.lower(), 'value': value},
        )
    with op.batch_alter_table('datastores', schema=None) as batch_op:
        batch_op.drop_column('credentials')
