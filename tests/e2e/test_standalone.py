"""Standalone mode with real kubectl, on SQLite and PostgreSQL: the core v1 kinds the server
serves in place of a cluster (namespaces and their lifecycle, events, Secrets, ConfigMaps), the
garbage collector's cascades, the self-subject reviews, ``kubectl get ark``, and Ark's samples
that carry their Secret or ConfigMap.

Waits are on conditions (a watch's events, kubectl's own ``--wait``), each bounded only so that
a broken server fails the test instead of hanging it.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import SHARED, Server, create_namespace, fresh_database, start_server, stop_server
from tests.watch.watchkit import Stream, client_session

GROUP = "ark.mckinsey.com"
QUERIES = f"/apis/{GROUP}/v1alpha1"
SAMPLES_DIR = SHARED / "ark-reference" / "samples"
CORE_KINDS = ("Secret", "ConfigMap")
GUARD = 60.0  # the longest any awaited condition may take before the test fails


def fresh_name(prefix: str = "ns") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def query(name: str, owners: list[dict] | None = None, finalizers: list[str] | None = None) -> str:
    metadata: dict = {"name": name}
    if owners:
        metadata["ownerReferences"] = owners
    if finalizers:
        metadata["finalizers"] = finalizers
    return json.dumps({"apiVersion": f"{GROUP}/v1alpha1", "kind": "Query", "metadata": metadata,
                       "spec": {"input": "hi", "selector": {"matchLabels": {"app": "x"}}}})


def owner_ref(obj: dict, block: bool = True) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "blockOwnerDeletion": block}


class Deletions:
    """The names of the Queries of a namespace in the order their DELETED events arrive."""

    def __init__(self, server: Server, namespace: str) -> None:
        self.session = client_session(server)
        url = f"{server.url}{QUERIES}/namespaces/{namespace}/queries"
        rv = self.session.get(url, timeout=30).json()["metadata"]["resourceVersion"]
        self.stream = Stream(self.session, url, {"watch": "1", "resourceVersion": rv})

    def take(self, count: int) -> list[str]:
        def deleted(events: list[dict]) -> list[str]:
            return [e["object"]["metadata"]["name"] for e in events if e["type"] == "DELETED"]

        self.stream.wait(lambda events: len(deleted(events)) >= count, GUARD)
        return deleted(self.stream.events)

    def close(self) -> None:
        self.stream.close()
        self.session.close()


@pytest.fixture
def http(server):
    with server.session() as session:
        yield session


def get(http, server, path: str) -> dict | None:
    response = http.get(server.url + path, timeout=30)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


# --- namespaces ------------------------------------------------------------------------------


def test_kubectl_creates_lists_and_deletes_a_namespace_with_its_content(kubectl_latest, server, http):
    kubectl, name = kubectl_latest, fresh_name()
    assert kubectl("create", "ns", name).stdout.strip() == f"namespace/{name} created"
    listed = kubectl("get", "ns").stdout.split()
    assert {"default", "kube-system", "kube-public", name} <= set(listed)
    assert kubectl("get", "ns", name, "-o", "jsonpath={.status.phase} {.spec.finalizers}").stdout == \
        'Active ["kubernetes"]'
    kubectl("create", "-n", name, "-f", "-", input=query("plain"))
    kubectl("create", "-n", name, "-f", "-", input=query("held", finalizers=["example.com/hold"]))
    kubectl("create", "secret", "generic", "creds", "-n", name, "--from-literal=token=t0ken")
    kubectl("create", "configmap", "settings", "-n", name, "--from-literal=mode=dev")

    kubectl("delete", "ns", name, "--wait=false")
    # The content goes, the Query with a finalizer waits for it, and so does the namespace.
    held = f"{QUERIES}/namespaces/{name}/queries/held"
    deadline = time.monotonic() + GUARD
    while get(http, server, f"/api/v1/namespaces/{name}/secrets/creds") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get(http, server, f"/api/v1/namespaces/{name}/secrets/creds") is None
    assert get(http, server, f"/api/v1/namespaces/{name}/configmaps/settings") is None
    assert get(http, server, f"{QUERIES}/namespaces/{name}/queries/plain") is None
    assert get(http, server, held)["metadata"]["deletionTimestamp"]
    assert kubectl("get", "ns", name, "-o", "jsonpath={.status.phase}").stdout == "Terminating"

    refused = kubectl("create", "-n", name, "-f", "-", input=query("late"), check=False)
    assert refused.returncode != 0
    assert f'queries.ark.mckinsey.com "late" is forbidden: unable to create new content in namespace {name} ' \
           "because it is being terminated" in refused.stderr

    kubectl("patch", "query", "held", "-n", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    kubectl("wait", "--for=delete", f"namespace/{name}", f"--timeout={int(GUARD)}s")
    assert get(http, server, f"/api/v1/namespaces/{name}") is None
    assert name not in kubectl("get", "ns").stdout.split()


def test_creating_into_a_missing_namespace_is_not_found_as_kube_apiserver_says(kubectl_latest):
    missing = fresh_name("missing")
    refused = kubectl_latest("create", "-n", missing, "-f", "-", input=query("q1"), check=False)
    assert refused.returncode != 0
    assert f'Error from server (NotFound): error when creating "STDIN": namespaces "{missing}" not found' in \
        refused.stderr
    # A get outside default makes kubectl ask for the namespace too: now it exists, and kubectl
    # prints the object's own NotFound.
    got = kubectl_latest("get", "query", "nope", "-n", "default", check=False)
    assert 'queries.ark.mckinsey.com "nope" not found' in got.stderr


# --- garbage collection ----------------------------------------------------------------------


def _owner_and_dependent(kubectl, namespace: str) -> None:
    owner = json.loads(kubectl("create", "-n", namespace, "-o", "json", "-f", "-", input=query("owner")).stdout)
    kubectl("create", "-n", namespace, "-f", "-", input=query("dependent", [owner_ref(owner)]))


def test_foreground_deletion_removes_the_dependent_first(kubectl_latest, server, namespace):
    _owner_and_dependent(kubectl_latest, namespace)
    deletions = Deletions(server, namespace)
    try:
        # kubectl waits for the owner to be gone: that needs the collector to free it.
        kubectl_latest("delete", "query", "owner", "-n", namespace, "--cascade=foreground",
                       f"--timeout={int(GUARD)}s")
        assert deletions.take(2) == ["dependent", "owner"]
    finally:
        deletions.close()


def test_background_deletion_removes_the_owner_first(kubectl_latest, server, namespace):
    _owner_and_dependent(kubectl_latest, namespace)
    deletions = Deletions(server, namespace)
    try:
        kubectl_latest("delete", "query", "owner", "-n", namespace, "--cascade=background")
        assert deletions.take(2) == ["owner", "dependent"]
    finally:
        deletions.close()


def test_orphan_deletion_keeps_the_dependent_without_its_owner_reference(kubectl_latest, server, namespace, http):
    _owner_and_dependent(kubectl_latest, namespace)
    deletions = Deletions(server, namespace)
    try:
        kubectl_latest("delete", "query", "owner", "-n", namespace, "--cascade=orphan", f"--timeout={int(GUARD)}s")
        assert deletions.take(1) == ["owner"]
    finally:
        deletions.close()
    dependent = get(http, server, f"{QUERIES}/namespaces/{namespace}/queries/dependent")
    assert "ownerReferences" not in dependent["metadata"]
    assert "deletionTimestamp" not in dependent["metadata"]


def test_a_dependent_whose_owner_never_existed_is_collected(kubectl_latest, server, namespace):
    deletions = Deletions(server, namespace)
    try:
        ghost = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Agent", "name": "ghost", "uid": str(uuid.uuid4())}
        kubectl_latest("create", "-n", namespace, "-f", "-", input=query("orphaned", [ghost]))
        assert deletions.take(1) == ["orphaned"]
    finally:
        deletions.close()


# --- events, reviews, categories -------------------------------------------------------------


def test_events_are_listed_and_described_with_their_object(kubectl_latest, namespace):
    created = json.loads(kubectl_latest("create", "-n", namespace, "-o", "json", "-f", "-",
                                        input=query("q1")).stdout)
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "q1-"},
             "involvedObject": {"apiVersion": created["apiVersion"], "kind": "Query", "name": "q1",
                                "namespace": namespace, "uid": created["metadata"]["uid"]},
             "reason": "Checked", "message": "the query was looked at", "type": "Normal",
             "source": {"component": "tester"}, "firstTimestamp": "2026-01-01T00:00:00Z",
             "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1}
    kubectl_latest("create", "-n", namespace, "-f", "-", input=json.dumps(event))
    (row,) = [line.split() for line in kubectl_latest("get", "events", "-n", namespace).stdout.splitlines()[1:]]
    assert row[2:5] == ["Normal", "Checked", "q1"]
    described = kubectl_latest("describe", "query", "q1", "-n", namespace).stdout.split("Events:", 1)[1]
    assert "Checked" in described and "the query was looked at" in described and "tester" in described
    other = kubectl_latest("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=other")
    assert other.stdout == ""


def test_events_expire_after_the_event_ttl(database, tmp_path, tmp_path_factory):
    """On a database of its own: one process per database runs the controllers."""
    (tmp_path / "server").mkdir()
    with fresh_database(database.driver, tmp_path_factory) as own:
        server = start_server(own, tmp_path / "server", workers=1, extra=("--event-ttl", "1"))
        try:
            _expires(server)
        finally:
            stop_server(server)


def _expires(server: Server) -> None:
    create_namespace(server, "ttl")
    with server.session() as http:
        url = f"{server.url}/api/v1/namespaces/ttl/events"
        posted = http.post(url, json={"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
                                      "involvedObject": {"kind": "Query", "name": "q"}, "reason": "R"})
        assert posted.status_code == 201, posted.text
        deadline = time.monotonic() + GUARD
        while http.get(f"{url}/e1").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert http.get(f"{url}/e1").status_code == 404


def test_auth_can_i_and_whoami_answer(kubectl_latest):
    assert kubectl_latest("auth", "can-i", "create", "queries").stdout.strip() == "yes"
    assert kubectl_latest("auth", "can-i", "delete", "secrets", "-n", "kube-system").stdout.strip() == "yes"
    rules = kubectl_latest("auth", "can-i", "--list").stdout
    assert "*.*" in rules
    whoami = kubectl_latest("auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "system:anonymous"


def test_kubectl_get_ark_lists_every_ark_kind(kubectl_latest, namespace):
    kubectl_latest("create", "-n", namespace, "-f", "-", input=query("q1"))
    kubectl_latest("create", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": f"{GROUP}/v1alpha1", "kind": "Memory", "metadata": {"name": "m1"},
        "spec": {"address": {"value": "http://memory.example"}}}))
    listed = kubectl_latest("get", "ark", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listed) == ["memory.ark.mckinsey.com/m1", "query.ark.mckinsey.com/q1"]


# --- the Ark samples that carry their Secret or ConfigMap ------------------------------------


def _samples_with_core_objects() -> list[Path]:
    if not SAMPLES_DIR.is_dir():
        return []
    found = []
    for path in sorted(SAMPLES_DIR.rglob("*.y*ml")):
        text = path.read_text()
        if "${" in text:  # a template, to be filled in before it is applied
            continue
        try:
            documents = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        if any(d.get("kind") in CORE_KINDS for d in documents):
            found.append(path)
    return found


SAMPLE_FILES = _samples_with_core_objects()

#: Stand-ins for the Agents and Teams a sample's Queries ask that other sample files define.
_TARGETS = {"agent": ("Agent", {"prompt": "You help."}),
            "team": ("Team", {"members": [{"name": "stand-in-agent", "type": "agent"}], "strategy": "sequential"})}


def _create_missing_targets(kubectl, where: list[str], documents: list[dict]) -> None:
    defined = {(d["kind"], d["metadata"]["name"]) for d in documents}
    for document in documents:
        target = (document.get("spec") or {}).get("target") if document["kind"] == "Query" else None
        if not target or target.get("type") not in _TARGETS:
            continue
        kind, spec = _TARGETS[target["type"]]
        if (kind, target["name"]) in defined:
            continue
        stand_ins = [("Agent", "stand-in-agent", _TARGETS["agent"][1])] if kind == "Team" else []
        for stand_in_kind, name, stand_in_spec in [*stand_ins, (kind, target["name"], spec)]:
            kubectl("apply", *where, "-f", "-", input=json.dumps({
                "apiVersion": f"{GROUP}/v1alpha1", "kind": stand_in_kind, "metadata": {"name": name},
                "spec": stand_in_spec}))


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"no Ark samples with a Secret or ConfigMap under {SAMPLES_DIR}")
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=[str(p.relative_to(SAMPLES_DIR)) for p in SAMPLE_FILES])
def test_kubectl_applies_a_sample_with_its_secret_or_configmap(kubectl_latest, namespace, sample):
    documents = [d for d in yaml.safe_load_all(sample.read_text()) if isinstance(d, dict)]
    pinned = any((d.get("metadata") or {}).get("namespace") for d in documents)
    where = [] if pinned else ["-n", namespace]
    _create_missing_targets(kubectl_latest, where, documents)
    # kubectl applies a file's documents in order; one that names a Secret further down is
    # refused until that Secret exists, so a second apply (as any reconciling tool does) converges.
    first = kubectl_latest("apply", *where, "-f", str(sample), check=False)
    if first.returncode != 0:
        assert "does not exist" in first.stderr or "not found" in first.stderr, first.stderr
        kubectl_latest("apply", *where, "-f", str(sample))
    assert "unable to respond with a content type" not in first.stderr
    got = kubectl_latest("get", *where, "-f", str(sample), "-o", "name").stdout.split()
    assert len(got) == len(documents)
    secrets = [d for d in documents if d["kind"] == "Secret"]
    for secret in secrets:
        stored = json.loads(kubectl_latest("get", *where, "secret", secret["metadata"]["name"], "-o", "json").stdout)
        assert "stringData" not in stored and stored["type"]
    if pinned:
        kubectl_latest("delete", "-f", str(sample), "--wait=false")
