"""Database faults under load: a PostgreSQL outage, and a foreign process holding SQLite's lock.

PostgreSQL: the test's own instance (``OwnPostgres``) is stopped while writers and a watcher
run, then started again. During the outage every answer is a 503 ServiceUnavailable Status
(no hang, no traceback) and ``/readyz`` fails; afterwards the same server recovers without a restart,
``/readyz`` passes, and the watcher, resuming from its last revision, has every committed change.

SQLite: another process takes the write lock (``BEGIN IMMEDIATE``): readers keep being
answered, and a write waits for the lock and then succeeds.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ark.storage.tables import changes
from tests.conftest import create_namespace, fresh_database, start_server, stop_server
from tests.reliability.conftest import soak
from tests.reliability.faultkit import NETWORK_ERRORS, OwnPostgres, ResumingWatcher, connected, starting_revision

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
RESOURCE = "queries.ark.mckinsey.com"


def query(name: str) -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": name},
            "spec": {"input": name, "selector": {"matchLabels": {"app": "test"}}}}


class Fixed:
    """A server that stays put, in the shape ResumingWatcher expects."""

    def __init__(self, server) -> None:
        self.server = server
        self.url = server.url

    def session(self) -> requests.Session:
        return self.server.session()


class LoadWriter(threading.Thread):
    """Creates objects one after another; records every answer (or the lack of one)."""

    def __init__(self, server, namespace: str, stop: threading.Event, prefix: str) -> None:
        super().__init__(daemon=True, name=f"load-{prefix}")
        self.server = server
        self.namespace = namespace
        self.stop = stop
        self.prefix = prefix
        self.answers: list[tuple[float, int | None, dict | None]] = []  # (sent, code, body)
        self.acked: list[str] = []

    def run(self) -> None:
        session = self.server.session()
        url = f"{self.server.url}{GROUP_VERSION}/namespaces/{self.namespace}/queries"
        deadline = time.monotonic() + 180
        index = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            index += 1
            name = f"{self.prefix}-{index}"
            sent = time.monotonic()
            try:
                response = session.post(url, json=query(name), timeout=30)
            except NETWORK_ERRORS:
                self.answers.append((sent, None, None))
                continue
            body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
            self.answers.append((sent, response.status_code, body))
            if response.status_code == 201:
                self.acked.append(name)
            else:
                time.sleep(0.05)
        session.close()


def _namespace_log(database, namespace: str) -> list:
    with connected(database) as conn:
        return list(conn.execute(select(changes.c.rv, changes.c.name, changes.c.type).where(
            changes.c.resource == RESOURCE, changes.c.namespace == namespace).order_by(changes.c.rv)))


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def own_postgres(tmp_path_factory):
    pg = OwnPostgres()
    try:
        pg.start()
        database = pg.database()
        server = start_server(database, tmp_path_factory.mktemp("outage"), workers=2)
        yield pg, database, server
        stop_server(server)
    finally:
        pg.remove()


def _outage(pg, server, namespace: str, seconds: float) -> tuple[list, list[int]]:
    """Stop PostgreSQL for about ``seconds`` under a writer; the writer's answers during it and
    the /readyz codes seen."""
    stop = threading.Event()
    writer = LoadWriter(server, namespace, stop, "during")
    session = server.session()
    readyz: list[int] = []
    pg.stop()
    stopped = time.monotonic()
    writer.start()
    try:
        while time.monotonic() - stopped < seconds:
            try:
                readyz.append(session.get(f"{server.url}/readyz", timeout=30).status_code)
            except NETWORK_ERRORS:
                readyz.append(0)
            time.sleep(0.2)
    finally:
        stop.set()
        writer.join(timeout=60)
        pg.start()
        session.close()
    return writer.answers, readyz


def test_postgresql_outage_under_load_and_recovery_without_restart(own_postgres, record_property):
    pg, database, server = own_postgres
    namespace = "outage"
    create_namespace(server, namespace)
    watcher_stop = threading.Event()
    watcher = ResumingWatcher(Fixed(server), namespace, starting_revision(server), watcher_stop)
    before_stop = threading.Event()
    before = LoadWriter(server, namespace, before_stop, "before")
    watcher.start()
    before.start()
    try:
        assert _wait_for(lambda: len(before.acked) >= 20, 60)
        before_stop.set()
        before.join(timeout=60)
        outages = soak(1, 5)
        probe = server.session()
        during_answers: list = []
        readyz_codes: list[int] = []
        for _ in range(outages):
            answers, readyz = _outage(pg, server, namespace, 3)
            during_answers += answers
            readyz_codes += readyz
            # Recovery without restarting the server: ready again, writes accepted again.
            assert _wait_for(lambda: probe.get(f"{server.url}/readyz", timeout=30).status_code == 200, 60)
        session = server.session()
        after = [session.post(f"{server.url}{GROUP_VERSION}/namespaces/{namespace}/queries",
                              json=query(f"after-{i}"), timeout=30) for i in range(10)]
        assert [r.status_code for r in after] == [201] * 10, [r.text for r in after]
        session.close()
        probe.close()
        newest = _namespace_log(database, namespace)[-1].rv
        _wait_for(lambda: watcher.last >= newest or not watcher.is_alive(), 60)
        assert watcher.failure is None, watcher.failure
        assert watcher.last >= newest, (watcher.last, newest)
    finally:
        before_stop.set()
        watcher_stop.set()
        watcher.join(timeout=30)
    assert server.process.poll() is None, "the server died during the outage"

    failed = [(code, body) for _sent, code, body in during_answers if code != 201]
    assert failed, "the outage was not noticed by any write"
    for code, body in failed:
        assert code == 503, (code, body)  # answered, not hung up on: ServiceUnavailable
        assert body is not None and body["kind"] == "Status" and body["code"] == code, body
        assert "Traceback" not in body["message"]
    assert any(code not in (200, 0) for code in readyz_codes), readyz_codes  # /readyz said not ready

    # No event lost: the watcher has every committed change of the namespace, once, in order.
    log = _namespace_log(database, namespace)
    acked = set(before.acked) | {f"after-{i}" for i in range(10)}
    assert acked <= {row.name for row in log}
    assert [(t, n, rv) for t, n, rv, _ in watcher.events] == [(r.type, r.name, r.rv) for r in log]
    codes: dict[str, int] = {}
    for _sent, code, _body in during_answers:
        codes[str(code)] = codes.get(str(code), 0) + 1
    record_property("postgresql_outage", {"outages": outages, "answers_during": codes,
                                          "watch_events": len(watcher.events), "watch_resumes": watcher.resumes})
    print(f"\npostgresql outage x{outages}: answers during {codes}; /readyz codes {sorted(set(readyz_codes))}; "
          f"watcher saw {len(watcher.events)} events once each over {watcher.resumes} streams "
          f"({watcher.errors} ended by an ERROR event)")


def test_postgresql_outage_is_503_with_retry_after(own_postgres):
    """kube-apiserver's answer when its storage is unreachable: 503 ServiceUnavailable with
    Retry-After, in words a client can act on."""
    pg, _database, server = own_postgres
    session = server.session()
    pg.stop()
    try:
        response = session.post(f"{server.url}{GROUP_VERSION}/namespaces/x/queries", json=query("q"), timeout=30)
    finally:
        pg.start()
        session.close()
    assert response.status_code == 503
    assert response.headers.get("Retry-After")
    status = response.json()
    assert status["reason"] == "ServiceUnavailable" and "OperationalError" not in status["message"]


# SQLite: a foreign process holds the write lock ----------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
print("released", flush=True)
"""


@pytest.fixture
def sqlite_server(tmp_path_factory):
    with fresh_database("sqlite", tmp_path_factory) as database:
        server = start_server(database, tmp_path_factory.mktemp("locked"), workers=2)
        create_namespace(server, "locked")
        yield database, server
        stop_server(server)


def _hold_lock(database, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, database.settings.sqlite_path, str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_sqlite_lock_held_by_another_process(sqlite_server):
    database, server = sqlite_server
    session = server.session()
    url = f"{server.url}{GROUP_VERSION}/namespaces/locked/queries"
    assert session.post(url, json=query("existing")).status_code == 201
    holder = _hold_lock(database, 3)
    try:
        # Readers are answered while the lock is held (WAL: readers never wait for the writer).
        for _ in range(10):
            assert session.get(f"{url}/existing", timeout=30).status_code == 200
            assert session.get(url, timeout=30).status_code == 200
        # A write waits for the lock (up to the busy timeout) and then succeeds.
        response = session.post(url, json=query("waited"), timeout=60)
        assert response.status_code == 201, response.text
        assert holder.wait(timeout=30) == 0
        assert holder.stdout.readline().strip() == "released"
    finally:
        holder.kill()
        holder.wait()
    assert [i["metadata"]["name"] for i in session.get(url).json()["items"]] == ["existing", "waited"]
    session.close()


def _connections_in_use(server) -> float:
    with server.session() as session:
        text = session.get(server.url + "/metrics", headers={"Connection": "close"}, timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "ark_storage_pool_connections" and sample.labels.get("state") == "in_use")


@pytest.fixture
def sqlite_one_worker(tmp_path_factory):
    with fresh_database("sqlite", tmp_path_factory) as database:
        server = start_server(database, tmp_path_factory.mktemp("locked-1"), workers=1)
        create_namespace(server, "locked")
        yield database, server
        stop_server(server)


def test_a_write_waiting_for_the_lock_does_not_stall_its_worker(sqlite_one_worker):
    """While one worker's write waits for another process's lock, that same worker (the only
    one) answers reads: the wait yields to the other greenlets instead of sleeping in SQLite."""
    database, server = sqlite_one_worker
    session = server.session()
    url = f"{server.url}{GROUP_VERSION}/namespaces/locked/queries"
    assert session.post(url, json=query("existing")).status_code == 201
    holder = _hold_lock(database, 5)
    writer = server.session()
    answers: list[requests.Response] = []
    thread = threading.Thread(target=lambda: answers.append(writer.post(url, json=query("waited"), timeout=60)))
    try:
        thread.start()
        while _connections_in_use(server) < 1:  # the write holds its connection while it waits
            time.sleep(0.01)
        for _ in range(10):
            assert session.get(f"{url}/existing", timeout=30).status_code == 200
            assert session.get(url, timeout=30).status_code == 200
        assert not answers and holder.poll() is None, "the reads were answered while the write waited"
        thread.join(60)
        assert answers[0].status_code == 201, answers[0].text
    finally:
        holder.kill()
        holder.wait()
        thread.join(60)
        writer.close()
        session.close()


@pytest.mark.soak
def test_sqlite_lock_held_past_the_busy_timeout_fails_the_write_cleanly(sqlite_server):
    """Held longer than the 10 s busy timeout: the write fails with a Status (5xx), nothing is
    half-written, and writes succeed again once the lock is released."""
    database, server = sqlite_server
    session = server.session()
    url = f"{server.url}{GROUP_VERSION}/namespaces/locked/queries"
    holder = _hold_lock(database, 14)
    try:
        response = session.post(url, json=query("refused"), timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert response.status_code >= 500
    status = response.json()
    assert status["kind"] == "Status" and "Traceback" not in status["message"]
    assert session.get(f"{url}/refused").status_code == 404
    assert session.post(url, json=query("later"), timeout=60).status_code == 201
    session.close()
