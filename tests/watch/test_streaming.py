"""Streaming over gunicorn's gevent workers (issue 3, scope 5): chunked, no Content-Length,
headers at once, one flushed chunk per event; a client that goes away is noticed without a
write; thousands of idle watches are cheap."""
from __future__ import annotations

import select
import time

from watchkit import (
    Stream,
    children,
    client_session,
    collection,
    create,
    dechunk,
    list_rv,
    merge_patch,
    open_raw_watch,
    port_of,
    read_available,
    rss_kib,
    server_socket_states,
)

from tests.conftest import soak


def test_watch_response_is_chunked_and_flushed_per_event(api, server, namespace):
    rv = list_rv(api, server.url, namespace)
    stream = Stream(api, collection(server.url, namespace), {"watch": "true", "resourceVersion": str(rv)})
    try:
        # Headers come before any event: nothing has happened yet, and the response has begun.
        assert stream.status == 200
        headers = stream.response.headers
        assert headers["Content-Type"] == "application/json"
        assert headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in headers
        for index in range(3):  # each event arrives before the next write: flushed, not buffered
            create(api, server.url, namespace, f"q{index}")
            assert stream.wait_count(index + 1, 30), "an event was not flushed"
    finally:
        stream.close()


def test_each_event_is_one_chunk(server, namespace):
    with client_session(server) as session:
        rv = list_rv(session, server.url, namespace)
        sock = open_raw_watch(server.url, str(server.ca_file),
                              f"/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries?watch=true"
                              f"&resourceVersion={rv}")
        try:
            create(session, server.url, namespace, "q1")
            merge_patch(session, server.url, namespace, "q1", {"spec": {"input": "x"}})
            data = b""
            deadline = time.monotonic() + 10
            while len(dechunk(data)[0]) < 2 and time.monotonic() < deadline:
                more, closed = read_available(sock, 0.5)
                data += more
                assert not closed
        finally:
            sock.close()
    # Every chunk is exactly one event line: "<size>\r\n{...}\n\r\n".
    position, sizes = 0, []
    while position < len(data):
        end = data.index(b"\r\n", position)
        size = int(data[position:end], 16)
        payload = data[end + 2:end + 2 + size]
        assert payload.endswith(b"\n") and payload.count(b"\n") == 1, payload[:80]
        sizes.append(size)
        position = end + 2 + size + 2
    assert len(sizes) == 2


def test_a_client_that_goes_away_is_noticed_without_any_write(server, namespace):
    """Watches without bookmarks, on an idle collection: when their clients disconnect, the server
    closes its side at once (no socket is left in CLOSE_WAIT until some write fails)."""
    port = port_of(server.url)
    sessions = [client_session(server) for _ in range(12)]
    streams = []
    try:
        for index, session in enumerate(sessions):
            params = {"watch": "true"} if index % 2 else {"watch": "true", "resourceVersion": "0",
                                                          "sendInitialEvents": "false",
                                                          "resourceVersionMatch": "NotOlderThan"}
            streams.append(Stream(session, collection(server.url, namespace), params))
        assert all(s.status == 200 for s in streams)
        time.sleep(0.3)
        established = server_socket_states(port).get("ESTABLISHED", 0)
        assert established >= len(streams)
        for stream in streams:
            stream.close()
        for session in sessions:
            session.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = server_socket_states(port)
            if states.get("CLOSE_WAIT", 0) == 0 and states.get("ESTABLISHED", 0) <= established - len(streams):
                break
            time.sleep(0.1)
        assert states.get("CLOSE_WAIT", 0) == 0, states
        assert states.get("ESTABLISHED", 0) <= established - len(streams), (states, established)
    finally:
        for session in sessions:
            session.close()


IDLE_WATCHES = soak(200, 2000)


def test_thousands_of_idle_watches_are_cheap(replica, namespace):
    """Many idle watches on one server (two workers): little memory each, and one write still
    reaches every one of them. Raw TLS sockets, read with select()."""
    workers = children(replica.process.pid)
    before = sum(rss_kib(pid) for pid in workers)
    path = f"/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries?watch=true"
    socks = []
    try:
        for _ in range(IDLE_WATCHES):
            socks.append(open_raw_watch(replica.url, str(replica.ca_file), path))
        time.sleep(1.0)
        after = sum(rss_kib(pid) for pid in workers)
        per_watch = (after - before) / IDLE_WATCHES
        assert per_watch < 100, f"{per_watch:.0f} KiB per idle watch"

        with client_session(replica) as session:
            create(session, replica.url, namespace, "ping")
        pending = {sock.fileno(): sock for sock in socks}
        received: dict[int, bytes] = dict.fromkeys(pending, b"")
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            readable, _, _ = select.select(list(pending.values()), [], [], 1.0)
            for sock in readable:
                try:
                    received[sock.fileno()] += sock.recv(65536)
                except BlockingIOError:
                    continue
                if b'"name":"ping"' in received[sock.fileno()]:
                    del pending[sock.fileno()]
        assert not pending, f"{len(pending)} of {IDLE_WATCHES} watches did not get the event"
    finally:
        for sock in socks:
            sock.close()
    # And they are all released.
    port = port_of(replica.url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server_socket_states(port).get("ESTABLISHED", 0) > 5:
        time.sleep(0.2)
    assert server_socket_states(port).get("ESTABLISHED", 0) <= 5
