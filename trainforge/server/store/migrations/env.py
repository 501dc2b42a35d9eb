"""Alembic environment: migrations run from the server at start-up and from the alembic CLI."""

from alembic import context
from sqlalchemy import pool

from trainforge.server.store.database import make_engine
from trainforge.server.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    # SQLite changes a table's keys by copying it; with foreign keys enforced, dropping the
    # old copy would delete every row that refers to it. They are checked once at the end.
    engine = make_engine(url, poolclass=pool.NullPool, foreign_keys=False)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(
                        f"rows that refer to missing rows after migrating: {broken[:5]}"
                    )
    engine.dispose()
