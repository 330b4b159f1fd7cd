"""What differs between SQLite and PostgreSQL, in one object per database (the kine pattern).

The Store, the change feed and the migrations ask their :class:`Dialect` instead of testing the
database's name:

* **engines**: SQLite runs in WAL mode (readers never wait for the writer) with
  ``synchronous=FULL`` (an acknowledged write survives a crash; ``NORMAL`` on request) and a busy
  timeout; PostgreSQL gets a pool sized from the settings and an explicit connect timeout
  (psycogreen's async connections would otherwise ignore it). Instead of a pre-ping round trip
  per checkout, a pooled PostgreSQL connection is checked for free: a backend that was
  terminated (``pg_terminate_backend``, a restart) has sent its goodbye, so the socket of a dead
  idle connection is readable, and the pool replaces it.
* **single-row statements**: a get and a write run as prebuilt SQL text on the driver's own
  connection (no SQLAlchemy statement building, no transaction for a read). A PostgreSQL write
  is one autocommitted statement whose CTEs lock the object's row, then bump the revision row,
  write the object, its labels and its change-log row and NOTIFY, so the revision row (which
  serializes writers) is held only for the rest of that statement and its commit.
* **SQLite writes** are grouped (``write_rows``): the writes of a process that queue while one
  of them holds the process's write lock are committed together, ``BEGIN IMMEDIATE`` (the file
  lock is taken at once, so a transaction never fails half-way on a lock upgrade), a savepoint
  and four short statements per write, one ``COMMIT``. Waiting for another process's lock
  yields to the other greenlets, and the statements and the COMMIT's fsync run in gevent's
  thread pool, so the worker keeps serving meanwhile and the next group forms.
* **snapshots**: a list that must see one state runs REPEATABLE READ on PostgreSQL; SQLite's
  deferred transaction already reads one snapshot.
* **workers**: psycopg2 must wait through gevent (psycogreen) in every forked worker.
* **wake-ups**: PostgreSQL writers ``NOTIFY`` the feeds of every replica; SQLite has no such
  channel, so feeds poll (and commits in the same process wake their feed at once).
* **errors**: which driver errors mean "the database is unreachable or busy" (answered 503 with
  Retry-After) rather than a bug.
"""
from __future__ import annotations

import select
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gevent
import gevent.monkey
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from ark.observability.metrics import metrics

T = TypeVar("T")
_WRITE = "ark_write"
NOTIFY_CHANNEL = "ark_changes"


class MeteredPool(QueuePool):
    """SQLAlchemy's queue pool, counting connections in use and requests waiting for one."""

    _sqla_logger_namespace = "sqlalchemy.pool.impl.QueuePool"  # log as the pool it is, at SQLAlchemy's level

    def _do_get(self) -> ConnectionPoolEntry:
        gauges = metrics()
        gauges.pool_waiting.inc()
        try:
            entry = super()._do_get()
        finally:
            gauges.pool_waiting.dec()
        gauges.pool_in_use.inc()
        return entry

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        metrics().pool_in_use.dec()
        super()._do_return_conn(record)


@dataclass(frozen=True)
class RowWrite:
    """One object's write, rendered before any lock is taken: its body is ``before``, the new
    revision, ``after`` (the revision is only known inside the transaction)."""

    event: str  # ADDED, MODIFIED or DELETED
    resource: str
    namespace: str
    name: str
    uid: str
    before: str
    after: str
    read_rv: int | None  # the revision the object was read at (None: a create)
    prev_body: str | None
    labels: list[tuple[str, str, int | None]]  # the object's labels after the write: key, value, number
    relabel: bool  # the label rows change
    had_labels: bool  # the object had label rows before
    committed_at: int  # epoch milliseconds

    def body(self, rv: int) -> str:
        return f"{self.before}{rv}{self.after}"


def off_the_hub(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in gevent's thread pool when this process runs under gevent, so the hub
    keeps serving while the call blocks; directly otherwise (the Store called from plain threads)."""
    if gevent.monkey.is_module_patched("threading"):
        return gevent.get_hub().threadpool.apply(work, args)
    return work(*args)


class Dialect:
    """The database-specific half of the storage layer."""

    name: ClassVar[str]
    #: Whether writers can wake the feeds of other processes (LISTEN/NOTIFY).
    notifies: ClassVar[bool] = False
    #: Whether a process's concurrent writes are committed together (``write_rows``).
    groups_writes: ClassVar[bool] = False

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

    def read_row(self, dbapi: Any, resource: str, namespace: str, name: str) -> tuple[str, int] | None:
        """(body, resourceVersion) of one object, read without a transaction, or None."""
        raise NotImplementedError

    def write_lock(self) -> AbstractContextManager[Any]:
        """What a process's writers queue on before they write (the Store makes one, in its process)."""
        return nullcontext()

    def write_row(self, dbapi: Any, row: RowWrite) -> int | None:
        """Commit ``row`` (dialects that do not group writes): its revision, or None when the
        object is no longer at ``row.read_rv`` (nothing written). A create of a taken name raises
        the driver's IntegrityError."""
        raise NotImplementedError

    def write_rows(self, dbapi: Any, take: Callable[[], list[RowWrite]]) -> list[int | None]:
        """Commit, in one transaction, the rows ``take()`` hands out once the write lock is held
        (dialects that group writes): each row's revision, or None where its precondition failed
        (the name was taken, or the object is no longer at ``read_rv``) and it wrote nothing."""
        raise NotImplementedError

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
    groups_writes = True
    BUSY_TIMEOUT_MS = 10_000
    LOCK_RETRY_INITIAL, LOCK_RETRY_MAX = 0.0002, 0.002  # seconds between tries for the write lock

    def create_engine(self, settings: Any) -> Engine:
        Path(settings.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        synchronous = "NORMAL" if getattr(settings, "sqlite_synchronous", "full") == "normal" else "FULL"
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
            cursor.execute(f"PRAGMA synchronous={synchronous}")
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

    def read_row(self, dbapi: Any, resource: str, namespace: str, name: str) -> tuple[str, int] | None:
        return dbapi.execute(_READ.replace("%s", "?"), (resource, namespace, name)).fetchone()

    def write_lock(self) -> AbstractContextManager[Any]:
        # Created in the worker, after gevent patched threading: a greenlet lock there.
        return threading.Lock()

    def write_rows(self, dbapi: Any, take: Callable[[], list[RowWrite]]) -> list[int | None]:
        started = time.monotonic()
        self._begin_immediate(dbapi, started + self.BUSY_TIMEOUT_MS / 1000)
        metrics().sqlite_lock_wait.observe(time.monotonic() - started)
        try:
            rows = take()  # taken now: the writes queued while the lock was awaited come along
            return off_the_hub(self._apply, dbapi, rows)
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise

    def _apply(self, dbapi: Any, rows: list[RowWrite]) -> list[int | None]:
        """The rows' statements and the COMMIT (its fsync): in a thread, while the hub serves
        the requests that will form the next group."""
        results: list[int | None] = []
        for row in rows:
            dbapi.execute("SAVEPOINT ark_write")  # each row succeeds or fails alone
            try:
                rv = self._write(dbapi, row)
            except sqlite3.IntegrityError:  # a create of a taken name
                rv = None
            if rv is None:
                dbapi.execute("ROLLBACK TO ark_write")
            dbapi.execute("RELEASE ark_write")
            results.append(rv)
        dbapi.execute("COMMIT")
        return results

    def _begin_immediate(self, dbapi: Any, deadline: float) -> None:
        """Take the file's write lock, waiting for another process's writer without blocking
        the hub: SQLite's own busy handler would sleep inside the call (freezing every request
        and watch of this worker) in steps growing to 100 ms; here the attempt fails at once
        and the greenlet sleeps a fraction of a millisecond (gevent's sleep in the workers)."""
        delay = self.LOCK_RETRY_INITIAL
        dbapi.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    dbapi.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as err:
                    if err.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                        raise
                time.sleep(delay)
                delay = min(delay * 2, self.LOCK_RETRY_MAX)
        finally:
            dbapi.execute(f"PRAGMA busy_timeout = {self.BUSY_TIMEOUT_MS}")

    @staticmethod
    def _write(dbapi: Any, row: RowWrite) -> int | None:
        rv: int = dbapi.execute("UPDATE revision SET current = current + 1 RETURNING current").fetchone()[0]
        key = (row.resource, row.namespace, row.name)
        body = row.body(rv)
        if row.event == "ADDED":
            dbapi.execute("INSERT INTO objects (resource, namespace, name, uid, resource_version, body) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (*key, row.uid, rv, body))
        elif row.event == "MODIFIED":
            written = dbapi.execute("UPDATE objects SET uid = ?, resource_version = ?, body = ? WHERE resource = ? "
                                    "AND namespace = ? AND name = ? AND resource_version = ?",
                                    (row.uid, rv, body, *key, row.read_rv))
            if written.rowcount != 1:
                return None
        elif dbapi.execute("DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ? "
                           "AND resource_version = ?", (*key, row.read_rv)).rowcount != 1:
            return None
        if row.relabel:
            if row.had_labels:
                dbapi.execute("DELETE FROM labels WHERE resource = ? AND namespace = ? AND name = ?", key)
            if row.labels:
                dbapi.executemany("INSERT INTO labels (resource, namespace, name, key, value, num_value) "
                                  "VALUES (?, ?, ?, ?, ?, ?)", [(*key, *label) for label in row.labels])
        dbapi.execute("INSERT INTO changes (rv, resource, namespace, name, type, body, prev_body, committed_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (rv, *key, row.event, body, row.prev_body, row.committed_at))
        return rv


class PostgreSQL(Dialect):
    name = "postgresql"
    notifies = True

    def create_engine(self, settings: Any) -> Engine:
        engine = sqlalchemy.create_engine(
            settings.database_url(),
            poolclass=MeteredPool,
            pool_size=settings.postgres_pool_size,
            max_overflow=settings.postgres_max_overflow,
            pool_timeout=30,
            connect_args={"connect_timeout": int(settings.postgres_connect_timeout)},
        )

        @event.listens_for(engine, "checkout")
        def _check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # An idle connection has nothing to read unless its backend said goodbye (terminated,
            # restarted): then the pool connects afresh. No round trip, unlike a pre-ping.
            if dbapi_connection.closed or select.select([dbapi_connection], [], [], 0)[0]:
                raise DisconnectionError("the server closed this pooled connection")

        return engine

    def prepare_worker(self) -> None:
        # psycopg2 blocks the whole gevent hub unless it waits through gevent's wait callback.
        import psycogreen.gevent

        psycogreen.gevent.patch_psycopg()

    def snapshot_connection(self, engine: Engine) -> Connection:
        return engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)

    def notify(self, conn: Connection, rv: int) -> None:
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}, '{int(rv)}'")

    def read_row(self, dbapi: Any, resource: str, namespace: str, name: str) -> tuple[str, int] | None:
        dbapi.autocommit = True  # one round trip: no BEGIN, no ROLLBACK
        try:
            with dbapi.cursor() as cursor:
                cursor.execute(_READ, (resource, namespace, name))
                return cursor.fetchone()
        finally:
            dbapi.autocommit = False

    def write_row(self, dbapi: Any, row: RowWrite) -> int | None:
        params = {"resource": row.resource, "namespace": row.namespace, "name": row.name, "uid": row.uid,
                  "before": row.before, "after": row.after, "read_rv": row.read_rv, "type": row.event,
                  "prev_body": row.prev_body, "at": row.committed_at, "keys": [k for k, _, _ in row.labels],
                  "values": [v for _, v, _ in row.labels], "numbers": [n for _, _, n in row.labels]}
        dbapi.autocommit = True  # the statement is its own transaction: one round trip
        try:
            with dbapi.cursor() as cursor:
                cursor.execute(_PG_WRITES[row.event, row.relabel], params)
                found = cursor.fetchone()
        finally:
            dbapi.autocommit = False
        return None if found is None else int(found[0])


_READ = "SELECT body, resource_version FROM objects WHERE resource = %s AND namespace = %s AND name = %s"

# One PostgreSQL statement per kind of write. ``cur`` locks the object's row first (an update or
# delete whose object changed finds no row and bumps nothing); only then does ``bump`` lock the
# revision row, which every writer waits for, so it is held for the rest of this statement and
# its commit. The CTEs all run; those that depend on ``obj`` write nothing when it wrote nothing.
_PG_KEY = "resource = %(resource)s AND namespace = %(namespace)s AND name = %(name)s"
_PG_LOCK = f"""cur AS (SELECT 1 FROM objects WHERE {_PG_KEY} AND resource_version = %(read_rv)s FOR UPDATE),
bump AS (UPDATE revision SET current = current + 1 WHERE EXISTS (SELECT 1 FROM cur) RETURNING current)"""  # noqa: S608 - constant SQL, values are bound
_PG_OBJECT = {
    "ADDED": """bump AS (UPDATE revision SET current = current + 1 RETURNING current),
obj AS (INSERT INTO objects (resource, namespace, name, uid, resource_version, body)
        SELECT %(resource)s, %(namespace)s, %(name)s, %(uid)s, current, %(before)s || current || %(after)s FROM bump
        RETURNING resource_version, body)""",
    "MODIFIED": f"""{_PG_LOCK},
obj AS (UPDATE objects SET uid = %(uid)s, resource_version = bump.current,
               body = %(before)s || bump.current || %(after)s
        FROM bump WHERE {_PG_KEY} AND resource_version = %(read_rv)s
        RETURNING objects.resource_version, objects.body)""",  # noqa: S608 - constant SQL, values are bound
    "DELETED": f"""{_PG_LOCK},
obj AS (DELETE FROM objects USING bump WHERE {_PG_KEY} AND resource_version = %(read_rv)s
        RETURNING bump.current AS resource_version, %(before)s || bump.current || %(after)s AS body)""",  # noqa: S608 - constant SQL, values are bound
}
_PG_LABELS = f"""unlabel AS (DELETE FROM labels WHERE {_PG_KEY} AND key <> ALL(%(keys)s::text[])
                    AND EXISTS (SELECT 1 FROM obj)),
label AS (INSERT INTO labels (resource, namespace, name, key, value, num_value)
          SELECT %(resource)s, %(namespace)s, %(name)s, l.key, l.value, l.num FROM obj,
                 unnest(%(keys)s::text[], %(values)s::text[], %(numbers)s::bigint[]) AS l(key, value, num)
          ON CONFLICT (resource, namespace, name, key) DO UPDATE SET value = excluded.value,
                                                                     num_value = excluded.num_value)"""  # noqa: S608 - constant SQL, values are bound
_PG_LOG = f"""logged AS (INSERT INTO changes (rv, resource, namespace, name, type, body, prev_body, committed_at)
          SELECT resource_version, %(resource)s, %(namespace)s, %(name)s, %(type)s, body, %(prev_body)s, %(at)s
          FROM obj)
SELECT resource_version, pg_notify('{NOTIFY_CHANNEL}', resource_version::text) FROM obj"""  # noqa: S608 - constant SQL, values are bound
_PG_WRITES = {(event_, relabel): "WITH " + ",\n".join([_PG_OBJECT[event_], *([_PG_LABELS] if relabel else []), _PG_LOG])
              for event_ in _PG_OBJECT for relabel in (False, True)}

DIALECTS: dict[str, Dialect] = {d.name: d for d in (SQLite(), PostgreSQL())}


def dialect_of(engine: Engine) -> Dialect:
    return DIALECTS[engine.dialect.name]


def create_engine_for(settings: Any) -> Engine:
    """An engine for the database the settings name (no connection is made yet)."""
    return DIALECTS[settings.storage_driver].create_engine(settings)
