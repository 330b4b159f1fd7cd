"""Servers for the watch tests, beside the session's ``server`` (2 workers):

* ``replica``: a second server (2 more workers) on the same database, for cross-replica fan-out;
* ``short_server``: same database, BOOKMARKs every second and watches that end after 1.5-3 s
  when the client gives no timeoutSeconds (so clients' resume logic runs);
* ``compacting_server``: its own fresh database, history kept 0.5 s and compacted every 0.5 s,
  queues of 8 events per watcher and 8 s for an overflowed watcher to read its 410 (the 410
  paths: long enough that a reader woken by the server's own log line always makes it).
"""
from __future__ import annotations

import pytest
from watchkit import client_session

from tests.conftest import fresh_database, start_server, stop_server


@pytest.fixture
def api(server):
    """The session server's API, without keep-alive (see ``watchkit.client_session``)."""
    with client_session(server) as api_session:
        yield api_session


@pytest.fixture(scope="module")
def replica(database, tmp_path_factory):
    srv = start_server(database, tmp_path_factory.mktemp(f"replica-{database.driver}"), workers=2)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def short_server(database, tmp_path_factory):
    srv = start_server(database, tmp_path_factory.mktemp(f"short-{database.driver}"), workers=2,
                       extra=["--bookmark-interval", "1", "--watch-timeout", "1.5"])
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def own_database(database, tmp_path_factory):
    """A new database of the session's kind (its compaction cannot disturb other tests)."""
    with fresh_database(database.driver, tmp_path_factory) as db:
        yield db


@pytest.fixture(scope="module")
def compacting_server(own_database, tmp_path_factory):
    srv = start_server(own_database, tmp_path_factory.mktemp(f"compacting-{own_database.driver}"), workers=2,
                       extra=["--history-retention", "0.5", "--history-min-revisions", "0",
                              "--history-compaction-interval", "0.5", "--watch-queue-size", "8",
                              "--watch-overflow-grace", "8"])
    yield srv
    stop_server(srv)

