"""model registry

Revision ID: 0040
Revises: 0030
Create Date: 2026-12-02 06:00:00

Models registered per workspace, one row per version (``Model.register``,
``run.register_model``), and per name the last version given, so that a deleted
version's number is never given again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("asset_name", sa.String(length=255), nullable=False),
        sa.Column("is_folder", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("model_framework", sa.String(length=64), nullable=False),
        sa.Column("model_framework_version", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=256), nullable=True),
        sa.Column("experiment_name", sa.String(length=255), nullable=True),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("sample_input_dataset_id", sa.String(length=36), nullable=True),
        sa.Column("sample_output_dataset_id", sa.String(length=36), nullable=True),
        sa.Column("resource_configuration", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", "version"),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index("ix_models_run", ["workspace_id", "run_id"], unique=False)
    op.create_table(
        "model_names",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("model_names")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index("ix_models_run")
    op.drop_table("models")
