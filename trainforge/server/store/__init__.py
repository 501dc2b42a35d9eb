"""The metadata store: SQLAlchemy models on SQLite (WAL) or PostgreSQL, migrated by Alembic."""

# Every table module must be imported for Base.metadata (migrations, checks) to know it.
from trainforge.server.store import automl as automl  # noqa: E402
from trainforge.server.store import models as models  # noqa: E402
from trainforge.server.store import pipelines as pipelines  # noqa: E402
from trainforge.server.store import published as published  # noqa: E402
from trainforge.server.store import sweeps as sweeps  # noqa: E402
