"""The Store on both databases: revisions, atomic writes, selectors in SQL, consistent pages."""
from __future__ import annotations

import json
import threading
import time
import uuid

import psycopg2
import pytest
from sqlalchemy import select

from ark.machinery.selectors import parse_field_selector, parse_label_selector
from ark.storage.store import Compacted, Delete, KeyExists, ListQuery, Stale, StorageUnavailable, Write
from ark.storage.tables import changes, labels, objects
from tests.harness import POSTGRES

RESOURCE = "queries.ark.mckinsey.com"


def query(name: str, namespace: str = "default", **labels_) -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "labels": labels_},
            "spec": {"input": "hi"}}


def create(store, obj: dict):
    meta = obj["metadata"]
    return store.commit(RESOURCE, meta["namespace"], meta["name"], Write(obj), None)


def relabel(store, name: str, namespace: str = "default", **labels_):
    read = store.read(RESOURCE, namespace, name)
    current = read.obj()
    current["metadata"]["labels"] = labels_
    return store.commit(RESOURCE, namespace, name, Write(current), read)


def remove(store, name: str, namespace: str = "default"):
    read = store.read(RESOURCE, namespace, name)
    return store.commit(RESOURCE, namespace, name, Delete(read.obj()), read)


def names(page) -> list[str]:
    return [json.loads(body)["metadata"]["name"] for body in page.items]


def test_every_write_bumps_one_global_revision(store):
    first = create(store, query("a"))
    second = relabel(store, "a", x="1")
    third = remove(store, "a")
    assert [first.rv, second.rv, third.rv] == [1, 2, 3]
    assert [first.event, second.event, third.event] == ["ADDED", "MODIFIED", "DELETED"]
    assert json.loads(third.body)["metadata"]["resourceVersion"] == "3"
    assert store.revisions()[0] == 3


def test_stored_body_carries_its_resource_version(store):
    result = create(store, query("a"))
    assert json.loads(store.get(RESOURCE, "default", "a"))["metadata"]["resourceVersion"] == str(result.rv)


def test_a_deleted_name_can_be_created_again_at_once(store):
    create(store, query("a"))
    remove(store, "a")
    assert create(store, query("a")).event == "ADDED"


def test_a_write_of_a_stale_read_writes_nothing(store):
    """An update or delete commits only if the object still has the resourceVersion that was read."""
    create(store, query("a"))
    read = store.read(RESOURCE, "default", "a")
    relabel(store, "a", x="1")  # another writer wins
    stale = read.obj()
    stale["metadata"]["labels"] = {"y": "2"}
    for outcome in (Write(stale), Delete(read.obj())):
        with pytest.raises(Stale):
            store.commit(RESOURCE, "default", "a", outcome, read)
    assert store.revisions()[0] == 2
    assert json.loads(store.get(RESOURCE, "default", "a"))["metadata"]["labels"] == {"x": "1"}
    with store.engine.connect() as conn:
        assert conn.execute(select(changes.c.rv)).scalars().all() == [1, 2]
        assert conn.execute(select(labels.c.key)).scalars().all() == ["x"]


def test_a_write_of_a_deleted_object_is_stale(store):
    create(store, query("a"))
    read = store.read(RESOURCE, "default", "a")
    remove(store, "a")
    with pytest.raises(Stale):
        store.commit(RESOURCE, "default", "a", Write(read.obj()), read)
    assert store.get(RESOURCE, "default", "a") is None


def test_racing_creates_of_one_name_give_key_exists(store):
    """Creates of one name racing from several connections: one wins, the others get KeyExists."""
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def creator() -> None:
        start.wait()
        try:
            create(store, query("a"))
            outcomes.append("created")
        except KeyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=creator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]
    assert store.revisions()[0] == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(changes.c.rv)).scalars().all() == [1]


def test_concurrent_writers_get_revisions_in_commit_order(store):
    """Threads hammering writes: revisions are dense, unique, and the log is in commit order."""
    errors = []

    def writer(index: int) -> None:
        try:
            for n in range(15):
                create(store, query(f"w{index}-{n}"))
        except Exception as err:  # noqa: BLE001 - any failure in a writer thread is asserted on below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with store.engine.connect() as conn:
        logged = conn.execute(select(changes.c.rv).order_by(changes.c.rv)).scalars().all()
    assert logged == list(range(1, 61))
    assert store.revisions()[0] == 60


def test_labels_are_indexed_per_object_and_replaced_on_change(store):
    create(store, query("a", app="x", tier="1"))
    relabel(store, "a", app="y")
    with store.engine.connect() as conn:
        rows = conn.execute(select(labels.c.key, labels.c.value)).all()
    assert [tuple(r) for r in rows] == [("app", "y")]
    remove(store, "a")
    with store.engine.connect() as conn:
        assert conn.execute(select(labels.c.key)).all() == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c", "d"]),
        ("app in (web,db)", ["a", "b", "c"]),
        ("app notin (web)", ["c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("tier>1", ["c"]),
        ("tier<3", ["a"]),
        ("app=web,tier", ["a"]),
    ],
)
def test_label_selectors_run_in_sql(store, selector, expected):
    create(store, query("a", app="web", tier="1"))
    create(store, query("b", app="web"))
    create(store, query("c", app="db", tier="3"))
    create(store, query("d"))
    page = store.list(ListQuery(RESOURCE, "default", parse_label_selector(selector)))
    assert names(page) == expected


def test_selector_with_limit_fills_pages_from_matching_rows_only(store):
    """A filter applied after LIMIT would return short pages; ours fills each page."""
    for i in range(10):
        create(store, query(f"a{i}"))
    for i in range(3):
        create(store, query(f"m{i}", keep="yes"))
    page = store.list(ListQuery(RESOURCE, "default", parse_label_selector("keep=yes"), limit=2))
    assert names(page) == ["m0", "m1"]
    assert page.next_key == ("default", "m1")


def test_field_selectors_filter_by_name_and_namespace(store):
    create(store, query("a", "ns1"))
    create(store, query("b", "ns1"))
    create(store, query("a", "ns2"))
    by_name = store.list(ListQuery(RESOURCE, None, field_selector=parse_field_selector("metadata.name=a")))
    assert [json.loads(b)["metadata"]["namespace"] for b in by_name.items] == ["ns1", "ns2"]
    not_ns1 = store.list(ListQuery(RESOURCE, None, field_selector=parse_field_selector("metadata.namespace!=ns1")))
    assert names(not_ns1) == ["a"]


def test_later_pages_show_the_state_of_the_first_page(store):
    for name in ("a", "b", "c", "d", "e"):
        create(store, query(name, keep="yes"))
    first = store.list(ListQuery(RESOURCE, "default", limit=2))
    assert names(first) == ["a", "b"]
    remove(store, "c")  # existed at the first page's revision: still listed
    relabel(store, "d", keep="no")  # listed as it was
    create(store, query("bb"))  # created later: not listed
    rest = store.list(ListQuery(RESOURCE, "default", at_revision=first.rv, after=first.next_key))
    assert names(rest) == ["c", "d", "e"]
    assert [json.loads(b)["metadata"]["labels"]["keep"] for b in rest.items] == ["yes", "yes", "yes"]
    assert rest.rv == first.rv


def test_later_pages_apply_the_selector_to_the_historic_state(store):
    for name in ("a", "b", "c"):
        create(store, query(name, keep="yes"))
    first = store.list(ListQuery(RESOURCE, "default", parse_label_selector("keep=yes"), limit=1))
    relabel(store, "b", keep="no")
    relabel(store, "c", keep="no")
    rest = store.list(ListQuery(RESOURCE, "default", parse_label_selector("keep=yes"),
                                at_revision=first.rv, after=first.next_key))
    assert names(rest) == ["b", "c"]


def test_pages_below_the_compaction_floor_are_expired(store):
    for name in ("a", "b", "c"):
        create(store, query(name))
    first = store.list(ListQuery(RESOURCE, "default", limit=1))
    relabel(store, "b", x="1")
    relabel(store, "c", x="1")
    assert store.compact(retention_seconds=-60, keep_revisions=0) == 5
    with pytest.raises(Compacted):
        store.list(ListQuery(RESOURCE, "default", at_revision=first.rv, after=first.next_key))


def test_compaction_keeps_the_newest_revisions(store):
    for i in range(6):
        create(store, query(f"q{i}"))
    store.compact(retention_seconds=-60, keep_revisions=2)
    with store.engine.connect() as conn:
        kept = conn.execute(select(changes.c.rv).order_by(changes.c.rv)).scalars().all()
        live = conn.execute(select(objects.c.name)).scalars().all()
    assert kept == [5, 6]
    assert len(live) == 6
    assert store.revisions() == (6, 5)


def test_compaction_within_the_retention_window_keeps_everything(store):
    create(store, query("a"))
    assert store.compact(retention_seconds=900, keep_revisions=0) == 0


def _backend_pid(store) -> int:
    """The backend of the connection the pool hands out next (the one just returned)."""
    proxy = store.engine.raw_connection()
    try:
        return proxy.driver_connection.get_backend_pid()
    finally:
        proxy.close()


def _terminate(pid: int) -> None:
    """pg_terminate_backend, waiting until the backend is gone."""
    admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **POSTGRES)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            while True:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.01)
    finally:
        admin.close()


def test_a_pooled_connection_terminated_while_idle_is_replaced_without_an_error(store):
    """No pre-ping round trip: a backend that was terminated has said so on its socket, and the
    pool connects afresh before reads and writes use it."""
    if store.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL backend is terminated")
    create(store, query("a"))
    dead = _backend_pid(store)
    _terminate(dead)
    assert create(store, query("b")).rv == 2  # a write is never retried: the pool must not hand out the dead one
    assert store.read(RESOURCE, "default", "a").rv == 1
    assert _backend_pid(store) != dead


def test_a_read_whose_connection_dies_under_it_runs_once_more(store, monkeypatch):
    """The backend is terminated after the pool checked the connection, as the read runs: the
    read is retried once, on a new connection, and answers."""
    if store.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL backend is terminated")
    create(store, query("a"))
    real_read_row = store.dialect.read_row
    used: list[int] = []

    def terminated_first(dbapi, *key):
        used.append(dbapi.get_backend_pid())
        if len(used) == 1:
            _terminate(used[0])
        return real_read_row(dbapi, *key)

    monkeypatch.setattr(store.dialect, "read_row", terminated_first)
    assert store.read(RESOURCE, "default", "a").rv == 1
    assert len(used) == 2 and used[0] != used[1]


def test_a_write_whose_connection_dies_under_it_is_unavailable_not_retried(store, monkeypatch):
    """A write cut off mid-statement may or may not have committed: it is not run again (a retry
    could answer 409 for the write's own success); the caller gets StorageUnavailable (503)."""
    if store.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL backend is terminated")
    real_write_row = store.dialect.write_row
    calls: list[int] = []

    def terminated(dbapi, row):
        calls.append(1)
        _terminate(dbapi.get_backend_pid())
        return real_write_row(dbapi, row)

    monkeypatch.setattr(store.dialect, "write_row", terminated)
    with pytest.raises(StorageUnavailable):
        create(store, query("a"))
    assert calls == [1]
    monkeypatch.undo()
    assert store.get(RESOURCE, "default", "a") is None
    assert create(store, query("a")).rv == 1


def test_writes_committed_together_keep_their_own_outcomes(store):
    """SQLite's group commit: writes that queue while the write lock is held are committed by
    one transaction, each in its own savepoint: a taken name and a stale read fail alone, the
    others commit, and the revisions stay dense and in log order."""
    if not store.dialect.groups_writes:
        pytest.skip("this database does not group writes")
    create(store, query("taken"))
    create(store, query("changed"))
    stale_read = store.read(RESOURCE, "default", "changed")
    relabel(store, "changed", x="1")
    stale = stale_read.obj()
    stale["metadata"]["labels"] = {"y": "2"}
    writes = {
        "new": lambda: create(store, query("new")),
        "taken": lambda: create(store, query("taken")),
        "stale": lambda: store.commit(RESOURCE, "default", "changed", Write(stale), stale_read),
        "other": lambda: create(store, query("other")),
    }
    outcomes: dict[str, str] = {}

    def run(label: str) -> None:
        try:
            outcomes[label] = f"rv {writes[label]().rv}"
        except (KeyExists, Stale) as err:
            outcomes[label] = type(err).__name__

    with store._write_lock:  # every write queues behind it, then one of them commits them all
        threads = [threading.Thread(target=run, args=(label,)) for label in writes]
        for thread in threads:
            thread.start()
        while len(store._queue) < len(writes):
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["KeyExists", "Stale", "rv 4", "rv 5"]
    assert (outcomes["taken"], outcomes["stale"]) == ("KeyExists", "Stale")
    assert store.revisions()[0] == 5
    with store.engine.connect() as conn:
        assert conn.execute(select(changes.c.rv).order_by(changes.c.rv)).scalars().all() == [1, 2, 3, 4, 5]
        assert conn.execute(select(labels.c.key).where(labels.c.name == "changed")).scalars().all() == ["x"]
