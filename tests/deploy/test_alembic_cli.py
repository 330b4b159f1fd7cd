"""``alembic -c alembic.ini upgrade head`` and ``downgrade base`` run as a user runs them: the alembic
command of the venv, the database named by the same ARK_* variables (or ARK_CONFIG file) as the
server's, from the repository root and from anywhere else.
"""
from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from sqlalchemy import inspect

from ark.storage.dialects import create_engine_for
from ark.storage.migrations import check_current_engine
from tests.conftest import BIN, DRIVERS, REPO, Database, empty_database

ARK_TABLES = {"objects", "labels", "changes", "revision"}


@pytest.fixture(params=DRIVERS)
def database(request, tmp_path):
    with empty_database(request.param, tmp_path) as db:
        yield db


def ark_env(database: Database) -> dict[str, str]:
    """The ARK_* variables a user would export for this database: one per flag of its flags."""
    flags = database.flags
    return {"ARK_" + flag.removeprefix("--").replace("-", "_").upper(): value
            for flag, value in zip(flags[::2], flags[1::2], strict=True)}


def alembic(*args: str, env: dict[str, str], cwd=REPO) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARK_")}
    result = subprocess.run([str(BIN / "alembic"), *args], cwd=cwd, env={**clean, **env}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def tables(database: Database) -> set[str]:
    engine = create_engine_for(database.settings)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_and_downgrade_base_from_the_repository_root(database):
    env = ark_env(database)
    upgraded = alembic("-c", "alembic.ini", "upgrade", "head", env=env)
    assert "Running upgrade  -> 0001" in upgraded.stderr
    assert "Running upgrade 0001 -> 0002" in upgraded.stderr
    assert tables(database) >= ARK_TABLES
    engine = create_engine_for(database.settings)
    check_current_engine(engine)  # what the server checks before it serves
    engine.dispose()

    assert "0002 (head)" in alembic("-c", "alembic.ini", "current", env=env).stdout
    downgraded = alembic("-c", "alembic.ini", "downgrade", "base", env=env)
    assert "Running downgrade 0001 -> " in downgraded.stderr
    assert not ARK_TABLES & tables(database)
    alembic("-c", "alembic.ini", "upgrade", "head", env=env)
    assert tables(database) >= ARK_TABLES


def test_the_config_file_of_the_server_names_the_database_from_any_directory(database, tmp_path):
    settings = database.settings
    if database.driver == "sqlite":
        storage = {"driver": "sqlite", "sqlite": {"path": settings.sqlite_path}}
    else:
        storage = {"driver": "postgresql", "postgresql": {
            "host": settings.postgres_host, "port": settings.postgres_port, "database": settings.postgres_db,
            "username": settings.postgres_user, "sslMode": settings.postgres_sslmode}}
    config = tmp_path / "ark.yaml"
    config.write_text(yaml.safe_dump({"storage": storage}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    alembic("-c", str(REPO / "alembic.ini"), "upgrade", "head", env={"ARK_CONFIG": str(config)}, cwd=elsewhere)
    assert tables(database) >= ARK_TABLES
