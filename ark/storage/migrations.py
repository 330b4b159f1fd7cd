"""Running the one Alembic history, and refusing to serve a database that is behind."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from ark.storage.dialects import create_engine_for

_HERE = Path(__file__).resolve()
# The repository's top-level alembic/ in a checkout; ark/_alembic inside the single-file binary.
_SCRIPT_DIRS = (_HERE.parents[2] / "alembic", _HERE.parents[1] / "_alembic")


class SchemaBehind(Exception):
    """The database schema is older than this server's migrations."""


def _config() -> Config:
    script_dir = next((d for d in _SCRIPT_DIRS if (d / "env.py").exists()), None)
    if script_dir is None:
        raise FileNotFoundError("alembic migration scripts not found")
    config = Config()
    config.set_main_option("script_location", str(script_dir))
    return config


def upgrade_engine(engine: Engine) -> None:
    """Bring the database behind ``engine`` to the newest schema."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def check_current_engine(engine: Engine) -> None:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise SchemaBehind(
            f"database schema is at revision {current or 'none'}, this server needs {head}: "
            "run `python -m ark migrate` (or `make migrate`) first"
        )


def upgrade(settings) -> None:
    engine = create_engine_for(settings)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def check_current(settings) -> None:
    engine = create_engine_for(settings)
    try:
        check_current_engine(engine)
    finally:
        engine.dispose()
