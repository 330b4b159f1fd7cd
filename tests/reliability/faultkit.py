"""Helpers of the fault tests: a PostgreSQL instance of the test's own, and a resuming watcher.

:class:`OwnPostgres` runs ``initdb``/``pg_ctl`` from the machine's PostgreSQL 15 in a temporary
directory, on a free loopback port, so a test can stop and start it under load; the shared
server at 5432 is never touched.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import requests
import sqlalchemy

from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.migrations import upgrade_engine
from tests.conftest import Database, create_namespace, free_port

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
PG_BIN = Path(os.environ.get("ARK_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@contextlib.contextmanager
def connected(database: Database) -> Iterator[sqlalchemy.Connection]:
    """A connection to a test database, engine disposed afterwards: the test process keeps no
    pool of its own (its descriptors and server slots are other tests' budget)."""
    engine = create_engine_for(database.settings)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


class OwnPostgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>, trust auth, user postgres."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            if os.environ.get("CI") == "true":
                pytest.fail(f"{PG_BIN}/initdb is missing")
            pytest.skip(f"{PG_BIN}/initdb is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="ark-own-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def database(self, name: str = "ark") -> Database:
        """A migrated database on this cluster, as the server fixtures describe one."""
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                      connect_timeout=5)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        connection.close()
        flags = ["--storage-driver", "postgresql", "--postgres-host", "127.0.0.1", "--postgres-port", str(self.port),
                 "--postgres-db", name, "--postgres-user", "postgres", "--postgres-sslmode", "disable",
                 "--postgres-connect-timeout", "2"]
        settings = Settings.load(flags, env={})
        engine = create_engine_for(settings)
        upgrade_engine(engine)
        engine.dispose()
        return Database("postgresql", settings, flags)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def starting_revision(server) -> int:
    """A revision to watch from that is not "0" (which means "the current state, then changes"):
    a write into a namespace of its own, made before the load starts."""
    create_namespace(server, "watch-start")
    session = server.session()
    try:
        response = session.post(f"{server.url}{GROUP_VERSION}/namespaces/watch-start/queries", json={
            "apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"generateName": "start-"},
            "spec": {"input": "start", "selector": {"matchLabels": {"app": "test"}}}}, timeout=30)
        assert response.status_code == 201, response.text
        return int(response.json()["metadata"]["resourceVersion"])
    finally:
        session.close()


class ResumingWatcher(threading.Thread):
    """Watches the namespace and resumes from its last revision whenever the stream breaks."""

    def __init__(self, cluster, namespace: str, start: int, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"watcher-{namespace}")
        self.cluster = cluster  # anything with .url and .session(): the server may change under it
        self.namespace = namespace
        self.last = start
        self.stop = stop
        self.events: list[tuple[str, str, int, str]] = []  # (type, name, rv, spec.input)
        self.resumes = 0
        self.errors = 0  # ERROR events (5xx) that ended a stream
        self.failure: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 360
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                session = self.cluster.session()
                try:
                    response = session.get(
                        f"{self.cluster.url}{GROUP_VERSION}/namespaces/{self.namespace}/queries",
                        params={"watch": "true", "resourceVersion": str(self.last), "allowWatchBookmarks": "true",
                                "timeoutSeconds": "30"}, stream=True, timeout=(5, 2))
                    if response.status_code != 200:
                        time.sleep(0.1)
                        continue
                    for line in response.iter_lines(chunk_size=None):
                        if self.stop.is_set():
                            break
                        if not line:
                            continue
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            # A server error ends the stream and the client watches again from its
                            # last revision; 410 would mean history was lost (a relist): a failure.
                            assert event["object"]["code"] >= 500, event
                            self.errors += 1
                            break
                        meta = event["object"]["metadata"]
                        rv = int(meta["resourceVersion"])
                        if event["type"] != "BOOKMARK":
                            self.events.append((event["type"], meta["name"], rv,
                                                event["object"]["spec"]["input"]))
                        self.last = max(self.last, rv)
                except NETWORK_ERRORS:
                    time.sleep(0.1)
                finally:
                    session.close()
                self.resumes += 1
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.failure = err


