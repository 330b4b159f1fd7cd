"""The audit log (README "Security"): an audit.k8s.io/v1 Event at level Metadata per request,
with the user, the verb, the object and the outcome, and the id the response's Audit-Id carries."""
from __future__ import annotations

import datetime as dt
import json
import re

from tests.security.conftest import eventually
from tests.security.test_authentication import QUERY, queries

MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def one_event(delegated, audit_id: str, stage: str = "ResponseComplete") -> dict:
    (event,) = [e for e in delegated.audit_events(audit_id) if e["stage"] == stage]
    return event


def test_a_create_is_audited_with_who_what_and_the_outcome(delegated):
    lena = delegated.actor("lena", groups=("writers",))
    namespace = delegated.namespace()
    session = delegated.session(lena)
    session.headers["User-Agent"] = "audit-test/1.0"
    created = session.post(delegated.url(queries(namespace)), params={"fieldManager": "audit-test"}, timeout=10,
                           json=dict(QUERY, metadata={"generateName": "q-"}))
    assert created.status_code == 201
    name = created.json()["metadata"]["name"]
    audit_id = created.headers["Audit-Id"]
    event = one_event(delegated, audit_id)
    assert {key: event[key] for key in ("kind", "apiVersion", "level", "auditID", "stage", "verb", "requestURI")} == {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
        "stage": "ResponseComplete", "verb": "create",
        "requestURI": f"/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries?fieldManager=audit-test"}
    assert event["user"] == {"username": lena.name, "uid": f"uid-{lena.name}",
                             "groups": ["writers", "system:authenticated"]}
    assert event["objectRef"] == {"resource": "queries", "namespace": namespace, "name": name,
                                  "apiGroup": "ark.mckinsey.com", "apiVersion": "v1alpha1"}
    assert event["responseStatus"] == {"metadata": {}, "code": 201}
    assert event["sourceIPs"] == ["127.0.0.1"] and event["userAgent"] == "audit-test/1.0"
    assert event["annotations"] == {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    assert MICRO_TIME.match(event["requestReceivedTimestamp"]) and MICRO_TIME.match(event["stageTimestamp"])
    assert event["requestReceivedTimestamp"] <= event["stageTimestamp"]
    received = dt.datetime.fromisoformat(event["requestReceivedTimestamp"])
    assert abs((dt.datetime.now(dt.UTC) - received).total_seconds()) < 300
    assert "impersonatedUser" not in event and "requestObject" not in event  # Metadata: no bodies


def test_a_denied_delete_is_audited_with_the_refusal(delegated):
    mona = delegated.actor("mona")
    mona.deny("delete", "read only")
    namespace = delegated.namespace()
    refused = delegated.session(mona).delete(delegated.url(queries(namespace, "q1")), timeout=10)
    assert refused.status_code == 403
    event = one_event(delegated, refused.headers["Audit-Id"])
    assert event["verb"] == "delete"
    assert event["user"]["username"] == mona.name
    assert event["objectRef"] == {"resource": "queries", "namespace": namespace, "name": "q1",
                                  "apiGroup": "ark.mckinsey.com", "apiVersion": "v1alpha1"}
    assert event["responseStatus"] == {"metadata": {}, "code": 403, "status": "Failure", "reason": "Forbidden",
                                       "message": refused.json()["message"]}
    assert event["annotations"] == {"authorization.k8s.io/decision": "forbid",
                                    "authorization.k8s.io/reason": "read only"}


def test_a_watch_is_audited_when_it_starts_and_when_it_ends(delegated):
    nina = delegated.actor("nina")
    namespace = delegated.namespace()
    with delegated.session(nina).get(delegated.url(queries(namespace)), params={"watch": "1"}, stream=True,
                                     timeout=30) as watch:
        audit_id = watch.headers["Audit-Id"]
        started = one_event(delegated, audit_id, "ResponseStarted")
        assert (started["verb"], started["responseStatus"]["code"]) == ("watch", 200)
        assert started["objectRef"] == {"resource": "queries", "namespace": namespace,
                                        "apiGroup": "ark.mckinsey.com", "apiVersion": "v1alpha1"}
        assert not [e for e in delegated.audit_events(audit_id) if e["stage"] == "ResponseComplete"]
    complete = eventually(lambda: [e for e in delegated.audit_events(audit_id) if e["stage"] == "ResponseComplete"],
                          "the watch's ResponseComplete event")
    assert complete[0]["user"]["username"] == nina.name
    assert complete[0]["stageTimestamp"] >= started["stageTimestamp"]


def test_kube_apiservers_audit_id_is_carried_through(delegated):
    olga = delegated.actor("olga")
    namespace = delegated.namespace()
    listed = delegated.kubectl(olga, "get", "queries", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    (audit_id,) = [audit for path, audit in delegated.cluster.proxied if path.endswith(f"/{namespace}/queries")]
    event = one_event(delegated, audit_id)
    assert (event["verb"], event["user"]["username"]) == ("list", olga.name)
    direct = delegated.session(olga).get(delegated.url(queries(namespace)), headers={"Audit-Id": "from-the-proxy-1"},
                                         timeout=10)
    assert direct.headers["Audit-Id"] == "from-the-proxy-1"
    assert one_event(delegated, "from-the-proxy-1")["verb"] == "list"


def test_every_response_has_an_audit_id_and_health_checks_are_not_audited(delegated):
    unauthorized = delegated.session().get(delegated.url("/apis"), timeout=10,
                                           headers={"Authorization": "Bearer nobody-knows-this"})
    assert unauthorized.status_code == 401
    event = one_event(delegated, unauthorized.headers["Audit-Id"])
    assert event["responseStatus"]["code"] == 401 and event["user"] == {}
    health = delegated.session().get(delegated.url("/readyz"), headers={"Audit-Id": "health-probe-1"}, timeout=10)
    assert health.headers["Audit-Id"] == "health-probe-1"
    assert delegated.audit_events("health-probe-1") == []
    lines = delegated.audit_log.read_text().splitlines()
    assert all(json.loads(line)["kind"] == "Event" for line in lines)
