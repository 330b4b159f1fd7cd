"""What differs between SQLite and PostgreSQL, in one object per database (the kine pattern).

The Store, the change feed and the migrations ask their :class:`Dialect` instead of testing the
database's name:

* **engines**: SQLite runs in WAL mode (readers never wait for the writer) with
  ``synchronous=FULL`` (an acknowledged write survives a crash) and a busy timeout; PostgreSQL
  gets a pool sized from the settings and an explicit connect timeout (psycogreen's async
  connections would otherwise ignore it).
* **write transactions**: SQLite takes the write lock at ``BEGIN IMMEDIATE``, so a transaction
  never fails half-way on a lock upgrade; PostgreSQL serializes writers on the revision row.
* **snapshots**: a list that must see one state runs REPEATABLE READ on PostgreSQL; SQLite's
  deferred transaction already reads one snapshot.
* **workers**: psycopg2 must wait through gevent (psycogreen) in every forked worker.
* **wake-ups**: PostgreSQL writers ``NOTIFY`` the feeds of every replica; SQLite has no such
  channel, so feeds poll (and commits in the same process wake their feed at once).
* **errors**: which driver errors mean "the database is unreachable or busy" (answered 503 with
  Retry-After) rather than a bug.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from ark.observability.metrics import metrics

_WRITE = "ark_write"
NOTIFY_CHANNEL = "ark_changes"


class MeteredPool(QueuePool):
    """SQLAlchemy's queue pool, counting connections in use and requests waiting for one."""

    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"  # log as the pool it is, at SQLAlchemy's level

    def _do_get(self) -> ConnectionPoolEntry:
        gauge = metrics().pool_connections
        gauge.labels("waiting").inc()
        try:
            entry = super()._do_get()
        finally:
            gauge.labels("waiting").dec()
        gauge.labels("in_use").inc()
        return entry

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        metrics().pool_connections.labels("in_use").dec()
        super()._do_return_conn(record)


class Dialect:
    """The database-specific half of the storage layer."""

    name: ClassVar[str]
    #: Whether writers can wake the feeds of other processes (LISTEN/NOTIFY).
    notifies: ClassVar[bool] = False

    def create_engine(self, settings: Any) -> Engine:
        raise NotImplementedError

    def write_connection(self, engine: Engine) -> Connection:
        """A connection whose transactions may write."""
        return engine.connect()

    def snapshot_connection(self, engine: Engine) -> Connection:
        """A connection whose transactions see one consistent snapshot (for lists)."""
        return engine.connect()

    def notify(self, conn: Connection, rv: int) -> None:
        """Tell other processes, inside the write transaction, that revision ``rv`` is committed."""

    def prepare_worker(self) -> None:
        """Make the driver cooperate with gevent in a freshly forked gunicorn worker."""

    def unavailable(self, error: BaseException) -> bool:
        """Whether ``error`` means the database cannot serve now (down, unreachable, busy)."""
        if isinstance(error, PoolTimeout):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        return isinstance(error, (OperationalError, InterfaceError))


class SQLite(Dialect):
    name = "sqlite"
    BUSY_TIMEOUT_MS = 10_000

    def create_engine(self, settings: Any) -> Engine:
        Path(settings.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy.create_engine(
            settings.database_url(),
            connect_args={"timeout": self.BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            poolclass=MeteredPool,
            pool_size=8,
            max_overflow=32,
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={self.BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            if not connection.get_execution_options().get(_WRITE, False):
                connection.exec_driver_sql("BEGIN")
                return
            started = time.monotonic()
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # waits (busy timeout) while another process writes
            metrics().sqlite_lock_wait.observe(time.monotonic() - started)

        return engine

    def write_connection(self, engine: Engine) -> Connection:
        return engine.connect().execution_options(**{_WRITE: True})


class PostgreSQL(Dialect):
    name = "postgresql"
    notifies = True

    def create_engine(self, settings: Any) -> Engine:
        return sqlalchemy.create_engine(
            settings.database_url(),
            poolclass=MeteredPool,
            pool_size=settings.postgres_pool_size,
            max_overflow=settings.postgres_max_overflow,
            pool_pre_ping=True,
            pool_timeout=30,
            connect_args={"connect_timeout": int(settings.postgres_connect_timeout)},
        )

    def prepare_worker(self) -> None:
        # psycopg2 blocks the whole gevent hub unless it waits through gevent's wait callback.
        import psycogreen.gevent

        psycogreen.gevent.patch_psycopg()

    def snapshot_connection(self, engine: Engine) -> Connection:
        return engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)

    def notify(self, conn: Connection, rv: int) -> None:
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}, '{int(rv)}'")


DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLite(), PostgreSQL())}


def dialect_of(engine: Engine) -> Dialect:
    return DIALECTS[engine.dialect.name]


def create_engine_for(settings: Any) -> Engine:
    """An engine for the database the settings name (no connection is made yet)."""
    return DIALECTS[settings.storage_driver].create_engine(settings)
