"""SQLAlchemy engines for the two databases, with each one's transaction discipline.

SQLite: WAL (readers never wait for the writer), ``BEGIN IMMEDIATE`` for writes (the write
lock is taken up front, so a transaction never fails half-way on lock upgrade), a busy
timeout, and ``synchronous=FULL`` so an acknowledged write survives a crash.
PostgreSQL: a pool sized from settings with an explicit connect timeout; reads that need
one snapshot (lists) run REPEATABLE READ.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

WRITE = "ark_write"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine_for(settings) -> Engine:
    if settings.storage_driver == "sqlite":
        return _sqlite_engine(settings)
    return _postgresql_engine(settings)


def _sqlite_engine(settings) -> Engine:
    path = Path(settings.sqlite_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(
        settings.database_url(),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=32,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgresql_engine(settings) -> Engine:
    return sqlalchemy.create_engine(
        settings.database_url(),
        pool_size=settings.postgres_pool_size,
        max_overflow=settings.postgres_max_overflow,
        pool_pre_ping=True,
        pool_timeout=30,
        connect_args={"connect_timeout": int(settings.postgres_connect_timeout)},
    )


def write_connection(engine: Engine) -> Connection:
    """A connection whose transactions take the write lock at BEGIN (SQLite)."""
    return engine.connect().execution_options(**{WRITE: True})


def snapshot_connection(engine: Engine) -> Connection:
    """A connection whose transactions see one consistent snapshot (for lists)."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return connection
