"""Real databases and real ``python -m ark serve`` processes on loopback, without pytest.

The tests' fixtures (``tests/conftest.py``) and the benchmark suite (``bench/``) both start
servers and databases through this module, so a benchmark measures exactly the server the
tests check.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import requests

from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.migrations import upgrade_engine

REPO = Path(__file__).resolve().parents[1]
POSTGRES: dict[str, Any] = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
READY_TIMEOUT = 30.0


def postgres_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL server's ``postgres`` database (autocommit)."""
    connection = psycopg2.connect(dbname="postgres", connect_timeout=5, **POSTGRES)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@dataclass
class Database:
    """One real database, migrated, with the settings that reach it."""

    driver: str
    settings: Settings
    flags: list[str] = field(default_factory=list)
    postgres_name: str | None = None  # the database's name on the PostgreSQL server


@contextmanager
def empty_database(driver: str, sqlite_path: Path, prefix: str = "ark_test",
                   postgres_flags: Sequence[str] = ()) -> Iterator[Database]:
    """A new database of ``driver`` without any tables (a file at ``sqlite_path``, or a PostgreSQL
    database named ``<prefix>_<random>``, dropped afterwards, reached with ``postgres_flags`` too)."""
    if driver == "sqlite":
        flags = ["--storage-driver", "sqlite", "--sqlite-path", str(sqlite_path)]
        name = None
    else:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        postgres_admin(f"CREATE DATABASE {name}")
        flags = ["--storage-driver", "postgresql", "--postgres-host", str(POSTGRES["host"]),
                 "--postgres-port", str(POSTGRES["port"]), "--postgres-db", name,
                 "--postgres-user", str(POSTGRES["user"]), "--postgres-sslmode", "disable", *postgres_flags]
    try:
        yield Database(driver, Settings.load(flags, env={}), flags, name)
    finally:
        if name:
            postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def migrated_database(driver: str, sqlite_path: Path, prefix: str = "ark_test",
                      postgres_flags: Sequence[str] = ()) -> Iterator[Database]:
    """A new database of ``driver`` with the newest schema (see :func:`empty_database`)."""
    with empty_database(driver, sqlite_path, prefix, postgres_flags) as db:
        engine = create_engine_for(db.settings)
        upgrade_engine(engine)
        engine.dispose()
        yield db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ca_session(ca_file: Path) -> requests.Session:
    """HTTPS to a test server, verified against its CA (and only its CA)."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override our CA
    session.verify = str(ca_file)
    return session


@dataclass
class Served:
    """A process serving HTTPS on loopback with a generated CA (answers ``/readyz``)."""

    url: str
    port: int
    ca_file: Path
    process: subprocess.Popen
    log: Path

    def session(self) -> requests.Session:
        return ca_session(self.ca_file)


@dataclass
class Server(Served):
    """A real ``python -m ark serve`` process (gunicorn, gevent workers) on loopback."""

    kubeconfig: Path = Path()
    database: Database | None = None


def namespace_manifest(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def create_namespace(served: Served, name: str) -> None:
    """Create Namespace ``name`` on a standalone server (objects can only be created in a
    namespace that exists); a server in delegated mode serves no namespaces and is left alone."""
    with served.session() as http:
        response = http.post(f"{served.url}/api/v1/namespaces", json=namespace_manifest(name), timeout=30)
    if response.status_code not in (201, 409, 401, 403, 404):
        raise RuntimeError(f"creating namespace {name} answered {response.status_code}: {response.text}")


def launch(command: Sequence[str], workdir: Path, port: int, ca_file: Path | None = None,
           wait: bool = True) -> Served:
    """Start ``command`` (which serves https://127.0.0.1:``port`` with its CA in ``workdir/certs``,
    or the one ``ca_file`` names) and return once ``/readyz`` answers 200 (at once: ``wait=False``)."""
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARK_")}
    with open(log, "ab") as out:
        process = subprocess.Popen(list(command), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"https://127.0.0.1:{port}"
    ca_file = ca_file or workdir / "certs" / "ca.crt"
    if not wait:
        return Served(url, port, ca_file, process, log)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if ca_file.exists() and ca_session(ca_file).get(url + "/readyz", timeout=2).status_code == 200:
                return Served(url, port, ca_file, process, log)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    process.wait()
    raise RuntimeError(f"server did not become ready:\n{log.read_text()}")


def start_server(database: Database, workdir: Path, workers: int = 2, extra: Sequence[str] = (),
                 ca_file: Path | None = None, wait: bool = True) -> Server:
    port = free_port()
    kubeconfig = workdir / "kubeconfig"
    command = [sys.executable, "-m", "ark", "serve", *database.flags, "--bind-address", "127.0.0.1",
               "--secure-port", str(port), "--cert-dir", str(workdir / "certs"), "--kubeconfig-out", str(kubeconfig),
               "--workers", str(workers), *extra]
    served = launch(command, workdir, port, ca_file, wait)
    return Server(served.url, served.port, served.ca_file, served.process, served.log, kubeconfig, database)


def stop_server(server: Served, timeout: float = 15) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def json_log(server: Served) -> list[dict[str, Any]]:
    """Every line the server wrote so far (stdout and stderr), each parsed as one JSON object
    (``--log-format json``); a line that is not one fails the test that reads it."""
    records = []
    for number, line in enumerate(server.log.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{server.log}:{number} is not a JSON line: {line!r}") from None
        assert isinstance(record, dict), f"{server.log}:{number} is not a JSON object: {line!r}"
        records.append(record)
    return records


def wait_for_log(server: Served, found: Callable[[list[dict[str, Any]]], Any], timeout: float = READY_TIMEOUT) -> Any:
    """Read the JSON log until ``found`` gives something true (a line is written when its response
    closes, a moment after the client has it); returns that, fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = found(json_log(server))
        if result or time.monotonic() > deadline:
            assert result, f"the log never had it:\n{server.log.read_text()[-4000:]}"
            return result
        time.sleep(0.05)
