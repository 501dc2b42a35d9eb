"""The store's schema on SQLite and PostgreSQL: the migrations build what the models say,
and a store of an older revision upgrades with its rows kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text

from tests.inprocess import DATABASES, database_url
from tests.postgres_server import postgres_server_fixture  # noqa: F401  (the fixture)
from trainforge.server.store.database import MIGRATIONS, make_engine, migrate
from trainforge.server.store.models import Base

ROWS = [
    "INSERT INTO workspaces (id, name, subscription_id, resource_group, location, friendly_name,"
    " description, tags, sku, created) VALUES ('w1', 'ws-one', 's', 'rg', 'local', 'ws-one', '',"
    " '{}', 'basic', '2026-01-01 00:00:00')",
    "INSERT INTO computes (id, workspace_id, name, compute_type, backend, vm_size, vm_priority,"
    " min_nodes, max_nodes, idle_seconds_before_scaledown, tags, settings, provisioning_state,"
    " node_counter, target_node_count, allocation_changed, created, modified) VALUES ('c1', 'w1',"
    " 'cpu', 'AmlCompute', 'local', 'STANDARD_D2_V2', 'dedicated', 0, 1, 60, '{}', '{}',"
    " 'Succeeded', 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO nodes (id, compute_id, state, resources, state_changed, created) VALUES"
    " ('cpu-n001', 'c1', 'idle', '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO snapshots (id, workspace_id, size, file_count, created) VALUES"
    f" ('{'a' * 64}', 'w1', 10, 1, '2026-01-01 00:00:00')",
]


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(str(request.param), tmp_path, request)


def test_migrations_build_the_models(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_store_before_workspace_scoped_keys_upgrades_with_its_rows(url: str) -> None:
    command.upgrade(_config(url), "0009")
    engine = make_engine(url)
    with engine.begin() as connection:
        for row in ROWS:
            connection.execute(text(row))
    command.upgrade(_config(url), "head")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT id, name FROM nodes")).all() == [
            ("cpu-n001", "cpu-n001")
        ]
        assert connection.execute(text("SELECT workspace_id, id FROM snapshots")).all() == [
            ("w1", "a" * 64)
        ]
        # The same content may now be kept by a second workspace.
        connection.execute(text(ROWS[0].replace("'w1', 'ws-one'", "'w2', 'ws-two'")))
        connection.execute(text(ROWS[-1].replace("'w1'", "'w2'")))
    command.downgrade(_config(url), "0009")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM snapshots")).scalar() == 1
        assert connection.execute(text("SELECT id FROM nodes")).scalars().all() == ["cpu-n001"]
    engine.dispose()


T0 = "'2026-01-01 00:00:00'"
RUN_ROWS = [
    "INSERT INTO experiments (id, workspace_id, name, run_counter, created) VALUES"
    f" ('e1', 'w1', 'exp', 2, {T0})",
    *(
        "INSERT INTO runs (id, workspace_id, experiment_id, number, kind, status, parent_run_id,"
        " tags, properties, warnings, attempt, priority, created) VALUES"
        f" ('{run_id}', 'w1', 'e1', {number}, 'script', 'Running', {parent}, '{{}}', '{{}}',"
        f" '[]', 1, 0, {T0})"
        for run_id, number, parent in (("hd", 1, "NULL"), ("hd_0", 2, "'hd'"))
    ),
    "INSERT INTO metrics (run_id, name, kind, step, value, description, time, attempt) VALUES"
    " ('hd_0', 'loss', 'scalar', NULL, '0.5', '', 0, 1)",
    "INSERT INTO metric_batches (run_id, batch_id) VALUES ('hd_0', 'b1')",
    "INSERT INTO assignments (run_id, attempt, backend, state, node_rank, node_count, created)"
    f" VALUES ('hd_0', 1, 'local', 'active', 0, 1, {T0})",
    "INSERT INTO task_endpoints (run_id, attempt, node_rank, task_type, task_index, host) VALUES"
    " ('hd_0', 1, 0, 'worker', 0, '127.0.0.1')",
    "INSERT INTO node_commands (run_id, attempt, node_rank, command, state, created) VALUES"
    f" ('hd_0', 1, 0, 'true', 'posted', {T0})",
    "INSERT INTO sweeps (run_id, workspace_id, spec, seed, state, next_index, policy_state,"
    f" deadline, created) VALUES ('hd', 'w1', '{{}}', 1, 'running', 1, '{{}}', {T0}, {T0})",
    "INSERT INTO sweep_trials (sweep_run_id, index, run_id, parameters, evaluated, created)"
    f" VALUES ('hd', 0, 'hd_0', '{{}}', 0, {T0})",
]
OF_A_RUN = ["metrics", "metric_batches", "assignments", "task_endpoints", "node_commands"]


def test_a_store_before_run_ids_per_workspace_upgrades_with_its_rows(url: str) -> None:
    command.upgrade(_config(url), "0041")
    engine = make_engine(url)
    with engine.begin() as connection:
        for row in [*ROWS[:1], *RUN_ROWS]:
            connection.execute(text(row.replace(" index,", ' "index",')))
    command.upgrade(_config(url), "head")
    with engine.begin() as connection:
        runs = connection.execute(text("SELECT workspace_id, id FROM runs ORDER BY id")).all()
        assert runs == [("w1", "hd"), ("w1", "hd_0")]
        for table in OF_A_RUN:
            kept = connection.execute(text(f"SELECT workspace_id, run_id FROM {table}")).all()
            assert kept == [("w1", "hd_0")], table
        trial = connection.execute(text("SELECT workspace_id, sweep_run_id FROM sweep_trials"))
        assert trial.all() == [("w1", "hd")]
        # A second workspace may now hold runs of the same ids.
        connection.execute(text(ROWS[0].replace("'w1', 'ws-one'", "'w2', 'ws-two'")))
        for row in RUN_ROWS[:3]:
            connection.execute(text(row.replace("'w1'", "'w2'").replace("'e1'", "'e2'")))
    # Deleting a run deletes what belongs to it (the foreign keys hold after the copy).
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM runs WHERE workspace_id = 'w1' AND id = 'hd_0'"))
        for table in OF_A_RUN:
            left = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            assert left == 0, table
    command.downgrade(_config(url), "0041")
    with engine.connect() as connection:
        # Ids are server-wide again: of two runs with one id, the second workspace's goes.
        runs = connection.execute(text("SELECT workspace_id, id FROM runs ORDER BY id")).all()
        assert runs == [("w1", "hd"), ("w2", "hd_0")]
    engine.dispose()


def test_a_store_before_metric_last_values_upgrades_with_them_backfilled(url: str) -> None:
    command.upgrade(_config(url), "0075")
    engine = make_engine(url)
    points = [
        # (run, name, kind, value, attempt): the highest id of each scalar (run, name) is last.
        ("r1", "acc", "scalar", "0.5", 1),
        ("r1", "acc", "scalar", "0.75", 1),
        ("r1", "acc", "list", "[1, 2]", 1),  # no scalar: never a last value
        ("r1", "note", "scalar", '"n/a"', 1),  # a string: a value, no number
        ("r2", "acc", "scalar", "1e-3", 1),
        ("r2", "acc", "scalar", "NaN", 2),
        ("r2", "steps", "scalar", "7", 2),
    ]
    with engine.begin() as connection:
        for row in ROWS[:1]:
            connection.execute(text(row))
        connection.execute(
            text(
                "INSERT INTO experiments (id, workspace_id, name, run_counter, created) VALUES"
                f" ('e1', 'w1', 'exp', 2, {T0})"
            )
        )
        for number, run_id in enumerate(("r1", "r2"), 1):
            connection.execute(
                text(
                    "INSERT INTO runs (id, workspace_id, experiment_id, number, kind, status,"
                    " tags, properties, warnings, attempt, priority, created) VALUES"
                    f" ('{run_id}', 'w1', 'e1', {number}, 'script', 'Running', '{{}}', '{{}}',"
                    f" '[]', 1, 0, {T0})"
                )
            )
        for run_id, name, kind, value, attempt in points:
            connection.execute(
                text(
                    "INSERT INTO metrics (workspace_id, run_id, name, kind, value, description,"
                    " time, attempt) VALUES ('w1', :run, :name, :kind, :value, '', 0, :attempt)"
                ),
                {"run": run_id, "name": name, "kind": kind, "value": value, "attempt": attempt},
            )
    command.upgrade(_config(url), "head")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT run_id, name, value, number FROM metric_last_values ORDER BY run_id, name")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("r1", "acc", "0.75", 0.75),
        ("r1", "note", '"n/a"', None),
        ("r2", "acc", "NaN", None),
        ("r2", "steps", "7", 7.0),
    ]
    command.downgrade(_config(url), "0075")
    engine.dispose()
