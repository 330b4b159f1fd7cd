"""The 410 paths (issue 3): resuming below the compaction floor, and watchers that fall behind.

``compacting_server`` has its own database, keeps history for 0.5 s (no minimum), compacts
every 0.5 s, and gives each watcher a queue of 8 events.
"""
from __future__ import annotations

import time

from watchkit import (
    Stream,
    client_session,
    collection,
    create,
    dechunk,
    list_rv,
    merge_patch,
    open_raw_watch,
    read_available,
    revisions,
)

BIG = 256 * 1024
OVERFLOWED = "fell more than 8 events behind"  # the server's log line when a watcher overflows
CUT_OFF = "did not read its 410 within 8s"  # ... and when it closes the connection of one that never read


def _wait_for_floor(database, above: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, floor = revisions(database)
        if floor > above:
            return floor
        time.sleep(0.1)
    raise AssertionError(f"history was not compacted past {above} within {timeout}s: {revisions(database)}")


def test_resume_below_the_compaction_floor_gets_one_410_event(compacting_server, own_database, namespace):
    with client_session(compacting_server) as session:
        old = int(create(session, compacting_server.url, namespace, "q1")["metadata"]["resourceVersion"])
        for name in ("q2", "q3", "q4"):
            create(session, compacting_server.url, namespace, name)
        floor = _wait_for_floor(own_database, old + 1)
        url = collection(compacting_server.url, namespace)
        stream = Stream(session, url, {"watch": "true", "resourceVersion": str(old)})
        try:
            assert stream.status == 200  # as kube-apiserver: a 200, then one ERROR event, then the end
            assert stream.wait_end(30)
            assert [e["type"] for e in stream.events] == ["ERROR"]
            status = stream.events[0]["object"]
            assert status["kind"] == "Status" and status["apiVersion"] == "v1"
            assert (status["code"], status["reason"], status["status"]) == (410, "Expired", "Failure")
            assert status["message"].startswith(f"too old resource version: {old} (")
            assert int(status["message"].rsplit("(", 1)[1].rstrip(")")) >= floor
        finally:
            stream.close()

        # From the current revision (never below the floor) the watch works, however hard compaction runs.
        current = list_rv(session, compacting_server.url, namespace)
        _wait_for_floor(own_database, current - 1)
        live = Stream(session, url, {"watch": "true", "resourceVersion": str(current)})
        try:
            created = create(session, compacting_server.url, namespace, "q5")
            assert live.wait_count(1, 10)
            assert live.changes() == [("ADDED", "q5", int(created["metadata"]["resourceVersion"]))]
        finally:
            live.close()


def test_watchers_that_fall_behind_get_410_or_are_cut_off(compacting_server, namespace):
    """Two watchers that stop reading while large events pour in (queues of 8): the one that
    reads again within the grace period gets its events, then one 410 ERROR event and the end of
    the stream; the one that never reads is disconnected by the server after the grace period.
    The reader wakes on the server's own log line, so how fast the machine is never matters."""
    current = list_rv_fresh(compacting_server, namespace)
    path = f"/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries?watch=true&resourceVersion={current}" \
           "&timeoutSeconds=300"
    ca = str(compacting_server.ca_file)
    log = compacting_server.log.read_text()
    overflows_before, cut_off_before = log.count(OVERFLOWED), log.count(CUT_OFF)
    slow = open_raw_watch(compacting_server.url, ca, path, receive_buffer=32 * 1024)
    stuck = open_raw_watch(compacting_server.url, ca, path, receive_buffer=32 * 1024)
    writes = 40
    with client_session(compacting_server) as session:
        create(session, compacting_server.url, namespace, "big")
        for index in range(writes):
            response = merge_patch(session, compacting_server.url, namespace, "big",
                                   {"spec": {"input": f"{index:04d}" + "x" * BIG}})
            assert response.status_code == 200, response.text
            if compacting_server.log.read_text().count(OVERFLOWED) >= overflows_before + 2:
                break
    assert _wait_for_log(compacting_server, OVERFLOWED, overflows_before + 2), "neither watcher overflowed"

    data, closed = read_available(slow, timeout=2)
    events, complete = dechunk(data)
    slow.close()
    types = [e["type"] for e in events]
    assert types[-1] == "ERROR", types
    assert complete, "the stream should end properly after the ERROR event"
    status = events[-1]["object"]
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert "fell too far behind" in status["message"]
    received = [e for e in events if e["type"] in ("ADDED", "MODIFIED")]
    assert 1 <= len(received) < writes + 1
    # What did arrive is in order and without gaps until the overflow.
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in received]
    assert revs == list(range(revs[0], revs[0] + len(revs)))

    assert _wait_for_log(compacting_server, CUT_OFF, cut_off_before + 1, timeout=60)
    data, closed = read_available(stuck, timeout=10)
    stuck.close()
    events, complete = dechunk(data)
    assert closed, "the server should have closed the connection of a watcher that never read"
    assert not complete and all(e["type"] != "ERROR" for e in events)
    assert len([e for e in events if e["type"] in ("ADDED", "MODIFIED")]) < writes + 1


def _wait_for_log(server, text: str, count: int, timeout: float = 30) -> bool:
    """Wait (bounded) until the server's log has ``text`` at least ``count`` times."""
    deadline = time.monotonic() + timeout
    while server.log.read_text().count(text) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def list_rv_fresh(server, namespace: str) -> int:
    with client_session(server) as session:
        return list_rv(session, server.url, namespace)
