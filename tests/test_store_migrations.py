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
