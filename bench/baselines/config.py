"""What the baseline apps share within one worker: the settings, the database handles and
the object body they serve (the Query the Ark server itself returned for the same request)."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gevent.queue
import psycopg2

from ark.settings import Settings
from ark.storage.dialects import SQLite

RESOURCE = "queries.ark.mckinsey.com"  # the objects table's resource column for Queries
SQLITE_FLAVOURS = {"sqlite-full": "FULL", "sqlite-normal": "NORMAL"}  # minimal create: synchronous=
POSTGRES_FLAVOUR = "postgresql"
# The minimal create's tables: "objects" in its own SQLite files, this one in the Ark server's PostgreSQL database.
CREATE_MINIMAL_SQLITE = "CREATE TABLE objects (name TEXT PRIMARY KEY, body TEXT NOT NULL)"
INSERT_MINIMAL_SQLITE = "INSERT INTO objects (name, body) VALUES (?, ?)"
DROP_MINIMAL_POSTGRES = "DROP TABLE IF EXISTS bench_minimal_create"
CREATE_MINIMAL_POSTGRES = "CREATE TABLE bench_minimal_create (name TEXT PRIMARY KEY, body TEXT NOT NULL)"
INSERT_MINIMAL_POSTGRES = "INSERT INTO bench_minimal_create (name, body) VALUES (%s, %s)"


def minimal_sqlite_path(scratch: Path, flavour: str) -> Path:
    return scratch / f"minimal-create-{flavour}.db"


def postgres_connect(settings: Settings):
    connection = psycopg2.connect(host=settings.postgres_host, port=settings.postgres_port,
                                  dbname=settings.postgres_db, user=settings.postgres_user,
                                  password=settings.postgres_password or None, sslmode=settings.postgres_sslmode,
                                  connect_timeout=settings.postgres_connect_timeout)
    connection.autocommit = True  # one statement, one commit: the fewest round trips
    return connection


def sqlite_connect(path: Path, synchronous: str, read_only: bool = False) -> sqlite3.Connection:
    """A connection configured as the Ark server configures its own (ark.storage.dialects)."""
    target = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False,
                                 timeout=SQLite.BUSY_TIMEOUT_MS / 1000)
    if not read_only:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute(f"PRAGMA busy_timeout={SQLite.BUSY_TIMEOUT_MS}")
    return connection


class PostgresPool:
    """Up to ``size`` connections per worker, as the Ark server's pool (greenlets wait for one)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._size = settings.postgres_pool_size
        self._idle: gevent.queue.Queue = gevent.queue.Queue()
        self._made = 0

    @contextmanager
    def connection(self) -> Iterator:
        if self._idle.empty() and self._made < self._size:
            self._made += 1
            connection = postgres_connect(self._settings)
        else:
            connection = self._idle.get()
        try:
            yield connection
        finally:
            self._idle.put(connection)


@dataclass
class Baseline:
    settings: Settings
    scratch: Path
    template: dict  # a Query as the Ark server answered a GET of it
    sqlite: dict[str, sqlite3.Connection] = field(default_factory=dict)
    postgres: PostgresPool | None = None

    def ark_sqlite(self) -> sqlite3.Connection:
        """Read-only: the raw list reads the Ark server's own database file."""
        if "ark" not in self.sqlite:
            self.sqlite["ark"] = sqlite_connect(Path(self.settings.sqlite_path), "FULL", read_only=True)
        return self.sqlite["ark"]

    def minimal_sqlite(self, flavour: str) -> sqlite3.Connection:
        if flavour not in self.sqlite:
            self.sqlite[flavour] = sqlite_connect(minimal_sqlite_path(self.scratch, flavour),
                                                  SQLITE_FLAVOURS[flavour])
        return self.sqlite[flavour]

    def pool(self) -> PostgresPool:
        if self.postgres is None:
            self.postgres = PostgresPool(self.settings)
        return self.postgres
