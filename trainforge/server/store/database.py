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
# The execution option of the store's read-only sessions (``Store.reading``).
READ_ONLY = "trainforge_read_only"


def make_engine(
    url: str, busy_timeout_s: float = 30.0, foreign_keys: bool = True, **options: Any
) -> Engine:
    """An engine on ``url``; on SQLite, ``foreign_keys=False`` leaves foreign keys
    unenforced (migrations that copy a table, which would otherwise cascade its drop)."""
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
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.close()

        @event.listens_for(engine, "connect")
        def _no_driver_transactions(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # pysqlite would BEGIN only before the first INSERT/UPDATE/DELETE: the SELECTs
            # before it would each see whatever was last committed, and a change decided
            # on them could overwrite a newer one. The store begins every transaction itself.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:  # type: ignore[no-untyped-def]
            # A write transaction takes the write lock first (waiting busy_timeout), so it
            # reads what no one else can change before it commits; a read-only one reads
            # one snapshot and never blocks a writer (WAL).
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def hold(db: Session, *rows: Any) -> None:
    """Read ``rows`` again and keep them from other writers until this transaction ends,
    so that what is decided on them is what gets written over (no lost update).

    PostgreSQL locks the rows (SELECT ... FOR UPDATE); on SQLite a write transaction
    already holds the database's write lock, so what is read again cannot change."""
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


def mark_changed(session: Session | None, key: str) -> None:
    """Note that what ``key`` names changed (a run: ``models.run_key``; a node, a gang);
    the store announces it once the change is committed."""
    if session is not None:
        session.info.setdefault(CHANGED_RUNS, set()).add(key)


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
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
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

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction: a consistent snapshot that never waits for a writer
        (on SQLite; on PostgreSQL the same as ``session``). Nothing may be written in it."""
        with self._read_sessions() as session:
            with session.begin():
                yield session
                if session.new or session.dirty or session.deleted:
                    raise RuntimeError("a read-only store session was asked to write")

    def close(self) -> None:
        self.engine.dispose()
