"""NamespaceLifecycle from the cluster, in delegated mode: creates into a namespace the cluster
does not have are 404, into one being deleted 403, as kube-apiserver refuses them; the server's
copy of the namespaces follows the cluster."""
from __future__ import annotations

from tests.deploy.kubeapi import namespace as namespace_object
from tests.security.conftest import eventually
from tests.security.test_authentication import QUERY, queries


def create(delegated, session, namespace: str, **metadata: str):
    return session.post(delegated.url(queries(namespace)), json=dict(QUERY, metadata=metadata or {"name": "q1"}),
                        timeout=10)


def test_a_create_into_a_namespace_the_cluster_does_not_have_is_404(delegated):
    olive = delegated.actor("olive")
    missing = "no-such-namespace-" + olive.name
    refused = create(delegated, delegated.session(olive), missing)
    assert refused.status_code == 404
    assert refused.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": f'namespaces "{missing}" not found', "reason": "NotFound",
                              "details": {"name": missing, "kind": "namespaces"}, "code": 404}
    assert delegated.cluster.asked(f"/api/v1/namespaces/{missing}") >= 1  # looked up live before refusing
    dry_run = delegated.session(olive).post(delegated.url(queries(missing)), params={"dryRun": "All"},
                                            json=dict(QUERY, metadata={"name": "q1"}), timeout=10)
    assert dry_run.status_code == 404


def test_a_create_into_a_terminating_namespace_is_403_with_its_cause(delegated):
    paul = delegated.actor("paul")
    terminating = delegated.namespace(phase="Terminating")
    refused = create(delegated, delegated.session(paul), terminating)
    assert refused.status_code == 403
    assert refused.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'queries.ark.mckinsey.com "q1" is forbidden: unable to create new content in namespace '
                   f"{terminating} because it is being terminated",
        "reason": "Forbidden",
        "details": {"name": "q1", "group": "ark.mckinsey.com", "kind": "queries",
                    "causes": [{"reason": "NamespaceTerminating", "message": f"namespace {terminating} is being "
                                "terminated", "field": "metadata.namespace"}]},
        "code": 403}
    generated = create(delegated, delegated.session(paul), terminating, generateName="q-")
    assert generated.json()["message"].startswith("queries.ark.mckinsey.com is forbidden: unable to create")


def test_the_servers_copy_follows_the_clusters_namespaces(delegated):
    quinn = delegated.actor("quinn")
    session = delegated.session(quinn)
    namespace = delegated.namespace()
    assert create(delegated, session, namespace, name="before").status_code == 201
    # Being deleted in the cluster: the watch brings the phase, creates stop; updates go on.
    delegated.cluster.add(namespace_object(namespace, "Terminating"))
    assert eventually(lambda: create(delegated, session, namespace, name="late").status_code == 403,
                      "creates refused once the namespace is terminating")
    patched = session.patch(delegated.url(queries(namespace, "before")), data='{"metadata":{"labels":{"a":"b"}}}',
                            headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
    assert patched.status_code == 200
    # Gone from the cluster: 404.
    delegated.cluster.remove(f"/api/v1/namespaces/{namespace}")
    assert eventually(lambda: create(delegated, session, namespace, name="later").status_code == 404,
                      "creates refused once the namespace is gone")


def test_a_namespace_lookup_the_cluster_fails_is_503(delegated):
    rita = delegated.actor("rita")
    missing = "unknown-" + rita.name
    delegated.cluster.fail(f"/api/v1/namespaces/{missing}", 500)
    refused = create(delegated, delegated.session(rita), missing)
    assert refused.status_code == 503
    assert refused.json()["message"].startswith(f"cannot check namespace {missing} in the cluster: GET "
                                                f"{delegated.cluster.url}/api/v1/namespaces/{missing}: 500 ")


def test_the_core_group_and_the_reviews_are_not_served_in_delegated_mode(delegated):
    """kube-apiserver owns them there: namespaces, events, Secrets, ConfigMaps and the reviews."""
    session = delegated.session(delegated.actor("rita"))
    for path in ("/api", "/api/v1", "/api/v1/namespaces", "/openapi/v3/api/v1"):
        assert session.get(delegated.url(path), timeout=10).status_code == 404, path
    assert "api/v1" not in session.get(delegated.url("/openapi/v3"), timeout=10).json()["paths"]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}}
    assert session.post(delegated.url("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"), json=review,
                        timeout=10).status_code == 404
