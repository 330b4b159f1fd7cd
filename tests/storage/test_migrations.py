"""One Alembic history creates and upgrades both databases; a database behind is refused."""
from __future__ import annotations

import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import inspect

from ark.storage.dialects import create_engine_for
from ark.storage.migrations import SchemaBehind, _config, check_current_engine, upgrade_engine
from tests.conftest import DRIVERS, REPO, empty_database, free_port


@pytest.fixture(params=DRIVERS)
def unmigrated(request, tmp_path):
    """Flags and settings of a brand-new, unmigrated database."""
    with empty_database(request.param, tmp_path) as db:
        yield db.flags, db.settings


def test_an_unmigrated_database_is_refused_with_a_clear_message(unmigrated):
    _, settings = unmigrated
    engine = create_engine_for(settings)
    with pytest.raises(SchemaBehind, match="run `python -m ark migrate`"):
        check_current_engine(engine)
    engine.dispose()


def test_serve_refuses_an_unmigrated_database_in_one_line(unmigrated):
    flags, _ = unmigrated
    port = str(free_port())
    result = subprocess.run([sys.executable, "-m", "ark", "serve", *flags, "--secure-port", port], check=False,
                            cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "migrate" in result.stderr.strip().splitlines()[-1]


def test_migrate_creates_the_schema_and_then_the_server_accepts_it(unmigrated):
    flags, settings = unmigrated
    subprocess.run([sys.executable, "-m", "ark", "migrate", *flags], cwd=REPO, check=True, capture_output=True,
                   timeout=60)
    engine = create_engine_for(settings)
    check_current_engine(engine)
    assert {"objects", "labels", "changes", "revision"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_history_downgrades_and_upgrades_again(unmigrated):
    _, settings = unmigrated
    engine = create_engine_for(settings)
    upgrade_engine(engine)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "objects" not in inspect(engine).get_table_names()
    upgrade_engine(engine)
    check_current_engine(engine)
    engine.dispose()
