"""Resources under hostile load: a worker's memory settles, and closed watches give back their
file descriptors. Figures are printed (``-s``) and recorded for docs/RELIABILITY.md; the
assertions are on counts and steady state, not on time.
"""
from __future__ import annotations

import os
import time

import pytest

from tests.conftest import create_namespace, fresh_database, start_server, stop_server
from tests.reliability.conftest import soak
from tests.reliability.test_hostile_input import CASES, QUERY
from tests.watch.watchkit import children, port_of, rss_kib

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
MIB_KIB = 1024


@pytest.fixture
def one_worker_server(database, tmp_path_factory):
    with fresh_database(database.driver, tmp_path_factory) as db:
        server = start_server(db, tmp_path_factory.mktemp(f"resources-{db.driver}"), workers=1)
        yield server
        stop_server(server)


def _worker(server) -> int:
    workers = children(server.process.pid)
    assert len(workers) == 1
    return workers[0]


def _hostile_round(server, namespace: str) -> None:
    create_namespace(server, namespace)
    session = server.session()
    base = f"{server.url}{GROUP_VERSION}/namespaces/{namespace}/queries"
    session.post(base, json=QUERY, timeout=30)
    for method, suffix, kwargs, code in CASES.values():
        response = getattr(session, method)(base + suffix, timeout=60, **kwargs)
        assert response.status_code == code, (suffix, response.text[:300])
    session.close()


def test_worker_memory_settles_over_hostile_rounds(one_worker_server, record_property):
    server = one_worker_server
    worker = _worker(server)
    rounds = soak(3, 10)
    _hostile_round(server, "warm-up")
    samples = [rss_kib(worker)]
    for index in range(rounds):
        _hostile_round(server, f"round-{index}")
        samples.append(rss_kib(worker))
    mib = [round(kib / MIB_KIB, 1) for kib in samples]
    record_property("worker_rss_mib", {"driver": server.database.driver, "after_each_round": mib,
                                       "cases_per_round": len(CASES)})
    print(f"\nworker RSS [{server.database.driver}] after warm-up and each of {rounds} rounds of "
          f"{len(CASES)} hostile requests: {mib} MiB")
    # Steady state: once warmed up, further rounds add no more than a little (no leak per round).
    assert samples[-1] - samples[1] < 32 * MIB_KIB, mib
    assert _worker(server) == worker  # the worker was never killed and replaced


def _connection_fds(pid: int, port: int) -> int:
    """How many of the process's descriptors are accepted connections on the server's port
    (its database connections and listening socket are not counted)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            with open(table) as handle:
                for line in handle.read().splitlines()[1:]:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] != "0A":  # 0A: LISTEN
                        inodes.add(fields[9])
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def test_closed_watches_give_back_their_file_descriptors(one_worker_server, record_property):
    server = one_worker_server
    worker = _worker(server)
    port = port_of(server.url)
    count = soak(50, 500)
    url = f"{server.url}{GROUP_VERSION}/namespaces/fds/queries?watch=true"
    watches = []
    for _ in range(count):
        session = server.session()
        response = session.get(url, stream=True, timeout=(10, None))
        assert response.status_code == 200
        watches.append((session, response))
    held = _connection_fds(worker, port)
    assert held >= count
    closed_at = time.monotonic()
    for session, response in watches:
        response.close()
        session.close()
    deadline = closed_at + 60
    while _connection_fds(worker, port) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    released_after = time.monotonic() - closed_at
    left = _connection_fds(worker, port)
    record_property("closed_watch_fds", {"driver": server.database.driver, "watches": count, "held": held,
                                         "left": left, "seconds": round(released_after, 2)})
    print(f"\nclosed watches [{server.database.driver}]: {count} watches held {held} connection descriptors; "
          f"{left} left {released_after:.2f}s after the clients closed")
    assert left == 0
