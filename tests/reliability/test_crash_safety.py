"""SIGKILL during a write storm: no acknowledged write is lost, revisions never go back, and a
watcher that resumes from its last revision sees every change exactly once.

The oracle is what the writers were told: every 2xx answer is recorded with its revision and
content. After the storm (masters and workers killed at random moments, the server restarted
on the same database each time) the objects, the change log and the watcher's events are all
checked against those answers. Bounded: a few kills in ``make test``, ten under ``make soak``.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import requests
from sqlalchemy import select

from ark.storage.tables import changes, objects
from tests.conftest import Server, ca_session, create_namespace, fresh_database, start_server, stop_server
from tests.reliability.conftest import soak
from tests.reliability.faultkit import NETWORK_ERRORS, ResumingWatcher, connected, starting_revision
from tests.watch.watchkit import children

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
RESOURCE = "queries.ark.mckinsey.com"
NAMESPACE = "storm"
WRITERS = 6
NAMES_PER_WRITER = 4


class Cluster:
    """One server at a time on one database; restarted after each kill (same certificates)."""

    def __init__(self, database, workdir) -> None:
        self.database = database
        self.workdir = workdir
        self.lock = threading.Lock()
        self.server: Server = start_server(database, workdir, workers=2)
        self.restarts = 0
        self.kills: list[str] = []

    @property
    def url(self) -> str:
        with self.lock:
            return self.server.url

    def session(self) -> requests.Session:
        return ca_session(self.server.ca_file)

    def kill(self, rng: random.Random) -> float:
        """SIGKILL the master and its workers (restart), or one worker (the master replaces it);
        returns when the server was serving again."""
        master = self.server.process.pid
        workers = children(master)
        if rng.random() < 0.3 and workers:
            victim = rng.choice(workers)
            os.kill(victim, signal.SIGKILL)
            self.kills.append("worker")
            return time.monotonic()
        victims = [master, *workers]
        rng.shuffle(victims)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.server.process.wait(timeout=30)
        self.kills.append("master and workers")
        with self.lock:
            self.server = start_server(self.database, self.workdir, workers=2)
        self.restarts += 1
        return time.monotonic()


@dataclass
class Ledger:
    """What one name's writer attempted and what the server acknowledged, in order."""

    attempted: list[str] = field(default_factory=list)
    acked: list[tuple[str, int, float, float]] = field(default_factory=list)  # (content, rv, sent, answered)


class Writer(threading.Thread):
    """Creates its own objects, then rewrites their spec.input; sequential per name, so the
    stored content must be the last acknowledged one or a later attempt whose answer was lost."""

    def __init__(self, cluster: Cluster, index: int, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"storm-writer-{index}")
        self.cluster = cluster
        self.index = index
        self.stop = stop
        self.ledgers: dict[str, Ledger] = {f"w{index}-{k}": Ledger() for k in range(NAMES_PER_WRITER)}
        self.failure: BaseException | None = None
        self.lost_answers = 0

    def run(self) -> None:
        rng = random.Random(self.index)
        session = self.cluster.session()
        deadline = time.monotonic() + 300
        sequence = 0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                name = rng.choice(sorted(self.ledgers))
                ledger = self.ledgers[name]
                sequence += 1
                content = f"{name}:{sequence}"
                ledger.attempted.append(content)
                base = f"{self.cluster.url}{GROUP_VERSION}/namespaces/{NAMESPACE}/queries"
                sent = time.monotonic()
                try:
                    if not ledger.acked:
                        response = session.post(base, json={
                            "apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query",
                            "metadata": {"name": name},
                            "spec": {"input": content, "selector": {"matchLabels": {"app": "test"}}}}, timeout=10)
                        if response.status_code == 409:  # an earlier create whose answer was lost
                            response = self._patch(session, base, name, content)
                    else:
                        response = self._patch(session, base, name, content)
                except NETWORK_ERRORS:
                    self.lost_answers += 1
                    session.close()
                    session = self.cluster.session()
                    time.sleep(0.05)
                    continue
                if response.status_code in (200, 201):
                    body = response.json()
                    assert body["spec"]["input"] == content
                    ledger.acked.append((content, int(body["metadata"]["resourceVersion"]), sent, time.monotonic()))
                else:
                    assert response.status_code >= 500, response.text  # only a dying server may refuse
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.failure = err
        finally:
            session.close()

    @staticmethod
    def _patch(session: requests.Session, base: str, name: str, content: str) -> requests.Response:
        return session.patch(f"{base}/{name}", data=json.dumps({"spec": {"input": content}}),
                             headers={"Content-Type": "application/merge-patch+json"}, timeout=10)


def _log_and_objects(database) -> tuple[list, dict[str, dict]]:
    with connected(database) as conn:
        rows = list(conn.execute(select(changes.c.rv, changes.c.name, changes.c.type, changes.c.body).where(
            changes.c.resource == RESOURCE, changes.c.namespace == NAMESPACE).order_by(changes.c.rv)))
        live = {r.name: json.loads(r.body) for r in conn.execute(select(objects.c.name, objects.c.body).where(
            objects.c.resource == RESOURCE, objects.c.namespace == NAMESPACE))}
    return rows, live


def test_sigkill_storm_loses_no_acknowledged_write(database, tmp_path_factory, record_property):
    kills = soak(1, 10)
    rng = random.Random(11)
    with fresh_database(database.driver, tmp_path_factory) as db:
        cluster = Cluster(db, tmp_path_factory.mktemp(f"storm-{db.driver}"))
        create_namespace(cluster.server, NAMESPACE)
        stop = threading.Event()
        writers = [Writer(cluster, i, stop) for i in range(WRITERS)]
        watcher_stop = threading.Event()
        watcher = ResumingWatcher(cluster, NAMESPACE, starting_revision(cluster.server), watcher_stop)
        crashes: list[tuple[float, float]] = []  # (killed, serving again)
        try:
            watcher.start()
            for writer in writers:
                writer.start()
            for _ in range(kills):
                time.sleep(rng.uniform(0.3, 1.5))
                killed = time.monotonic()
                crashes.append((killed, cluster.kill(rng)))
            time.sleep(rng.uniform(0.3, 1.0))  # writes after the last restart
            stop.set()
            for writer in writers:
                writer.join(timeout=60)
            assert not any(w.is_alive() for w in writers)
            assert [w.failure for w in writers] == [None] * WRITERS
            rows, live = _log_and_objects(db)
            newest = rows[-1].rv
            # The watcher goes on until it has the newest revision (bounded), then stops.
            waited = time.monotonic() + 60
            while watcher.last < newest and time.monotonic() < waited and watcher.is_alive():
                time.sleep(0.1)
            watcher_stop.set()
            watcher.join(timeout=60)
        finally:
            stop.set()
            watcher_stop.set()
            stop_server(cluster.server)
        assert watcher.failure is None, watcher.failure

        ledgers = {name: ledger for w in writers for name, ledger in w.ledgers.items()}
        acked = [(name, content, rv, sent, answered) for name, ledger in ledgers.items()
                 for content, rv, sent, answered in ledger.acked]
        assert acked, "no write was acknowledged"
        by_rv = {r.rv: r for r in rows}

        # 1. Every acknowledged write is in the change log, with its content.
        for name, content, rv, _, _ in acked:
            assert rv in by_rv, (name, rv)
            assert by_rv[rv].name == name and json.loads(by_rv[rv].body)["spec"]["input"] == content

        # 2. Every object holds its last acknowledged content, or a later attempt whose answer was lost.
        for name, ledger in ledgers.items():
            if not ledger.acked:
                assert name not in live or live[name]["spec"]["input"] in ledger.attempted
                continue
            allowed = ledger.attempted[ledger.attempted.index(ledger.acked[-1][0]):]
            assert live[name]["spec"]["input"] in allowed, (name, live[name]["spec"]["input"], allowed)

        # 3. Revisions strictly increase: per writer and name in answer order, and across every
        # crash (a restarted server never hands out a revision it had already acknowledged).
        for ledger in ledgers.values():
            revisions = [rv for _, rv, _, _ in ledger.acked]
            assert revisions == sorted(set(revisions))
        for killed, serving in crashes:
            before = [rv for _, _, rv, _, answered in acked if answered < killed]
            after = [rv for _, _, rv, sent, _ in acked if sent > serving]
            assert before and after
            assert min(after) > max(before), (killed, max(before), min(after))

        # 4. The change log agrees with the objects: each live object is its name's last change.
        last_change = {}
        for row in rows:
            last_change[row.name] = row
        assert set(live) == {name for name, row in last_change.items() if row.type != "DELETED"}
        for name, obj in live.items():
            assert json.loads(last_change[name].body) == obj

        # 5. The resuming watcher saw every change exactly once, in order.
        seen = [(t, n, rv) for t, n, rv, _ in watcher.events]
        assert len(seen) == len(set(seen)), "an event was delivered twice"
        assert seen == [(r.type, r.name, r.rv) for r in rows]
        for _, _name, rv, content in watcher.events:
            assert json.loads(by_rv[rv].body)["spec"]["input"] == content

        lost = sum(w.lost_answers for w in writers)
        record_property("crash_safety", {"driver": db.driver, "kills": cluster.kills, "restarts": cluster.restarts,
                                         "acknowledged": len(acked), "lost_answers": lost, "log_rows": len(rows),
                                         "watch_events": len(seen), "watch_resumes": watcher.resumes})
        print(f"\ncrash safety [{db.driver}]: kills {cluster.kills}, {len(acked)} writes acknowledged, all found; "
              f"{lost} answers lost in crashes; {len(rows)} changes logged; watcher saw {len(seen)} events "
              f"once each over {watcher.resumes} streams")
