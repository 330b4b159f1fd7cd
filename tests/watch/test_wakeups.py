"""SQLite's cross-process wake-ups (``ark.storage.wakeup``): a commit in one process reaches the
watches of another at once, not at the next poll. Proven with a poll interval far longer than
the test waits, so only the wake-up can deliver the event."""
from __future__ import annotations

import os

import pytest
from watchkit import Stream, client_session, collection, create, list_rv

from ark.storage.wakeup import Wakeups
from tests.conftest import fresh_database, start_server, stop_server
from tests.harness import create_namespace

POLL = "600"  # seconds: the poll cannot deliver anything while these tests wait
WAIT = 60.0


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    """Two one-worker servers on one SQLite file: every write on one is another process's to hear of."""
    with fresh_database("sqlite", tmp_path_factory) as database:
        servers = [start_server(database, tmp_path_factory.mktemp(f"wake-{index}"), workers=1,
                                extra=["--watch-poll-interval", POLL]) for index in range(2)]
        yield servers
        for server in servers:
            stop_server(server)


def test_a_commit_in_another_process_wakes_the_watch_at_once(two_servers, namespace):
    watched, writer = two_servers
    create_namespace(watched, namespace)  # one database: the other server sees it too
    with client_session(watched) as reads, client_session(writer) as writes:
        start = list_rv(reads, watched.url, namespace)
        stream = Stream(client_session(watched), collection(watched.url, namespace),
                        {"watch": "true", "resourceVersion": str(start)})
        try:
            for index in range(3):
                name = f"w-{index}"
                created = create(writes, writer.url, namespace, name)
                rv = int(created["metadata"]["resourceVersion"])
                assert stream.wait_rv(rv, WAIT), f"no event for {name} from the other process before the poll"
            assert [(kind, name) for kind, name, _ in stream.changes()] == [("ADDED", f"w-{i}") for i in range(3)]
        finally:
            stream.close()


def test_a_socket_left_by_a_killed_process_is_removed_by_the_next_send(tmp_path):
    """A worker killed with SIGKILL cannot unlink its socket: the first send to it is refused,
    and the sender removes it (the directory does not fill with dead sockets)."""
    database = str(tmp_path / "ark.db")
    alive, killed = Wakeups(database), Wakeups(database)
    alive.open()
    killed.open()
    left_behind = killed.path
    assert left_behind is not None
    killed._receiver.close()  # the process is gone: nobody reads the socket, its file stays
    try:
        alive.send(7)
        assert not left_behind.exists()
        assert os.listdir(alive.directory) == [alive.path.name]
    finally:
        alive.close()
