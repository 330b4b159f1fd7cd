"""``import --from-cluster``: a cluster's Ark custom resources into the database, on both databases.

The cluster is the HTTPS stand-in of tests/deploy/kubeapi.py serving Ark objects as
kube-apiserver serves CRs (paged lists, only while the CRD exists). Objects keep everything
but their resourceVersion; a second run writes nothing; ``--prune`` deletes what the cluster no
longer has; admission only reports.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ark.adoption import sources
from ark.kinds import REGISTRY
from ark.kinds.registry import GROUP
from tests.adoption.conftest import Ran, Target, without
from tests.conftest import REPO
from tests.deploy.kubeapi import CRDS_PATH, KubeAPI, crd, kube_api, object_path

NAMESPACES = ("team-a", "team-b")


def cluster_object(manifest: dict[str, Any], namespace: str, **metadata: Any) -> dict[str, Any]:
    """``manifest`` as the cluster stores it: with a uid, a creation time, managedFields..."""
    obj = copy.deepcopy(manifest)
    obj["metadata"].update({
        "namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": "2025-03-01T10:00:00Z",
        "generation": 2, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                           "apiVersion": obj["apiVersion"], "time": "2025-03-01T10:00:00Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:spec": {".": {}}}}],
        **metadata,
    })
    return obj


def samples() -> list[dict[str, Any]]:
    """The Ark objects of the repository's samples (the Secret of samples/model.yaml is the
    fixture's own, with data as the cluster returns it)."""
    return [doc for path in sorted((REPO / "samples").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc and doc["apiVersion"].startswith(GROUP + "/")]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch) -> Iterator[KubeAPI]:
    """The stand-in with every Ark CRD and the repository's samples in two namespaces."""
    monkeypatch.setattr(sources, "PAGE_SIZE", 2)  # several pages per kind
    with kube_api(tmp_path) as api:
        for kind in REGISTRY:
            api.add(crd(kind.plural, kind.kind, GROUP, kind.version))
        for namespace in NAMESPACES:
            api.add({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": "openai-credentials", "namespace": namespace}, "data": {"api-key": "eA=="}})
            for manifest in samples():
                extra: dict[str, Any] = {}
                if manifest["kind"] == "Query":
                    extra = {"finalizers": ["ark.mckinsey.com/query-cleanup"], "labels": {"app": "demo"},
                             "ownerReferences": [{"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Agent",
                                                  "name": "weather-agent", "uid": str(uuid.uuid4())}]}
                    manifest = {**manifest, "status": {"phase": "done", "duration": "3.2s"}}
                api.add(cluster_object(manifest, namespace, **extra))
        yield api


def ark_objects(api: KubeAPI) -> list[dict[str, Any]]:
    return [o for o in api.objects.values() if o["apiVersion"].startswith(GROUP + "/")]


def from_cluster(target: Target, api: KubeAPI, tmp_path: Path, *args: str) -> Ran:
    ran = target.ark("import", "--from-cluster", "--kubeconfig", str(api.kubeconfig(tmp_path / "kubeconfig")), *args)
    assert ran.code == 0, ran.err
    return ran


def totals(ran: Ran, row: str = "total") -> list[str]:
    """created, updated, unchanged, pruned, warnings of one row of the summary (the total by default)."""
    return next(line.split()[1:] for line in ran.out.splitlines() if line.split()[:1] == [row])


def stored(target: Target, obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = next(k for k in REGISTRY if k.kind == obj["kind"])
    found = target.store.read(kind.resource, obj["metadata"]["namespace"], obj["metadata"]["name"])
    return None if found is None else found.obj()


def test_imports_every_object_as_the_cluster_has_it(target: Target, cluster: KubeAPI, tmp_path: Path) -> None:
    ran = from_cluster(target, cluster, tmp_path)
    expected = ark_objects(cluster)
    assert totals(ran) == [str(len(expected)), "0", "0", "0", "0"], ran.out
    assert totals(ran, "agents")[0] == "4"  # two per namespace
    for obj in expected:
        got = stored(target, obj)
        assert got is not None
        assert without(got, "resourceVersion")["metadata"] == without(obj, "resourceVersion")["metadata"]
        assert got.get("status") == obj.get("status")
        # The spec as the cluster has it, plus the CRD's defaults (which a real cluster applied already).
        assert {key: got["spec"][key] for key in obj["spec"]} == obj["spec"]
    # A fresh resourceVersion each, from this database's counter, after the Namespaces made for them.
    assert target.revision() == len(expected) + len(NAMESPACES)
    assert any("continue=" in q for q in cluster.queries), "lists were not paged"
    # Read through the Kubernetes API, one list per kind, all namespaces at once.
    assert {q.split("?")[0] for q in cluster.queries if q.startswith(f"/apis/{GROUP}/")} == \
        {f"/apis/{k.api_version}/{k.plural}" for k in REGISTRY}


def test_rerun_writes_nothing_and_updates_what_changed(target: Target, cluster: KubeAPI, tmp_path: Path) -> None:
    from_cluster(target, cluster, tmp_path)
    revision = target.revision()
    again = from_cluster(target, cluster, tmp_path)
    assert totals(again) == ["0", "0", str(len(ark_objects(cluster))), "0", "0"]
    assert target.revision() == revision  # no new revisions

    agent = copy.deepcopy(cluster.objects[f"/apis/{GROUP}/v1alpha1/namespaces/team-a/agents/weather-agent"])
    agent["spec"]["description"] = "Answers questions about the weather, briefly."
    cluster.add(agent)
    changed = from_cluster(target, cluster, tmp_path)
    assert totals(changed)[:3] == ["0", "1", str(len(ark_objects(cluster)) - 1)]
    assert stored(target, agent)["spec"]["description"] == agent["spec"]["description"]
    assert target.revision() == revision + 1


def test_prune_removes_what_the_cluster_no_longer_has(target: Target, cluster: KubeAPI, tmp_path: Path) -> None:
    from_cluster(target, cluster, tmp_path)
    gone = next(o for o in ark_objects(cluster) if o["kind"] == "Team" and o["metadata"]["namespace"] == "team-b")
    cluster.remove(object_path(gone))
    kept = from_cluster(target, cluster, tmp_path)  # without --prune the copy keeps it
    assert totals(kept)[3] == "0" and stored(target, gone) is not None
    pruned = from_cluster(target, cluster, tmp_path, "--prune")
    assert totals(pruned)[:4] == ["0", "0", str(len(ark_objects(cluster))), "1"]
    assert totals(pruned, "teams") == ["0", "0", "1", "1", "0"]
    assert stored(target, gone) is None
    for obj in ark_objects(cluster):
        assert stored(target, obj) is not None


def test_admission_reports_and_imports_anyway(target: Target, cluster: KubeAPI, tmp_path: Path) -> None:
    query = next(o for o in ark_objects(cluster) if o["kind"] == "Query")
    orphan = copy.deepcopy(query)
    orphan["metadata"].update(name="orphan-query", uid=str(uuid.uuid4()))
    orphan["spec"]["target"]["name"] = "no-such-agent"
    cluster.add(orphan)
    secret = f"/api/v1/namespaces/{NAMESPACES[1]}/secrets/openai-credentials"
    cluster.remove(secret)
    ran = from_cluster(target, cluster, tmp_path)
    refused = [line for line in ran.out.splitlines() if line.startswith("admission would refuse")]
    assert len(refused) == 2, ran.out
    assert any(f"queries {orphan['metadata']['namespace']}/orphan-query" in line and "no-such-agent" in line
               for line in refused)
    assert any(f"models {NAMESPACES[1]}/default" in line and "openai-credentials" in line for line in refused)
    assert totals(ran)[4] == "2"
    assert stored(target, orphan) is not None  # imported anyway
    assert cluster.asked(f"/api/v1/namespaces/{NAMESPACES[0]}/secrets/openai-credentials") >= 1


def test_kinds_without_crd_are_noted(target: Target, cluster: KubeAPI, tmp_path: Path) -> None:
    cluster.remove(f"{CRDS_PATH}/memories.{GROUP}")
    ran = from_cluster(target, cluster, tmp_path, "--kind", "memories,agents", "-n", "team-a")
    assert f"the cluster serves no memories.{GROUP}" in ran.err
    assert totals(ran)[0] == "2"  # team-a's two agents, nothing else


def test_unreachable_cluster_is_one_line(target: Target, tmp_path: Path) -> None:
    with kube_api(tmp_path) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
    ran = target.ark("import", "--from-cluster", "--kubeconfig", str(kubeconfig))
    assert ran.code == 2
    assert ran.err.startswith("ark-apiserver: error: GET https://127.0.0.1:") and ran.err.count("\n") == 1, ran.err
    assert target.revision() == 0
