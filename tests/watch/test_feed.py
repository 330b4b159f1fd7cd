"""The change feed and the watcher queue in-process, on each database (``store``: a database no
server uses): routing, dropping subscribers, bursts, compaction and rewind expiry."""
from __future__ import annotations

import json

import gevent

from ark.api.watch import PREVIOUS, Watcher
from ark.kinds import REGISTRY
from ark.machinery import selectors
from ark.storage.feed import Change, ChangeFeed
from ark.storage.store import Delete, Write

QUERY = REGISTRY.lookup("v1alpha1", "queries")
AGENT = REGISTRY.lookup("v1alpha1", "agents")


def _write(store, kind, namespace: str, name: str, labels: dict | None = None):
    read = store.read(kind.resource, namespace, name)
    obj = read.obj() if read else {"apiVersion": kind.api_version, "kind": kind.kind,
                                   "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"}, "spec": {}}
    obj["metadata"]["labels"] = labels or {}
    return store.commit(kind.resource, namespace, name, Write(obj), read).rv


class Recorder:
    def __init__(self, resource: str, namespace: str | None, keep: bool = True, busy: bool = False) -> None:
        self.route = (resource, namespace)
        self.got: list[int] = []
        self.keep = keep
        self.busy = busy
        self.expired: list[str] = []
        self.closed = False

    def deliver(self, change: Change) -> bool:
        self.got.append(change.rv)
        return self.keep

    def expire(self, message: str) -> None:
        self.expired.append(message)

    def close(self) -> None:
        self.closed = True


def test_changes_go_to_their_route_in_order(store):
    feed = ChangeFeed(store, poll_interval=0.1)
    one, everywhere, agents = (Recorder(QUERY.resource, "ns1"), Recorder(QUERY.resource, None),
                               Recorder(AGENT.resource, None))
    for recorder in (one, everywhere, agents):
        assert feed.subscribe(recorder) == 0
    a = _write(store, QUERY, "ns1", "a")
    b = _write(store, QUERY, "ns2", "b")
    c = _write(store, AGENT, "ns1", "c")
    d = _write(store, QUERY, "ns1", "a")
    feed.catch_up()
    assert (one.got, everywhere.got, agents.got) == ([a, d], [a, b, d], [c])
    assert feed.cursor == d
    feed.catch_up()  # nothing new: nothing twice
    assert everywhere.got == [a, b, d]


def test_a_subscriber_that_declines_or_fails_is_dropped_and_others_go_on(store):
    feed = ChangeFeed(store, poll_interval=0.1)
    declines = Recorder(QUERY.resource, None, keep=False)
    broken = Recorder(QUERY.resource, None)
    broken.deliver = lambda change: 1 / 0
    healthy = Recorder(QUERY.resource, None)
    for recorder in (declines, broken, healthy):
        feed.subscribe(recorder)
    first = _write(store, QUERY, "ns", "a")
    second = _write(store, QUERY, "ns", "b")
    feed.catch_up()
    assert declines.got == [first]
    assert healthy.got == [first, second]
    assert feed.subscriber_count == 1


def test_a_subscriber_joining_during_a_burst_gets_a_cursor_that_covers_what_it_missed(store):
    """The feed yields to busy watchers mid-batch; one that subscribes then must be given a cursor
    at the change just dispatched (it reads history up to there), never one before it."""
    feed = ChangeFeed(store, poll_interval=0.1)
    busy = Recorder(QUERY.resource, None, busy=True)
    feed.subscribe(busy)
    revisions = [_write(store, QUERY, "ns", f"q{i}") for i in range(5)]
    late = Recorder(QUERY.resource, None)
    joined: list[int] = []

    def join() -> None:
        joined.append(feed.subscribe(late))

    original = busy.deliver

    def deliver(change: Change) -> bool:
        if change.rv == revisions[1]:
            gevent.spawn(join)  # runs while the feed yields after dispatching this change
        return original(change)

    busy.deliver = deliver
    feed.catch_up()
    assert busy.got == revisions
    assert joined == [revisions[1]]
    assert late.got == revisions[2:]


def test_a_feed_behind_the_compaction_floor_expires_its_subscribers(store):
    feed = ChangeFeed(store, poll_interval=0.1)
    watcher = Recorder(QUERY.resource, None)
    feed.subscribe(watcher)
    for i in range(4):
        _write(store, QUERY, "ns", f"q{i}")
    store.compact(retention_seconds=-60, keep_revisions=1)  # keeps only the newest revision
    feed.catch_up()
    assert watcher.expired and "compaction floor" in watcher.expired[0]
    assert watcher.got == [] and feed.subscriber_count == 0
    assert feed.cursor == store.revisions()[0]


def test_a_database_that_went_back_expires_subscribers_and_is_followed_again(store):
    _write(store, QUERY, "ns", "a")
    feed = ChangeFeed(store, poll_interval=0.1)
    feed.cursor = 50  # as if the database had been restored from an older backup
    watcher = Recorder(QUERY.resource, None)
    feed.subscribe(watcher)
    feed.catch_up()
    assert watcher.expired and "went back" in watcher.expired[0]
    assert feed.cursor == store.revisions()[0]
    after = Recorder(QUERY.resource, None)
    feed.subscribe(after)
    rv = _write(store, QUERY, "ns", "b")
    feed.catch_up()
    assert after.got == [rv]


def test_close_all_ends_every_subscriber(store):
    feed = ChangeFeed(store, poll_interval=0.1)
    recorders = [Recorder(QUERY.resource, None), Recorder(AGENT.resource, "x")]
    for recorder in recorders:
        feed.subscribe(recorder)
    feed.close_all()
    assert all(r.closed for r in recorders) and feed.subscriber_count == 0


def _change(rv: int, type_: str, labels: dict, prev_labels: dict | None, name: str = "q") -> Change:
    def body(lbls):
        return json.dumps({"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv), "labels": lbls}})

    return Change(rv, QUERY.resource, "ns", name, type_, body(labels),
                  None if prev_labels is None else body(prev_labels))


def test_watcher_queue_overflow_fails_it_with_410_and_frees_the_queue():
    watcher = Watcher(QUERY, "ns", (), (), capacity=2)
    failed = []
    watcher.on_failure = lambda: failed.append(True)
    assert watcher.deliver(_change(1, "ADDED", {}, None))
    assert watcher.deliver(_change(2, "MODIFIED", {}, {}))
    assert watcher.busy
    assert not watcher.deliver(_change(3, "MODIFIED", {}, {}))
    assert watcher.failure is not None and watcher.failure.code == 410 and watcher.failure.reason == "Expired"
    assert len(watcher.queue) == 0 and failed == [True]
    assert not watcher.deliver(_change(4, "MODIFIED", {}, {}))


def test_watcher_selector_transitions():
    watcher = Watcher(QUERY, "ns", selectors.parse_label_selector("team=a"), (), capacity=10)
    assert watcher.event_for(_change(1, "ADDED", {"team": "a"}, None)) == ("ADDED", "body")
    assert watcher.event_for(_change(2, "ADDED", {"team": "b"}, None)) is None
    assert watcher.event_for(_change(3, "MODIFIED", {"team": "a"}, {"team": "b"})) == ("ADDED", "body")
    assert watcher.event_for(_change(4, "MODIFIED", {"team": "a"}, {"team": "a"})) == ("MODIFIED", "body")
    assert watcher.event_for(_change(5, "MODIFIED", {"team": "b"}, {"team": "a"})) == ("DELETED", PREVIOUS)
    assert watcher.event_for(_change(6, "MODIFIED", {"team": "b"}, {"team": "c"})) is None
    assert watcher.event_for(_change(7, "DELETED", {"team": "a"}, {"team": "a"})) == ("DELETED", "body")
    named = Watcher(QUERY, "ns", (), selectors.parse_field_selector("metadata.name=x"), capacity=10)
    assert named.deliver(_change(8, "ADDED", {}, None, name="y")) and not named.queue
    assert named.deliver(_change(9, "ADDED", {}, None, name="x")) and len(named.queue) == 1


def test_delete_outcome_reaches_the_feed_as_deleted(store):
    feed = ChangeFeed(store, poll_interval=0.1)
    seen: list[Change] = []
    recorder = Recorder(QUERY.resource, "ns")
    recorder.deliver = lambda change: seen.append(change) or True
    feed.subscribe(recorder)
    _write(store, QUERY, "ns", "a", {"x": "1"})
    read = store.read(QUERY.resource, "ns", "a")
    store.commit(QUERY.resource, "ns", "a", Delete(read.obj()), read)
    feed.catch_up()
    assert [c.type for c in seen] == ["ADDED", "DELETED"]
    assert seen[1].labels == {"x": "1"} and seen[1].prev_labels == {"x": "1"}
