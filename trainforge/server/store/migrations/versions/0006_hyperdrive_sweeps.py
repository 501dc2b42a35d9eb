"""hyperdrive sweeps

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 02:35:00

HyperDrive sweeps and their trials: the sampler's position, the policy's memory and
each trial's verdicts, so that a restarted control plane resumes a sweep.
"""
from alembic import op
import sqlalchemy as sa



revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sweeps',
        sa.Column('run_id', sa.String(length=256), nullable=False),
        sa.Column('workspace_id', sa.String(length=36), nullable=False),
        sa.Column('spec', sa.JSON(), nullable=False),
        sa.Column('seed', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('next_index', sa.Integer(), nullable=False),
        sa.Column('policy_state', sa.JSON(), nullable=False),
        sa.Column('best_run_id', sa.String(length=256), nullable=True),
        sa.Column('best_value', sa.Float(), nullable=True),
        sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('run_id'),
    )
    op.create_index('ix_sweeps_state', 'sweeps', ['state'], unique=False)
    op.create_table(
        'sweep_trials',
        sa.Column('sweep_run_id', sa.String(length=256), nullable=False),
        sa.Column('index', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=256), nullable=False),
        sa.Column('parameters', sa.JSON(), nullable=False),
        sa.Column('internal', sa.JSON(), nullable=True),
        sa.Column('evaluated', sa.Integer(), nullable=False),
        sa.Column('canceled_by_policy', sa.Text(), nullable=True),
        sa.Column('reported', sa.String(length=32), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sweep_run_id'], ['sweeps.run_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('sweep_run_id', 'index'),
    )
    op.create_index('ix_sweep_trials_run_id', 'sweep_trials', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sweep_trials_run_id', table_name='sweep_trials')
    op.drop_table('sweep_trials')
    op.drop_index('ix_sweeps_state', table_name='sweeps')
    op.drop_table('sweeps')
