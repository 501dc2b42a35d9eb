"""published pipelines, pipeline endpoints, schedules

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-02 16:40:00

Published pipelines (a graph kept under an id), pipeline endpoints with their versions,
and schedules with one row per slot they fired for (the slot in the key: a slot fires
once, across restarts). Every key begins with the workspace; references to a published
pipeline, an endpoint or a run go by (workspace_id, id).
"""

import sqlalchemy as sa
from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "published_pipelines",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("continue_on_step_failure", sa.Boolean(), nullable=False),
        sa.Column("graph", sa.JSON(), nullable=False),
        sa.Column("graph_id", sa.String(length=64), nullable=False),
        sa.Column("source_run_id", sa.String(length=256), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index(
        "ix_published_pipelines_name", "published_pipelines", ["workspace_id", "name"]
    )
    op.create_table(
        "pipeline_endpoints",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("default_version", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_pipeline_endpoints_name"),
    )
    op.create_table(
        "pipeline_endpoint_versions",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "endpoint_id"],
            ["pipeline_endpoints.workspace_id", "pipeline_endpoints.id"],
            name="fk_pipeline_endpoint_versions_endpoint",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_id"],
            ["published_pipelines.workspace_id", "published_pipelines.id"],
            name="fk_pipeline_endpoint_versions_pipeline_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "endpoint_id", "version"),
    )
    op.create_table(
        "pipeline_schedules",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pipeline_id", sa.String(length=64), nullable=True),
        sa.Column("pipeline_endpoint_id", sa.String(length=64), nullable=True),
        sa.Column("experiment_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recurrence", sa.JSON(), nullable=True),
        sa.Column("pipeline_parameters", sa.JSON(), nullable=False),
        sa.Column("continue_on_step_failure", sa.Boolean(), nullable=True),
        sa.Column("datastore_name", sa.String(length=255), nullable=True),
        sa.Column("polling_interval", sa.Integer(), nullable=False),
        sa.Column("data_path_parameter_name", sa.String(length=128), nullable=True),
        sa.Column("path_on_datastore", sa.String(length=1024), nullable=True),
        sa.Column("seen", sa.JSON(), nullable=True),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anchor", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_id"],
            ["published_pipelines.workspace_id", "published_pipelines.id"],
            name="fk_pipeline_schedules_pipeline_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_endpoint_id"],
            ["pipeline_endpoints.workspace_id", "pipeline_endpoints.id"],
            name="fk_pipeline_schedules_pipeline_endpoint_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index(
        "ix_pipeline_schedules_due", "pipeline_schedules", ["status", "next_due"]
    )
    op.create_table(
        "pipeline_schedule_firings",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.String(length=1100), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "schedule_id"],
            ["pipeline_schedules.workspace_id", "pipeline_schedules.id"],
            name="fk_pipeline_schedule_firings_schedule",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["runs.workspace_id", "runs.id"],
            name="fk_pipeline_schedule_firings_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "schedule_id", "slot"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_schedule_firings")
    op.drop_index("ix_pipeline_schedules_due", table_name="pipeline_schedules")
    op.drop_table("pipeline_schedules")
    op.drop_table("pipeline_endpoint_versions")
    op.drop_table("pipeline_endpoints")
    op.drop_index("ix_published_pipelines_name", table_name="published_pipelines")
    op.drop_table("published_pipelines")
