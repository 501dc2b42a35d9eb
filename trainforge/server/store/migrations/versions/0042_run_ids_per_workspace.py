"""run ids per workspace

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-02 11:30:00

A run id was a key of the whole server, so an id a caller chooses (a Batch AI job's
name) that another workspace had used was refused, telling it what that workspace held.
Runs are now keyed by (workspace_id, id), and every row that belongs to a run (metrics,
metric batch ids, assignments, task endpoints, node commands, sweeps and their trials)
carries the run's workspace and refers to the run by both.

On SQLite the tables are copied (it cannot change a key in place) with foreign keys off,
as the migration environment runs every migration; it checks them once at the end.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


@dataclass(frozen=True)
class Table:
    """What changes in one table that refers to a run."""

    name: str
    # The column naming the run, and the table it refers to (a trial refers to its sweep).
    run_column: str = "run_id"
    refers_to: str = "runs"
    primary_key: list[str] | None = None  # without workspace_id; None: it keeps its own
    # index name -> its columns after (the old index on run_id alone goes).
    indexes: dict[str, list[str]] = field(default_factory=dict)
    old_indexes: list[str] = field(default_factory=list)
    uniques: dict[str, list[str]] = field(default_factory=dict)
    had_workspace: bool = False


TABLES = [
    Table("sweeps", primary_key=["run_id"], had_workspace=True),
    Table(
        "sweep_trials",
        run_column="sweep_run_id",
        refers_to="sweeps",
        primary_key=["sweep_run_id", "index"],
        indexes={"ix_sweep_trials_run": ["workspace_id", "run_id"]},
        old_indexes=["ix_sweep_trials_run_id"],
    ),
    Table(
        "metrics",
        indexes={"ix_metrics_run_name": ["workspace_id", "run_id", "name"]},
        old_indexes=["ix_metrics_run_name"],
    ),
    Table("metric_batches", primary_key=["run_id", "batch_id"]),
    Table(
        "assignments",
        indexes={"ix_assignments_run": ["workspace_id", "run_id"]},
        old_indexes=["ix_assignments_run_id"],
    ),
    Table(
        "task_endpoints",
        old_indexes=["ix_task_endpoints_run_id"],
        uniques={
            "uq_task_endpoints_task": [
                "workspace_id",
                "run_id",
                "attempt",
                "task_type",
                "task_index",
            ]
        },
    ),
    Table(
        "node_commands",
        indexes={"ix_node_commands_run": ["workspace_id", "run_id"]},
        old_indexes=["ix_node_commands_run_id"],
    ),
]

# Names SQLite's unnamed constraints get when batch mode reflects them, so they can be dropped.
NAMING = {
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _foreign_keys(table: str) -> list[str]:
    """The names of ``table``'s foreign keys to runs, sweeps and workspaces."""
    found = sa.inspect(op.get_bind()).get_foreign_keys(table)
    return [
        fk["name"] or f"fk_{table}_{fk['constrained_columns'][0]}_{fk['referred_table']}"
        for fk in found
        if fk["referred_table"] in ("runs", "sweeps", "workspaces")
    ]


def _uniques(table: str) -> list[str]:
    found = sa.inspect(op.get_bind()).get_unique_constraints(table)
    return [uq["name"] or f"uq_{table}_{uq['column_names'][0]}" for uq in found]


def _primary_key_name(table: str) -> str:
    return sa.inspect(op.get_bind()).get_pk_constraint(table)["name"] or f"pk_{table}"


def _fill_workspace(spec: Table) -> None:
    if spec.had_workspace:
        return
    with op.batch_alter_table(spec.name) as batch_op:
        batch_op.add_column(sa.Column("workspace_id", sa.String(length=36), nullable=True))
    key = "id" if spec.refers_to == "runs" else "run_id"
    op.execute(
        f"UPDATE {spec.name} SET workspace_id = (SELECT workspace_id FROM {spec.refers_to} "
        f"WHERE {spec.refers_to}.{key} = {spec.name}.{spec.run_column})"
    )


def _rekey_runs() -> None:
    if _sqlite():
        with op.batch_alter_table("runs", recreate="always") as batch_op:
            batch_op.create_primary_key("pk_runs", ["workspace_id", "id"])
    else:
        op.drop_constraint("runs_pkey", "runs", type_="primary")
        op.create_primary_key("runs_pkey", "runs", ["workspace_id", "id"])


def _rekey(spec: Table) -> None:
    sqlite = _sqlite()
    pk_name = _primary_key_name(spec.name)
    uniques = _uniques(spec.name)
    foreign_keys = _foreign_keys(spec.name) if sqlite else []
    if not sqlite and spec.primary_key is not None:
        op.drop_constraint(pk_name, spec.name, type_="primary")
    with op.batch_alter_table(
        spec.name, recreate="always" if sqlite else "auto", naming_convention=NAMING
    ) as batch_op:
        for name in foreign_keys:
            batch_op.drop_constraint(name, type_="foreignkey")
        for name in spec.old_indexes:
            batch_op.drop_index(name)
        for name in uniques:
            batch_op.drop_constraint(name, type_="unique")
        batch_op.alter_column("workspace_id", existing_type=sa.String(length=36), nullable=False)
        if spec.primary_key is not None:
            batch_op.create_primary_key(pk_name, ["workspace_id", *spec.primary_key])
        for name, columns in spec.uniques.items():
            batch_op.create_unique_constraint(name, columns)
        for name, columns in spec.indexes.items():
            batch_op.create_index(name, columns, unique=False)
        if spec.refers_to == "runs":
            batch_op.create_foreign_key(
                f"fk_{spec.name}_run",
                "runs",
                ["workspace_id", spec.run_column],
                ["workspace_id", "id"],
                ondelete="CASCADE",
            )
        else:
            batch_op.create_foreign_key(
                "fk_sweep_trials_sweep",
                "sweeps",
                ["workspace_id", spec.run_column],
                ["workspace_id", "run_id"],
                ondelete="CASCADE",
            )


def upgrade() -> None:
    for spec in TABLES:
        _fill_workspace(spec)
    if not _sqlite():
        # PostgreSQL keeps a key while a foreign key leans on it: those go first.
        for spec in TABLES:
            for name in _foreign_keys(spec.name):
                op.drop_constraint(name, spec.name, type_="foreignkey")
    _rekey_runs()
    for spec in TABLES:
        _rekey(spec)


def downgrade() -> None:
    # Ids become keys of the whole server again: of runs sharing an id, the oldest stays
    # (and, with it, what belongs to it).
    op.execute(
        "DELETE FROM runs WHERE EXISTS (SELECT 1 FROM runs AS kept WHERE kept.id = runs.id "
        "AND (kept.created < runs.created OR (kept.created = runs.created "
        "AND kept.workspace_id < runs.workspace_id)))"
    )
    for spec in reversed(TABLES):
        op.execute(
            f"DELETE FROM {spec.name} WHERE NOT EXISTS (SELECT 1 FROM runs WHERE "
            f"runs.workspace_id = {spec.name}.workspace_id AND runs.id = {spec.name}."
            f"{'run_id' if spec.refers_to == 'runs' else 'sweep_run_id'})"
        )
    sqlite = _sqlite()
    for spec in reversed(TABLES):
        fk = "fk_sweep_trials_sweep" if spec.refers_to == "sweeps" else f"fk_{spec.name}_run"
        if not sqlite:
            op.drop_constraint(fk, spec.name, type_="foreignkey")
    if sqlite:
        with op.batch_alter_table("runs", recreate="always") as batch_op:
            batch_op.create_primary_key("pk_runs", ["id"])
    else:
        op.drop_constraint("runs_pkey", "runs", type_="primary")
        op.create_primary_key("runs_pkey", "runs", ["id"])
    for spec in TABLES:
        pk_name = _primary_key_name(spec.name)
        if not sqlite and spec.primary_key is not None:
            op.drop_constraint(pk_name, spec.name, type_="primary")
        with op.batch_alter_table(
            spec.name, recreate="always" if sqlite else "auto", naming_convention=NAMING
        ) as batch_op:
            if sqlite:
                fk = (
                    "fk_sweep_trials_sweep" if spec.refers_to == "sweeps" else f"fk_{spec.name}_run"
                )
                batch_op.drop_constraint(fk, type_="foreignkey")
            for name in spec.indexes:
                batch_op.drop_index(name)
            for name in spec.uniques:
                batch_op.drop_constraint(name, type_="unique")
            if spec.primary_key is not None:
                batch_op.create_primary_key(pk_name, spec.primary_key)
            if spec.name == "task_endpoints":
                batch_op.create_unique_constraint(
                    "task_endpoints_run_id_attempt_task_type_task_index_key",
                    ["run_id", "attempt", "task_type", "task_index"],
                )
            for name in spec.old_indexes:
                column = "run_id" if name != "ix_metrics_run_name" else None
                batch_op.create_index(
                    name, [column] if column else ["run_id", "name"], unique=False
                )
            # The names PostgreSQL gave these constraints before.
            batch_op.create_foreign_key(
                f"{spec.name}_{spec.run_column}_fkey",
                spec.refers_to,
                [spec.run_column],
                ["id" if spec.refers_to == "runs" else "run_id"],
                ondelete="CASCADE",
            )
            if spec.had_workspace:
                batch_op.create_foreign_key(
                    f"{spec.name}_workspace_id_fkey",
                    "workspaces",
                    ["workspace_id"],
                    ["id"],
                    ondelete="CASCADE",
                )
            else:
                batch_op.drop_column("workspace_id")
