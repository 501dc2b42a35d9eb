"""The metadata store: SQLAlchemy models on SQLite (WAL) or PostgreSQL, migrated by Alembic."""
