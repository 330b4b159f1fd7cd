"""PostgreSQL listener resilience (issue 3, scope 7): the LISTEN backends are terminated with
``pg_terminate_backend`` in the middle of a write stream; every watcher still receives every
event, in order, and the feeds reconnect (and say so in the log)."""
from __future__ import annotations

import time
import uuid

import psycopg2
import pytest
from watchkit import Stream, Timeline, Writer, client_session, collection, list_rv

from tests.conftest import POSTGRES

LISTENERS = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN%%'"


def _admin_connection(database):
    connection = psycopg2.connect(dbname=database.settings.postgres_db, connect_timeout=5, **POSTGRES)
    connection.autocommit = True
    return connection


def _listeners(cursor, database) -> list[int]:
    cursor.execute(LISTENERS, (database.settings.postgres_db,))
    return [pid for (pid,) in cursor.fetchall()]


def test_terminated_listener_loses_no_event(server, namespace, database):
    if database.driver != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    run = uuid.uuid4().hex[:8]
    sessions = [client_session(server) for _ in range(2)]
    streams: list[Stream] = []
    admin = _admin_connection(database)
    try:
        start = list_rv(sessions[0], server.url, namespace)
        # Enough watchers that both workers of the server very likely hold some.
        for index in range(6):
            params = {"watch": "true", "resourceVersion": str(start)}
            if index % 2:
                params["labelSelector"] = "team=a"
            streams.append(Stream(client_session(server), collection(server.url, namespace), params, label=f"w{index}"))
        with admin.cursor() as cursor:
            deadline = time.monotonic() + 10
            while len(_listeners(cursor, database)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(_listeners(cursor, database)) >= 2, "each worker's feed should hold a LISTEN connection"

            writer = Writer(sessions, [server.url, server.url], namespace, [f"q-{i}" for i in range(6)], 150, seed=7,
                            run_label=run, pause=0.01)
            writer.start()
            terminated: list[int] = []
            for _ in range(3):  # three rounds: kill every listener, let them come back, kill again
                time.sleep(0.4)
                pids = _listeners(cursor, database)
                for pid in pids:
                    cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
                terminated += pids
            writer.join(60)
            assert not writer.is_alive() and writer.failure is None, writer.failure
            assert terminated, "no listener was found to terminate"

            # The feeds reconnect (backoff starts at 0.5 s) with new backends.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                back = _listeners(cursor, database)
                if len(back) >= 2 and not set(back) & set(terminated):
                    break
                time.sleep(0.2)
            assert len(back) >= 2 and not set(back) & set(terminated), (back, terminated)

        final = list_rv(sessions[0], server.url, namespace)
        timeline = Timeline(writer.acks)
        assert len(writer.acks) >= 40
        for index, stream in enumerate(streams):
            selector = (lambda labels: labels.get("team") == "a") if index % 2 else None

            def problems(s: Stream = stream, selector=selector) -> list[str]:
                return timeline.check([e for e in s.changes_with_uids() if e[2] <= final], start, selector=selector)

            stream.wait(lambda _events, p=problems: not p(), 20)
            time.sleep(0.2)
            assert not problems(), (stream.label, problems())
            assert stream.error is None and not stream.ended
        log = server.log.read_text()
        assert "LISTEN connection lost" in log and "LISTEN connection re-established" in log
    finally:
        admin.close()
        for stream in streams:
            stream.close()
        for session in sessions:
            session.close()
