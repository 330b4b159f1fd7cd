"""The generic resource store on both databases, in-process: the optimistic update loop, the
strategy's hooks, dry-run and write outcomes."""
from __future__ import annotations

import dataclasses
import threading
from typing import ClassVar

import pytest

from ark.kinds import REGISTRY
from ark.machinery import field
from ark.machinery.errors import ApiError
from ark.machinery.options import DeleteOptions
from ark.registry.store import MAX_ATTEMPTS, ResourceStore, WriteContext
from ark.registry.strategy import Strategy

QUERY = REGISTRY.lookup("v1alpha1", "queries")
NS = "default"


def query(name: str, **labels: str) -> dict:
    return {"apiVersion": QUERY.api_version, "kind": "Query", "metadata": {"name": name, "labels": labels},
            "spec": {"input": "hi", "selector": {"matchLabels": {"app": "demo"}}, "timeout": "5m", "ttl": "720h",
                     "type": "user"}}


@pytest.fixture
def resources(store) -> ResourceStore:
    return ResourceStore(store)


def relabel(key: str, value: str):
    """A change that applies to whatever is current, as a patch without a resourceVersion does."""
    def transform(current: dict) -> dict:
        current["metadata"].setdefault("labels", {})[key] = value
        return current
    return transform


def test_concurrent_updates_without_a_resource_version_all_apply(resources):
    resources.create(QUERY, NS, query("q"), WriteContext())
    failures: list[BaseException] = []

    def updater(worker: int) -> None:
        try:
            for n in range(8):
                resources.update(QUERY, NS, "q", relabel(f"w{worker}-{n}", "x"), WriteContext())
        except BaseException as err:  # noqa: BLE001 - asserted below
            failures.append(err)

    threads = [threading.Thread(target=updater, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    labels = resources.lookup.get(QUERY, NS, "q")["metadata"]["labels"]
    assert sorted(labels) == sorted(f"w{w}-{n}" for w in range(4) for n in range(8))
    assert resources.current_revision() == 1 + 32


def test_a_lost_race_is_retried_from_a_fresh_read(resources):
    resources.create(QUERY, NS, query("q"), WriteContext())
    calls = []

    def racing(current: dict) -> dict:
        calls.append(current["metadata"]["resourceVersion"])
        if len(calls) == 1:  # another writer commits between our read and our write
            resources.update(QUERY, NS, "q", relabel("other", "1"), WriteContext())
        return relabel("mine", "1")(current)

    written = resources.update(QUERY, NS, "q", racing, WriteContext())
    assert calls == ["1", "2"]
    assert written.obj["metadata"]["labels"] == {"other": "1", "mine": "1"}
    assert written.obj["metadata"]["resourceVersion"] == "3"


def test_a_client_resource_version_is_a_precondition_even_across_a_retry(resources):
    resources.create(QUERY, NS, query("q"), WriteContext())
    calls = []

    def racing(current: dict) -> dict:
        calls.append(1)
        if len(calls) == 1:
            resources.update(QUERY, NS, "q", relabel("other", "1"), WriteContext())
        current["metadata"]["labels"] = {"mine": "1"}
        current["metadata"]["resourceVersion"] = "1"  # what the client read
        return current

    with pytest.raises(ApiError) as raised:
        resources.update(QUERY, NS, "q", racing, WriteContext())
    assert (raised.value.code, raised.value.reason) == (409, "Conflict")
    assert len(calls) == 2
    assert resources.lookup.get(QUERY, NS, "q")["metadata"]["labels"] == {"other": "1"}


def test_a_stale_resource_version_is_409_at_once(resources):
    resources.create(QUERY, NS, query("q"), WriteContext())
    resources.update(QUERY, NS, "q", relabel("a", "1"), WriteContext())
    stale = query("q", b="2")
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ApiError) as raised:
        resources.update(QUERY, NS, "q", lambda current: stale, WriteContext())
    assert raised.value.code == 409
    assert raised.value.message == ('Operation cannot be fulfilled on queries.ark.mckinsey.com "q": the object has '
                                    "been modified; please apply your changes to the latest version and try again")


def test_a_writer_that_always_loses_gets_409_after_bounded_retries(resources):
    resources.create(QUERY, NS, query("q"), WriteContext())
    calls = []

    def always_racing(current: dict) -> dict:
        calls.append(1)
        resources.update(QUERY, NS, "q", relabel(f"other{len(calls)}", "1"), WriteContext())
        return relabel("mine", "1")(current)

    with pytest.raises(ApiError) as raised:
        resources.update(QUERY, NS, "q", always_racing, WriteContext())
    assert raised.value.code == 409
    assert len(calls) == MAX_ATTEMPTS
    assert "mine" not in resources.lookup.get(QUERY, NS, "q")["metadata"]["labels"]


class _LookingStrategy(Strategy):
    """Admission that reads another object, and writes a third one, while an update is admitted."""

    seen: ClassVar[list[dict | None]] = []

    def rules(self, obj, old, lookup):
        target = obj["spec"].get("target")
        seen = lookup.get(QUERY, NS, target["name"]) if target else None
        type(self).seen.append(seen)
        if target and seen is None:
            return [field.not_found("spec.target.name", target["name"])]
        return []


def test_admission_reads_committed_objects_outside_any_write_lock(resources):
    kind = dataclasses.replace(QUERY, strategy_class=_LookingStrategy)
    _LookingStrategy.seen = []
    resources.create(kind, NS, query("target"), WriteContext())
    referring = query("referring")
    referring["spec"]["target"] = {"type": "agent", "name": "target"}
    resources.create(kind, NS, referring, WriteContext())

    def retarget_and_touch_target(current: dict) -> dict:
        # A write from inside the transform: it would wait forever behind a held write lock.
        resources.update(QUERY, NS, "target", relabel("touched", "yes"), WriteContext())
        current["spec"]["input"] = "again"
        return current

    resources.update(kind, NS, "referring", retarget_and_touch_target, WriteContext())
    assert _LookingStrategy.seen[-1]["metadata"]["labels"] == {"touched": "yes"}  # the committed state
    missing = query("dangling")
    missing["spec"]["target"] = {"type": "agent", "name": "nobody"}
    with pytest.raises(ApiError) as raised:
        resources.create(kind, NS, missing, WriteContext())
    assert raised.value.code == 422
    assert raised.value.status()["details"]["causes"] == [
        {"reason": "FieldValueNotFound", "message": 'Not found: "nobody"', "field": "spec.target.name"}]


def test_dry_run_admits_everything_and_writes_nothing(resources):
    before = resources.current_revision()
    written = resources.create(QUERY, NS, query("q"), WriteContext(dry_run=True))
    assert written.created and written.obj["metadata"]["uid"]
    assert resources.current_revision() == before
    assert resources.lookup.get(QUERY, NS, "q") is None
    resources.create(QUERY, NS, query("q"), WriteContext())
    after_create = resources.current_revision()
    resources.update(QUERY, NS, "q", relabel("a", "1"), WriteContext(dry_run=True))
    resources.delete(QUERY, NS, "q", DeleteOptions(dry_run=True))
    assert resources.current_revision() == after_create
    assert resources.lookup.get(QUERY, NS, "q")["metadata"]["labels"] == {}


def test_a_dry_run_create_of_a_taken_name_is_409(resources):
    resources.create(QUERY, NS, query("q"), WriteContext())
    with pytest.raises(ApiError) as raised:
        resources.create(QUERY, NS, query("q"), WriteContext(dry_run=True))
    assert (raised.value.code, raised.value.reason) == (409, "AlreadyExists")
    assert resources.current_revision() == 1


def test_an_update_that_changes_nothing_writes_nothing(resources):
    created = resources.create(QUERY, NS, query("q", a="1"), WriteContext())
    written = resources.update(QUERY, NS, "q", relabel("a", "1"), WriteContext())
    assert written.obj["metadata"]["resourceVersion"] == created.obj["metadata"]["resourceVersion"]
    assert resources.current_revision() == 1


def test_the_status_strategy_runs_no_admission_rules(resources):
    kind = dataclasses.replace(QUERY, strategy_class=_LookingStrategy)
    _LookingStrategy.seen = []
    resources.create(kind, NS, query("q"), WriteContext())
    assert len(_LookingStrategy.seen) == 1

    def status(current: dict) -> dict:
        current["status"] = {"phase": "running"}
        return current

    written = resources.update(kind, NS, "q", status, WriteContext(), status=True)
    assert written.obj["status"]["phase"] == "running"
    assert len(_LookingStrategy.seen) == 1


def test_finishing_a_deletion_is_never_refused_by_admission_rules(resources):
    kind = dataclasses.replace(QUERY, strategy_class=_LookingStrategy)
    target = query("target")
    resources.create(kind, NS, target, WriteContext())
    referring = query("referring")
    referring["metadata"]["finalizers"] = ["example.com/hold"]
    referring["spec"]["target"] = {"type": "agent", "name": "target"}
    resources.create(kind, NS, referring, WriteContext())
    resources.delete(kind, NS, "referring", DeleteOptions())
    resources.delete(kind, NS, "target", DeleteOptions())  # the reference now dangles

    def release(current: dict) -> dict:
        current["metadata"]["finalizers"] = []
        return current

    written = resources.update(kind, NS, "referring", release, WriteContext())
    assert written.deleted
    assert resources.lookup.get(kind, NS, "referring") is None
