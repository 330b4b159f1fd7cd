"""Concurrent writers on the real server, on each database: no lost update, no double create.

The oracle is what the clients were told (their 2xx answers), checked against the objects and
against the change log read straight from the database.
"""
from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter

from sqlalchemy import select

from ark.storage.tables import changes, objects
from tests.reliability.conftest import soak
from tests.reliability.faultkit import connected

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
RESOURCE = "queries.ark.mckinsey.com"
THREADS = 20
ATTEMPTS = 2000  # per thread: retries on conflicts are bounded too


def query(name: str, text: str = "0") -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": name},
            "spec": {"input": text, "selector": {"matchLabels": {"app": "test"}}}}


def base(server, namespace: str) -> str:
    return f"{server.url}{GROUP_VERSION}/namespaces/{namespace}/queries"


def run_threads(count: int, target) -> list[BaseException]:
    failures: list[BaseException] = []
    barrier = threading.Barrier(count)

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            target(index)
        except BaseException as err:  # noqa: BLE001 - reported below
            failures.append(err)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck"
    return failures


def change_rows(database, namespace: str, name: str | None = None) -> list:
    stmt = select(changes.c.rv, changes.c.name, changes.c.type, changes.c.body).where(
        changes.c.resource == RESOURCE, changes.c.namespace == namespace).order_by(changes.c.rv)
    if name is not None:
        stmt = stmt.where(changes.c.name == name)
    with connected(database) as conn:
        return list(conn.execute(stmt))


def stored(database, namespace: str, name: str) -> dict | None:
    with connected(database) as conn:
        body = conn.execute(select(objects.c.body).where(
            objects.c.resource == RESOURCE, objects.c.namespace == namespace, objects.c.name == name)).scalar()
    return json.loads(body) if body else None


def test_counter_by_put_with_resource_version_is_exact(server, namespace):
    increments = soak(5, 50)
    url = base(server, namespace)
    session = server.session()
    assert session.post(url, json=query("counter")).status_code == 201
    acknowledged: list[int] = []
    lock = threading.Lock()

    def increment(_index: int) -> None:
        http = server.session()
        done = 0
        for _ in range(ATTEMPTS):
            if done == increments:
                break
            current = http.get(f"{url}/counter", timeout=30).json()
            current["spec"]["input"] = str(int(current["spec"]["input"]) + 1)
            response = http.put(f"{url}/counter", json=current, timeout=30)
            if response.status_code == 409:
                assert response.json()["reason"] == "Conflict"
                continue
            assert response.status_code == 200, response.text
            with lock:
                acknowledged.append(int(response.json()["metadata"]["resourceVersion"]))
            done += 1
        assert done == increments
        http.close()

    assert run_threads(THREADS, increment) == []
    final = session.get(f"{url}/counter").json()
    assert final["spec"]["input"] == str(THREADS * increments)
    assert len(set(acknowledged)) == THREADS * increments  # one revision per acknowledged write
    rows = change_rows(server.database, namespace, "counter")
    assert [json.loads(r.body)["spec"]["input"] for r in rows] == [str(n) for n in range(THREADS * increments + 1)]
    assert sorted(acknowledged) == [r.rv for r in rows[1:]]
    session.close()


def test_counter_by_json_patch_test_and_replace_is_exact(server, namespace):
    increments = soak(5, 50)
    url = base(server, namespace)
    session = server.session()
    assert session.post(url, json=query("counter")).status_code == 201

    def increment(_index: int) -> None:
        http = server.session()
        done = 0
        value = http.get(f"{url}/counter", timeout=30).json()["spec"]["input"]
        for _ in range(ATTEMPTS):
            if done == increments:
                break
            ops = [{"op": "test", "path": "/spec/input", "value": value},
                   {"op": "replace", "path": "/spec/input", "value": str(int(value) + 1)}]
            response = http.patch(f"{url}/counter", data=json.dumps(ops),
                                  headers={"Content-Type": "application/json-patch+json"}, timeout=30)
            if response.status_code == 422:  # another writer got there first: read again
                assert "testing value /spec/input failed" in response.json()["message"]
                value = http.get(f"{url}/counter", timeout=30).json()["spec"]["input"]
                continue
            assert response.status_code == 200, response.text
            value = response.json()["spec"]["input"]
            done += 1
        assert done == increments
        http.close()

    assert run_threads(THREADS, increment) == []
    assert session.get(f"{url}/counter").json()["spec"]["input"] == str(THREADS * increments)
    rows = change_rows(server.database, namespace, "counter")
    assert len(rows) == THREADS * increments + 1
    session.close()


def test_concurrent_creates_of_one_name_make_one_object(server, namespace):
    rounds = soak(3, 10)
    url = base(server, namespace)
    lock = threading.Lock()
    for round_number in range(rounds):
        name = f"race-{round_number}"
        answers: list[tuple[int, dict]] = []

        def create(index: int, name: str = name, answers: list = answers) -> None:
            http = server.session()
            response = http.post(url, json=query(name, f"writer {index}"), timeout=30)
            with lock:
                answers.append((response.status_code, response.json()))
            http.close()

        assert run_threads(THREADS, create) == []
        codes = Counter(code for code, _ in answers)
        assert codes == {201: 1, 409: THREADS - 1}, codes
        assert all(body["reason"] == "AlreadyExists" for code, body in answers if code == 409)
        winner = next(body for code, body in answers if code == 201)
        assert stored(server.database, namespace, name) == winner
        assert [r.type for r in change_rows(server.database, namespace, name)] == ["ADDED"]


def test_create_delete_recreate_races_leave_a_consistent_history(server, namespace):
    operations = soak(15, 60)
    url = base(server, namespace)
    name = "flicker"
    acked_creates: list[str] = []  # uids the server said it created
    acked_deletes: list[str] = []  # uids the server said it deleted
    lock = threading.Lock()

    def churn(index: int) -> None:
        http = server.session()
        rng = random.Random(index)
        for _ in range(operations):
            if rng.random() < 0.5:
                response = http.post(url, json=query(name, f"{index}-{uuid.uuid4().hex[:6]}"), timeout=30)
                assert response.status_code in (201, 409), response.text
                if response.status_code == 201:
                    with lock:
                        acked_creates.append(response.json()["metadata"]["uid"])
            else:
                response = http.delete(f"{url}/{name}", timeout=30)
                assert response.status_code in (200, 404), response.text
                if response.status_code == 200:
                    with lock:
                        acked_deletes.append(response.json()["details"]["uid"])
        http.close()

    assert run_threads(10, churn) == []
    rows = change_rows(server.database, namespace, name)
    types = [r.type for r in rows]
    # ADDED and DELETED alternate, starting with ADDED: never two objects of one name at once.
    assert all(kind == ("ADDED" if i % 2 == 0 else "DELETED") for i, kind in enumerate(types)), types
    added = [json.loads(r.body)["metadata"]["uid"] for r in rows if r.type == "ADDED"]
    deleted = [json.loads(r.body)["metadata"]["uid"] for r in rows if r.type == "DELETED"]
    assert sorted(added) == sorted(acked_creates) and len(set(added)) == len(added)
    assert sorted(deleted) == sorted(acked_deletes)
    live = stored(server.database, namespace, name)
    if types and types[-1] == "ADDED":
        assert live is not None and live["metadata"]["uid"] == added[-1]
    else:
        assert live is None
    revisions = [r.rv for r in rows]
    assert revisions == sorted(set(revisions))
