"""Watch semantics over a real server, on each database (issue 3, scope 1-4; CONTRACT 6, 7, 8)."""
from __future__ import annotations

import threading
import time

import pytest
from watchkit import Stream, client_session, collection, create, delete, list_rv, merge_patch, revisions

from tests.harness import create_namespace

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io," \
        "application/json"
PARTIAL = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," \
          "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
WATCH_LIST = {"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "allowWatchBookmarks": "true"}


@pytest.fixture
def streams():
    opened: list[Stream] = []
    yield opened
    for stream in opened:
        stream.close()


def watch(streams, api, url, **params) -> Stream:
    headers = params.pop("headers", None)
    stream = Stream(api, url, {"watch": "true", **params}, headers)
    streams.append(stream)
    return stream


# Scope 1: namespaced, all-namespaces, one object, selectors -------------------------------------

def test_namespaced_watch_sees_added_modified_deleted(api, server, namespace, streams):
    rv = list_rv(api, server.url, namespace)
    stream = watch(streams, api, collection(server.url, namespace), resourceVersion=str(rv))
    assert stream.status == 200
    created = create(api, server.url, namespace, "q1")
    patched = merge_patch(api, server.url, namespace, "q1", {"spec": {"input": "changed"}}).json()
    deleted = delete(api, server.url, namespace, "q1")
    assert deleted.status_code == 200, deleted.text
    assert stream.wait_count(3, 10), stream.events
    assert stream.changes() == [
        ("ADDED", "q1", int(created["metadata"]["resourceVersion"])),
        ("MODIFIED", "q1", int(patched["metadata"]["resourceVersion"])),
        ("DELETED", "q1", int(patched["metadata"]["resourceVersion"]) + 1),
    ]
    modified = stream.events[1]["object"]
    assert modified["apiVersion"] == "ark.mckinsey.com/v1alpha1" and modified["kind"] == "Query"
    assert modified["spec"]["input"] == "changed"
    assert stream.events[2]["object"]["metadata"]["name"] == "q1"


def test_all_namespaces_watch_sees_every_namespace(api, server, namespace, streams):
    other = namespace + "-b"
    create_namespace(server, other)
    rv = list_rv(api, server.url, None)
    stream = watch(streams, api, collection(server.url, None), resourceVersion=str(rv))
    one = create(api, server.url, namespace, "q1")
    two = create(api, server.url, other, "q1")
    wanted = {(namespace, int(one["metadata"]["resourceVersion"])), (other, int(two["metadata"]["resourceVersion"]))}

    def seen(events):
        return wanted <= {(e["object"]["metadata"].get("namespace"), int(e["object"]["metadata"]["resourceVersion"]))
                          for e in events if e["type"] == "ADDED"}

    assert stream.wait(seen, 10), stream.events


def test_field_selector_watches_one_object(api, server, namespace, streams):
    rv = list_rv(api, server.url, namespace)
    stream = watch(streams, api, collection(server.url, namespace), resourceVersion=str(rv),
                   fieldSelector="metadata.name=q2")
    create(api, server.url, namespace, "q1")
    two = create(api, server.url, namespace, "q2")
    merge_patch(api, server.url, namespace, "q1", {"spec": {"input": "x"}})
    last = merge_patch(api, server.url, namespace, "q2", {"spec": {"input": "y"}}).json()
    assert stream.wait_count(2, 10)
    time.sleep(0.3)
    assert stream.changes() == [("ADDED", "q2", int(two["metadata"]["resourceVersion"])),
                                ("MODIFIED", "q2", int(last["metadata"]["resourceVersion"]))]


def test_label_selector_turns_transitions_into_added_and_deleted(api, server, namespace, streams):
    rv = list_rv(api, server.url, namespace)
    stream = watch(streams, api, collection(server.url, namespace), resourceVersion=str(rv), labelSelector="team=a")
    q1 = create(api, server.url, namespace, "q1", {"team": "a"})
    create(api, server.url, namespace, "q2", {"team": "b"})  # never matched: nothing
    q2_in = merge_patch(api, server.url, namespace, "q2", {"metadata": {"labels": {"team": "a"}}}).json()
    q1_out = merge_patch(api, server.url, namespace, "q1", {"metadata": {"labels": {"team": "b"}}}).json()
    merge_patch(api, server.url, namespace, "q1", {"spec": {"input": "not seen"}})  # no longer matches
    q2_mod = merge_patch(api, server.url, namespace, "q2", {"spec": {"input": "seen"}}).json()
    q2_del = delete(api, server.url, namespace, "q2")
    assert q2_del.status_code == 200
    q2_gone = int(q2_mod["metadata"]["resourceVersion"]) + 1
    assert stream.wait_count(5, 10), stream.events
    time.sleep(0.3)
    assert stream.changes() == [
        ("ADDED", "q1", int(q1["metadata"]["resourceVersion"])),
        ("ADDED", "q2", int(q2_in["metadata"]["resourceVersion"])),
        ("DELETED", "q1", int(q1_out["metadata"]["resourceVersion"])),
        ("MODIFIED", "q2", int(q2_mod["metadata"]["resourceVersion"])),
        ("DELETED", "q2", q2_gone),
    ]
    # The DELETED of an object that stopped matching carries its previous content at the event's revision.
    left = stream.events[2]["object"]
    assert left["metadata"]["labels"] == {"team": "a"}
    assert left["metadata"]["resourceVersion"] == q1_out["metadata"]["resourceVersion"]


def test_set_based_selector_matches_objects_without_the_label(api, server, namespace, streams):
    rv = list_rv(api, server.url, namespace)
    stream = watch(streams, api, collection(server.url, namespace), resourceVersion=str(rv),
                   labelSelector="team notin (b)")
    bare = create(api, server.url, namespace, "bare")
    create(api, server.url, namespace, "bee", {"team": "b"})
    joined = merge_patch(api, server.url, namespace, "bare", {"metadata": {"labels": {"team": "b"}}}).json()
    assert stream.wait_count(2, 10)
    time.sleep(0.3)
    assert stream.changes() == [("ADDED", "bare", int(bare["metadata"]["resourceVersion"])),
                                ("DELETED", "bare", int(joined["metadata"]["resourceVersion"]))]


# Scope 2: resourceVersion -------------------------------------------------------------------

@pytest.mark.parametrize("rv", ["", "0"])
def test_unset_or_zero_resource_version_starts_with_the_current_state(api, server, namespace, streams, rv):
    one = create(api, server.url, namespace, "q1")
    two = create(api, server.url, namespace, "q2")
    params = {"resourceVersion": rv} if rv else {}
    stream = watch(streams, api, collection(server.url, namespace), **params)
    assert stream.wait_count(2, 10)
    later = create(api, server.url, namespace, "q3")
    assert stream.wait_count(3, 10)
    time.sleep(0.3)
    assert stream.changes() == [("ADDED", "q1", int(one["metadata"]["resourceVersion"])),
                                ("ADDED", "q2", int(two["metadata"]["resourceVersion"])),
                                ("ADDED", "q3", int(later["metadata"]["resourceVersion"]))]


def test_resource_version_n_sends_only_the_changes_after_n(api, server, namespace, streams):
    one = create(api, server.url, namespace, "q1")
    two = create(api, server.url, namespace, "q2")
    three = merge_patch(api, server.url, namespace, "q1", {"spec": {"input": "x"}}).json()
    stream = watch(streams, api, collection(server.url, namespace), resourceVersion=one["metadata"]["resourceVersion"])
    assert stream.wait_count(2, 10)
    time.sleep(0.3)
    assert stream.changes() == [("ADDED", "q2", int(two["metadata"]["resourceVersion"])),
                                ("MODIFIED", "q1", int(three["metadata"]["resourceVersion"]))]


def test_too_new_resource_version_waits_three_seconds_then_504(api, server, namespace):
    current, _ = revisions(server.database)
    started = time.monotonic()
    response = api.get(collection(server.url, namespace),
                       params={"watch": "true", "resourceVersion": str(current + 100000)}, timeout=30)
    waited = time.monotonic() - started
    assert response.status_code == 504, response.text
    status = response.json()
    assert status["kind"] == "Status" and status["reason"] == "Timeout"
    assert "Too large resource version" in status["message"]
    assert waited >= 2.5  # it waited for the revision (about 3 s) before answering


def test_slightly_new_resource_version_is_served_once_reached(api, server, namespace, streams):
    current = list_rv(api, server.url, namespace)
    holder: list[Stream] = []
    opener = threading.Thread(target=lambda: holder.append(
        Stream(client_session(server), collection(server.url, namespace),
               {"watch": "true", "resourceVersion": str(current + 1)})))
    opener.start()
    time.sleep(0.5)
    create(api, server.url, namespace, "q1")
    second = create(api, server.url, namespace, "q2")
    opener.join(10)
    assert holder, "the watch did not answer"
    streams.extend(holder)
    stream = holder[0]
    assert stream.status == 200
    assert stream.wait_count(1, 10)
    time.sleep(0.3)
    # Everything *after* current+1 (the create of q1 is that revision, or an earlier one).
    assert ("ADDED", "q2", int(second["metadata"]["resourceVersion"])) in stream.changes()
    assert all(rv > current + 1 for _, _, rv in stream.changes())


@pytest.mark.parametrize("rv", ["abc", "-1", "1.5"])
def test_invalid_resource_version_is_400(api, server, namespace, rv):
    response = api.get(collection(server.url, namespace), params={"watch": "true", "resourceVersion": rv}, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == "BadRequest"


@pytest.mark.parametrize("params", [
    {"sendInitialEvents": "true"},
    {"resourceVersionMatch": "NotOlderThan"},
    {"sendInitialEvents": "true", "resourceVersionMatch": "Exact"},
])
def test_watch_list_options_are_validated(api, server, namespace, params):
    response = api.get(collection(server.url, namespace), params={"watch": "true", **params}, timeout=10)
    assert response.status_code == 422, response.text
    assert response.json()["reason"] == "Invalid"


def test_send_initial_events_false_starts_at_the_most_recent(api, server, namespace, streams):
    create(api, server.url, namespace, "old")
    stream = watch(streams, api, collection(server.url, namespace), sendInitialEvents="false",
                   resourceVersionMatch="NotOlderThan")
    time.sleep(0.3)
    new = create(api, server.url, namespace, "new")
    assert stream.wait_count(1, 10)
    time.sleep(0.3)
    assert stream.changes() == [("ADDED", "new", int(new["metadata"]["resourceVersion"]))]


# Scope 3: bookmarks, timeoutSeconds, watch-list ----------------------------------------------

def test_watch_list_ends_initial_events_with_the_bookmark(api, server, namespace, streams):
    one = create(api, server.url, namespace, "q1")
    two = create(api, server.url, namespace, "q2", {"team": "a"})
    stream = watch(streams, api, collection(server.url, namespace), **{**WATCH_LIST, "watch": "true"})
    assert stream.wait(lambda events: any(e["type"] == "BOOKMARK" for e in events), 10)
    end = stream.events[2]
    assert stream.types()[:3] == ["ADDED", "ADDED", "BOOKMARK"]
    assert {e["object"]["metadata"]["name"] for e in stream.events[:2]} == {"q1", "q2"}
    assert end["object"]["kind"] == "Query" and end["object"]["apiVersion"] == "ark.mckinsey.com/v1alpha1"
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    snapshot = int(end["object"]["metadata"]["resourceVersion"])
    assert snapshot >= int(two["metadata"]["resourceVersion"]) >= int(one["metadata"]["resourceVersion"])
    three = create(api, server.url, namespace, "q3")
    assert stream.wait_count(4, 10)
    assert stream.changes()[-1] == ("ADDED", "q3", int(three["metadata"]["resourceVersion"]))


def test_watch_list_from_a_revision_with_a_selector(api, server, namespace, streams):
    create(api, server.url, namespace, "q1", {"team": "a"})
    create(api, server.url, namespace, "q2", {"team": "b"})
    rv = list_rv(api, server.url, namespace)
    stream = watch(streams, api, collection(server.url, namespace), **WATCH_LIST, resourceVersion=str(rv),
                   labelSelector="team=a")
    assert stream.wait(lambda events: any(e["type"] == "BOOKMARK" for e in events), 10)
    assert [(t, n) for t, n, _ in stream.changes()] == [("ADDED", "q1")]
    assert int(stream.events[-1]["object"]["metadata"]["resourceVersion"]) >= rv


def test_periodic_bookmarks_carry_the_current_revision(short_server, namespace, streams):
    with client_session(short_server) as session:
        _periodic_bookmarks(session, short_server, namespace, streams)


def _periodic_bookmarks(session, short_server, namespace, streams):
    rv = list_rv(session, short_server.url, namespace)
    stream = watch(streams, session, collection(short_server.url, namespace), resourceVersion=str(rv),
                   allowWatchBookmarks="true", timeoutSeconds="30")
    assert stream.wait(lambda events: sum(e["type"] == "BOOKMARK" for e in events) >= 1, 5)
    created = create(session, short_server.url, namespace, "q1")
    assert stream.wait(lambda events: any(e["type"] == "BOOKMARK" and int(e["object"]["metadata"]["resourceVersion"])
                                          >= int(created["metadata"]["resourceVersion"]) for e in events), 5)
    bookmarks = [e for e in stream.events if e["type"] == "BOOKMARK"]
    assert all(set(b["object"]["metadata"]) == {"resourceVersion"} for b in bookmarks)
    assert all(b["object"]["kind"] == "Query" for b in bookmarks)
    revisions_seen = [int(b["object"]["metadata"]["resourceVersion"]) for b in bookmarks]
    assert revisions_seen == sorted(revisions_seen)
    # Without allowWatchBookmarks there are none.
    quiet = watch(streams, session, collection(short_server.url, namespace), resourceVersion=str(rv),
                  timeoutSeconds="2")
    assert quiet.wait_end(6)
    assert quiet.types() == ["ADDED"]


def test_timeout_seconds_ends_the_stream(api, server, namespace, streams):
    started = time.monotonic()
    stream = watch(streams, api, collection(server.url, namespace), timeoutSeconds="1")
    assert stream.wait_end(30)
    assert time.monotonic() - started >= 0.9  # it ended because of the timeout, not at once
    assert stream.error is None and stream.events == []


# Scope 4: Table and PartialObjectMetadata ------------------------------------------------------

def test_table_watch_sends_column_definitions_only_first(api, server, namespace, streams):
    create(api, server.url, namespace, "q1")
    stream = watch(streams, api, collection(server.url, namespace), headers={"Accept": TABLE})
    assert stream.wait_count(1, 10)
    create(api, server.url, namespace, "q2")
    merge_patch(api, server.url, namespace, "q2", {"status": {"phase": "done"}}, "/status")
    assert stream.wait_count(3, 10)
    first, second, third = stream.events[:3]
    assert [e["type"] for e in (first, second, third)] == ["ADDED", "ADDED", "MODIFIED"]
    for event in (first, second, third):
        assert event["object"]["kind"] == "Table" and event["object"]["apiVersion"] == "meta.k8s.io/v1"
        assert len(event["object"]["rows"]) == 1
        assert event["object"]["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert first["object"]["columnDefinitions"][0]["name"] == "Name"
    assert "Phase" in [c["name"] for c in first["object"]["columnDefinitions"]]
    assert second["object"]["columnDefinitions"] is None and third["object"]["columnDefinitions"] is None
    assert [e["object"]["rows"][0]["cells"][0] for e in (first, second, third)] == ["q1", "q2", "q2"]
    phase = [c["name"] for c in first["object"]["columnDefinitions"]].index("Phase")
    assert third["object"]["rows"][0]["cells"][phase] == "done"


def test_partial_object_metadata_watch_converts_every_event(api, server, namespace, streams):
    create(api, server.url, namespace, "q1", {"a": "b"})
    stream = watch(streams, api, collection(server.url, namespace), **WATCH_LIST, headers={"Accept": PARTIAL})
    assert stream.wait_count(2, 10)
    merge_patch(api, server.url, namespace, "q1", {"metadata": {"labels": {"a": "c"}}})
    delete(api, server.url, namespace, "q1")
    assert stream.wait_count(4, 10)
    assert stream.types()[:4] == ["ADDED", "BOOKMARK", "MODIFIED", "DELETED"]
    for event in stream.events[:4]:
        assert event["object"]["kind"] == "PartialObjectMetadata"
        assert event["object"]["apiVersion"] == "meta.k8s.io/v1"
        assert "spec" not in event["object"]
    assert stream.events[0]["object"]["metadata"]["labels"] == {"a": "b"}
    assert stream.events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert stream.events[2]["object"]["metadata"]["labels"] == {"a": "c"}


def test_table_watch_list_bookmark_is_a_table_row_with_the_annotation(api, server, namespace, streams):
    create(api, server.url, namespace, "q1")
    stream = watch(streams, api, collection(server.url, namespace), **WATCH_LIST, headers={"Accept": TABLE})
    assert stream.wait_count(2, 10)
    added, bookmark = stream.events[:2]
    assert [added["type"], bookmark["type"]] == ["ADDED", "BOOKMARK"]
    assert added["object"]["columnDefinitions"] and bookmark["object"]["columnDefinitions"] is None
    assert bookmark["object"]["kind"] == "Table"
    row_object = bookmark["object"]["rows"][0]["object"]
    assert row_object["kind"] == "PartialObjectMetadata"
    assert row_object["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert row_object["metadata"]["resourceVersion"] == bookmark["object"]["metadata"]["resourceVersion"]
