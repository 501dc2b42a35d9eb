"""Engine and sessions for the store, and bringing its schema to the newest migration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, busy_timeout_s: float = 30.0, **options: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}, **options
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets readers go on while one writer commits; NORMAL sync is safe under WAL.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _savepoint_inside_a_transaction(connection, _name) -> None:  # type: ignore[no-untyped-def]
            # pysqlite opens its transaction lazily, before the first INSERT/UPDATE/DELETE,
            # not before a SAVEPOINT. A SAVEPOINT outside a transaction starts one of its
            # own, and its RELEASE then COMMITS: what came before the rollback point (a
            # metric batch's id) would be durable without what follows (its points).
            # IMMEDIATE: a savepoint is taken only to write, so take the write lock now
            # (waiting busy_timeout) rather than fail on upgrading a read snapshot.
            _take_sqlite_write_lock(connection.connection.dbapi_connection)

        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _take_sqlite_write_lock(dbapi_connection: Any) -> None:
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


def hold(db: Session, *rows: Any) -> None:
    """Read ``rows`` again and keep them from other writers until this transaction ends,
    so that what is decided on them is what gets written over (no lost update).

    PostgreSQL locks the rows (SELECT ... FOR UPDATE). pysqlite starts its transaction
    only at the first write, so until then every SELECT sees whatever was last committed
    and a change decided on it may overwrite a newer one: on SQLite this takes the
    database's write lock first (waiting up to the busy timeout), then reads."""
    connection = db.connection()
    if connection.dialect.name == "sqlite":
        _take_sqlite_write_lock(connection.connection.dbapi_connection)
    for row in rows:
        if row is not None:
            db.refresh(row, with_for_update=True)


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


def insert_unless_present(
    db: Session, model: type[Any], values: dict[str, Any], key: list[str]
) -> None:
    """Insert a row unless one with the same ``key`` columns exists (or is being inserted
    by a concurrent transaction, which this one then waits for): get-or-create without a
    unique-key error when two requests create the same thing at once."""
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=key))


# SQLite's "database is locked"; PostgreSQL's serialization failure, deadlock and lock
# timeout. Each rolled the transaction back: the request may be sent again as it was.
_PG_BUSY = {"40001", "40P01", "55P03"}


def is_busy(exc: OperationalError) -> bool:
    """Did the database refuse this transaction only because others held its locks?"""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _PG_BUSY or "database is locked" in str(exc.orig)


CHANGED_RUNS = "changed_runs"


def mark_changed(session: Session | None, run_id: str) -> None:
    """Note that ``run_id`` changed; the store announces it once the change is committed."""
    if session is not None:
        session.info.setdefault(CHANGED_RUNS, set()).add(run_id)


class Store:
    """The one handle on the metadata database that services use."""

    def __init__(
        self,
        url: str,
        on_commit: Callable[[set[str]], None] | None = None,
        busy_timeout_s: float = 30.0,
    ) -> None:
        migrate(url)
        self.engine = make_engine(url, busy_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.on_commit = on_commit

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; runs marked changed in it are announced after it commits."""
        with self._sessions() as session:
            with session.begin():
                yield session
            changed = session.info.pop(CHANGED_RUNS, None)
        if changed and self.on_commit is not None:
            self.on_commit(changed)

    def close(self) -> None:
        self.engine.dispose()
