"""Alembic environment: one migration history for SQLite and PostgreSQL.

The connection comes from ``config.attributes["connection"]`` when Ark runs the migration
itself, otherwise from the Ark settings (ARK_* environment / --config file).
"""
from alembic import context
from sqlalchemy import create_engine

from ark.settings import Settings
from ark.storage.tables import metadata


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(Settings.load().database_url())
    with engine.connect() as conn:
        run_migrations(conn)
    engine.dispose()
