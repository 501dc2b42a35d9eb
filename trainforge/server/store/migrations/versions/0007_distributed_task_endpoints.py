"""distributed task endpoints

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 02:35:00

Where each task of a gang listens (TensorFlow parameter-server clusters) and the
commands mpirun's node asks the other nodes of its gang to run (MPI daemons).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'task_endpoints',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=256), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('node_rank', sa.Integer(), nullable=False),
        sa.Column('task_type', sa.String(length=16), nullable=False),
        sa.Column('task_index', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('port', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('run_id', 'attempt', 'task_type', 'task_index'),
    )
    with op.batch_alter_table('task_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_endpoints_run_id'), ['run_id'], unique=False)
    op.create_table(
        'node_commands',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=256), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('node_rank', sa.Integer(), nullable=False),
        sa.Column('command', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('exit_code', sa.Integer(), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('node_commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_commands_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('node_commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_commands_run_id'))
    op.drop_table('node_commands')
    with op.batch_alter_table('task_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_endpoints_run_id'))
    op.drop_table('task_endpoints')
