"""Who the server thinks is asking, in delegated mode (README "Security"): front proxy, client
certificate, bearer token, anonymous — judged by what it then asks the cluster (the
SubjectAccessReview names the user it authenticated) and by what it answers."""
from __future__ import annotations

import json
import socket
import ssl

import pytest
import requests

from tests.conftest import KUBECTL, SYSTEM_KUBECTL
from tests.security.conftest import GROUP_PATH

QUERY = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": "q1"},
         "spec": {"input": "hello", "selector": {"matchLabels": {"app": "test"}}}}
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


def queries(namespace: str, name: str = "") -> str:
    return f"{GROUP_PATH}/namespaces/{namespace}/queries" + (f"/{name}" if name else "")


@pytest.mark.parametrize("binary", [KUBECTL, SYSTEM_KUBECTL], ids=["kubectl-1.37", "kubectl-system"])
def test_kubectl_through_the_front_proxy_is_allowed_and_denied(delegated, binary):
    if not binary.exists():
        pytest.skip(f"{binary} is not installed")
    alice = delegated.actor("alice", groups=("ark-users",))
    alice.deny("delete", "alice may not delete queries")
    namespace = delegated.namespace()

    created = delegated.kubectl(alice, "create", "-n", namespace, "-f", "-", binary=binary, input=json.dumps(QUERY))
    assert created.returncode == 0, created.stderr
    assert "query.ark.mckinsey.com/q1 created" in created.stdout
    listed = delegated.kubectl(alice, "get", "queries", "-n", namespace, "-o", "name", binary=binary)
    assert listed.stdout.split() == ["query.ark.mckinsey.com/q1"], listed.stderr
    deleted = delegated.kubectl(alice, "delete", "query", "q1", "-n", namespace, "--wait=false", binary=binary)
    assert deleted.returncode == 1
    assert deleted.stderr.strip() == (
        f'Error from server (Forbidden): queries.ark.mckinsey.com "q1" is forbidden: User "{alice.name}" cannot '
        f'delete resource "queries" in API group "ark.mckinsey.com" in the namespace "{namespace}": alice may not '
        "delete queries")

    # The server knew alice only from the headers of the front-proxy connection (kubectl's token
    # went to the stand-in, never to the server), groups and all.
    (create,) = alice.reviews("create")
    assert create == {"user": alice.name, "groups": ["ark-users", "system:authenticated"],
                      "resourceAttributes": {"namespace": namespace, "verb": "create", "group": "ark.mckinsey.com",
                                             "version": "v1alpha1", "resource": "queries", "subresource": "",
                                             "name": ""}}
    assert alice.token_reviews() == 0
    assert any(path == queries(namespace) for path, _ in delegated.cluster.proxied)
    assert delegated.session(alice).get(delegated.url(queries(namespace, "q1")), timeout=10).status_code == 200


def test_front_proxy_extra_and_uid_headers_reach_the_review(delegated):
    alice = delegated.actor("alice")
    namespace = delegated.namespace()
    session = delegated.session(cert=delegated.pki.front_proxy)
    response = session.get(delegated.url(queries(namespace)), timeout=10, headers={
        "X-Remote-User": alice.name, "X-Remote-Uid": "uid-7", "X-Remote-Group": "team-a, team-b",
        "X-Remote-Extra-Acme.com%2Fproject": "apollo", "X-Remote-Extra-Scopes": "read,write"})
    assert response.status_code == 200, response.text
    (review,) = alice.reviews("list")
    assert review["uid"] == "uid-7"
    assert review["groups"] == ["team-a", "team-b", "system:authenticated"]
    assert review["extra"] == {"acme.com/project": ["apollo"], "scopes": ["read", "write"]}


def test_a_bearer_token_is_reviewed_and_a_bad_one_is_401(delegated):
    bob = delegated.actor("bob")
    namespace = delegated.namespace()
    accepted = delegated.session(bob).get(delegated.url(queries(namespace)), timeout=10)
    assert accepted.status_code == 200, accepted.text
    assert bob.token_reviews() == 1
    (review,) = bob.reviews("list")
    assert (review["user"], review["uid"], review["groups"]) == (bob.name, f"uid-{bob.name}", ["system:authenticated"])

    session = delegated.session()
    session.headers["Authorization"] = "Bearer not-a-token-the-cluster-knows"
    before = len(delegated.cluster.access_reviews)
    rejected = session.get(delegated.url(queries(namespace)), timeout=10)
    assert rejected.status_code == 401
    assert rejected.json() == UNAUTHORIZED
    assert delegated.cluster.token_reviews.count("not-a-token-the-cluster-knows") == 1
    assert len(delegated.cluster.access_reviews) == before  # refused before any authorization


def test_a_client_certificate_from_the_client_ca_is_its_cn_and_organizations(delegated):
    delegated.policy.allowed.add("carol")
    namespace = delegated.namespace()
    response = delegated.session(cert=delegated.pki.carol).get(delegated.url(queries(namespace)), timeout=10)
    assert response.status_code == 200, response.text
    (review,) = [r for r in delegated.cluster.access_reviews
                 if r["user"] == "carol" and r["resourceAttributes"]["namespace"] == namespace]
    assert review["groups"] == ["ark-devs", "system:authenticated"]
    assert review["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("X509SHA256=")


def test_x_remote_user_without_the_front_proxy_certificate_is_ignored(delegated):
    mallory = delegated.actor("mallory")
    namespace = delegated.namespace()
    forged = {"X-Remote-User": "admin", "X-Remote-Group": "system:masters"}
    anonymous = delegated.session().get(delegated.url(queries(namespace)), headers=forged, timeout=10)
    assert anonymous.status_code == 403
    assert anonymous.json()["message"] == (
        'queries.ark.mckinsey.com is forbidden: User "system:anonymous" cannot list resource "queries" in API group '
        f'"ark.mckinsey.com" in the namespace "{namespace}"')
    # A token, or a user certificate, is who the request is from, whatever the headers say.
    with_token = delegated.session(mallory).get(delegated.url(queries(namespace)), headers=forged, timeout=10)
    assert with_token.status_code == 200
    (review,) = mallory.reviews("list")
    assert review["groups"] == ["system:authenticated"]
    delegated.session(cert=delegated.pki.carol).get(delegated.url(queries(namespace)), headers=forged, timeout=10)
    users = [r["user"] for r in delegated.cluster.access_reviews
             if r.get("resourceAttributes", {}).get("namespace") == namespace]
    assert users == ["system:anonymous", mallory.name, "carol"]


def test_a_front_proxy_certificate_with_a_cn_not_allowed_is_not_trusted(delegated):
    alice = delegated.actor("alice")
    namespace = delegated.namespace()
    session = delegated.session(cert=delegated.pki.wrong_proxy)
    response = session.get(delegated.url(queries(namespace)), headers={"X-Remote-User": alice.name}, timeout=10)
    assert response.status_code == 401  # as kube-apiserver: a certificate presented and refused
    assert response.json() == UNAUTHORIZED
    assert alice.reviews() == []
    # With a valid token as well, the request is the token's.
    session.headers["Authorization"] = f"Bearer {alice.token}"
    assert session.get(delegated.url(queries(namespace)), headers={"X-Remote-User": "admin"},
                       timeout=10).status_code == 200
    assert [r["user"] for r in alice.reviews("list")] == [alice.name]


def test_a_certificate_of_an_unknown_ca_fails_the_handshake(delegated):
    with pytest.raises(requests.exceptions.SSLError):
        delegated.session(cert=delegated.pki.stranger).get(delegated.url("/livez"), timeout=10)


def test_system_masters_and_health_paths_need_no_review(delegated):
    namespace = delegated.namespace()
    before = len(delegated.cluster.access_reviews)
    for path in ("/readyz", "/livez", "/healthz"):
        assert delegated.session().get(delegated.url(path), timeout=10).text == "ok"
    session = delegated.session(cert=delegated.pki.front_proxy)
    admin = session.get(delegated.url(queries(namespace)), timeout=10,
                        headers={"X-Remote-User": "system:kube-aggregator", "X-Remote-Group": "system:masters"})
    assert admin.status_code == 200
    assert len(delegated.cluster.access_reviews) == before


def test_the_aggregators_discovery_call_without_groups_is_authenticated(delegated):
    """kube-apiserver's availability check arrives as system:kube-aggregator with no groups: it is
    allowed through system:discovery, bound to system:authenticated, so the group must be added."""
    delegated.policy.allowed.add("system:kube-aggregator")
    session = delegated.session(cert=delegated.pki.front_proxy)
    response = session.get(delegated.url(GROUP_PATH), headers={"X-Remote-User": "system:kube-aggregator"},
                           timeout=10)
    assert response.status_code == 200
    assert response.json()["kind"] == "APIResourceList"
    review = next(r for r in reversed(delegated.cluster.access_reviews) if r["user"] == "system:kube-aggregator")
    assert review == {"user": "system:kube-aggregator", "groups": ["system:authenticated"],
                      "nonResourceAttributes": {"path": GROUP_PATH, "verb": "get"}}


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_the_tls_is_1_2_or_newer(delegated):
    context = ssl.create_default_context(cafile=str(delegated.server.ca_file))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client may offer TLS 1.1; the server must refuse it
    context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    port = int(delegated.server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, pytest.raises(ssl.SSLError) as refused:
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert "PROTOCOL_VERSION" in str(refused.value).upper()  # the server's alert, not the client giving up
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() == "TLSv1.2"
