"""May they, in delegated mode: every request is a SubjectAccessReview at the cluster (except the
health paths and system:masters), answers are cached, a refusal is kube-apiserver's 403, and the
decision comes before the server reads the request's body."""
from __future__ import annotations

import json

import requests

from tests.security.conftest import GROUP_PATH
from tests.security.test_authentication import QUERY, queries

REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
TOKENREVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def create(session: requests.Session, delegated, namespace: str, name: str = "q1") -> requests.Response:
    body = dict(QUERY, metadata={"name": name})
    return session.post(delegated.url(queries(namespace)), json=body, timeout=10)


def test_a_denied_review_is_403_with_kube_apiservers_message(delegated):
    dana = delegated.actor("dana")
    dana.deny("delete", "dana may only read")
    namespace = delegated.namespace()
    session = delegated.session(dana)
    assert create(session, delegated, namespace).status_code == 201
    refused = session.delete(delegated.url(queries(namespace, "q1")), timeout=10)
    assert refused.status_code == 403
    assert refused.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'queries.ark.mckinsey.com "q1" is forbidden: User "{dana.name}" cannot delete resource "queries" '
                   f'in API group "ark.mckinsey.com" in the namespace "{namespace}": dana may only read',
        "reason": "Forbidden", "details": {"name": "q1", "group": "ark.mckinsey.com", "kind": "queries"}, "code": 403}
    assert session.get(delegated.url(queries(namespace, "q1")), timeout=10).status_code == 200  # still there
    (review,) = dana.reviews("delete")
    assert review["resourceAttributes"] == {"namespace": namespace, "verb": "delete", "group": "ark.mckinsey.com",
                                            "version": "v1alpha1", "resource": "queries", "subresource": "",
                                            "name": "q1"}


def test_forbidden_messages_for_the_cluster_scope_a_subresource_and_a_path(delegated):
    erin = delegated.actor("erin", allowed=False)
    session = delegated.session(erin)
    everywhere = session.get(delegated.url(f"{GROUP_PATH}/queries"), timeout=10)
    assert everywhere.json()["message"] == (
        f'queries.ark.mckinsey.com is forbidden: User "{erin.name}" cannot list resource "queries" in API group '
        '"ark.mckinsey.com" at the cluster scope')
    status = session.patch(delegated.url(queries("ns1", "q1") + "/status"), data="{}", timeout=10,
                           headers={"Content-Type": "application/merge-patch+json"})
    assert status.json()["message"] == (
        f'queries.ark.mckinsey.com "q1" is forbidden: User "{erin.name}" cannot patch resource "queries/status" in '
        'API group "ark.mckinsey.com" in the namespace "ns1"')
    path = session.get(delegated.url("/openapi/v3"), timeout=10)
    assert path.status_code == 403
    assert path.json()["message"] == f'forbidden: User "{erin.name}" cannot get path "/openapi/v3"'
    assert path.json()["details"] == {}
    watch = session.get(delegated.url(queries("ns1")), params={"watch": "1", "fieldSelector": "metadata.name=q9"},
                        timeout=10)
    assert watch.json()["message"] == (
        f'queries.ark.mckinsey.com "q9" is forbidden: User "{erin.name}" cannot watch resource "queries" in API '
        'group "ark.mckinsey.com" in the namespace "ns1"')


def test_authorization_comes_before_the_body_is_read(delegated):
    frank = delegated.actor("frank")
    frank.deny("create")
    namespace = delegated.namespace()
    refused = delegated.session(frank).post(delegated.url(queries(namespace)), data=b"{not json", timeout=10,
                                            headers={"Content-Type": "application/json"})
    assert refused.status_code == 403  # not the 400 the body would have earned
    anonymous = delegated.session().post(delegated.url(queries(namespace)), data=b"x" * (4 * 1024 * 1024),
                                         headers={"Content-Type": "application/json"}, timeout=30)
    assert anonymous.status_code == 403  # not 413: nobody reads four megabytes for a stranger


def test_both_caches_are_honoured(delegated):
    grace = delegated.actor("grace")
    grace.deny("delete")
    namespace = delegated.namespace()
    session = delegated.session(grace)  # one keep-alive connection: one worker, one cache
    for _ in range(3):
        assert session.get(delegated.url(queries(namespace)), timeout=10).status_code == 200
    assert grace.token_reviews() == 1
    assert len(grace.reviews("list")) == 1
    for _ in range(3):
        assert session.delete(delegated.url(queries(namespace, "q1")), timeout=10).status_code == 403
    assert len(grace.reviews("delete")) == 1  # refusals are cached too
    assert grace.token_reviews() == 1
    assert session.get(delegated.url(queries(namespace, "q1")), timeout=10).status_code == 404
    assert len(grace.reviews("get")) == 1  # another question, asked once


def test_a_watch_is_authorized_once_at_its_start(delegated):
    henry = delegated.actor("henry")
    writer = delegated.actor("writer")
    namespace = delegated.namespace()
    with delegated.session(henry).get(delegated.url(queries(namespace)), params={"watch": "1"}, stream=True,
                                      timeout=30) as watch:
        assert watch.status_code == 200
        lines = watch.iter_lines()
        for index in range(3):
            assert create(delegated.session(writer), delegated, namespace, f"q{index}").status_code == 201
            event = json.loads(next(lines))
            assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", f"q{index}")
    assert len(henry.reviews("watch")) == 1


def test_a_review_the_cluster_refuses_is_503_with_the_reason(delegated):
    iris = delegated.actor("iris")
    namespace = delegated.namespace()
    delegated.cluster.fail(REVIEWS, 403)
    refused = delegated.session(iris).get(delegated.url(queries(namespace)), timeout=10)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    message = refused.json()["message"]
    assert message.startswith("cannot authorize the request: the SubjectAccessReview failed: POST "
                              f"{delegated.cluster.url}{REVIEWS}: 403 Forbidden: the stand-in was told to fail")
    # Not cached: the next request is asked again, and allowed.
    assert delegated.session(iris).get(delegated.url(queries(namespace)), timeout=10).status_code == 200


def test_transient_review_failures_are_retried_with_backoff(delegated):
    jack = delegated.actor("jack")
    namespace = delegated.namespace()
    delegated.cluster.fail(REVIEWS, 500, 503)
    delegated.cluster.fail(TOKENREVIEWS, 429)
    response = delegated.session(jack).get(delegated.url(queries(namespace)), timeout=30)
    assert response.status_code == 200, response.text
    assert jack.token_reviews() == 1 and len(jack.reviews("list")) == 1
    assert delegated.cluster.failures[REVIEWS] == [] and delegated.cluster.failures[TOKENREVIEWS] == []


def test_impersonation_is_authorized_and_then_acts_as_the_user(delegated):
    kate = delegated.actor("kate")
    target = delegated.actor("target")
    namespace = delegated.namespace()
    session = delegated.session(kate)
    session.headers.update({"Impersonate-User": target.name, "Impersonate-Group": "team-x"})
    response = session.get(delegated.url(queries(namespace)), timeout=10)
    assert response.status_code == 200, response.text
    checks = [r["resourceAttributes"] for r in kate.reviews("impersonate")]
    assert checks == [
        {"namespace": "", "verb": "impersonate", "group": "", "version": "", "resource": "users", "subresource": "",
         "name": target.name},
        {"namespace": "", "verb": "impersonate", "group": "", "version": "", "resource": "groups",
         "subresource": "", "name": "team-x"}]
    (review,) = target.reviews("list")
    assert review["groups"] == ["team-x", "system:authenticated"]
    kate.deny("impersonate", "no")
    session.headers["Impersonate-User"] = "someone-else"
    refused = session.get(delegated.url(queries(namespace)), timeout=10)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f'users "someone-else" is forbidden: User "{kate.name}" cannot impersonate resource "users" in API group "" '
        "at the cluster scope: no")
