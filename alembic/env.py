"""Alembic environment: one migration history for SQLite and PostgreSQL.

The connection comes from ``config.attributes["connection"]`` when Ark runs the migration
itself (``python -m ark migrate``), otherwise (``alembic -c alembic.ini upgrade head``) from the
Ark settings (ARK_* environment / the ARK_CONFIG file) through the same engine setup as the server.
"""
from logging.config import fileConfig

from alembic import context

from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.tables import metadata


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    if context.config.config_file_name:  # the alembic CLI: its [logger_*] sections show "Running upgrade ..."
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    engine = create_engine_for(Settings.load())
    try:
        with engine.begin() as conn:
            run_migrations(conn)
    finally:
        engine.dispose()
