"""Malformed requests get a Status with the right 4xx code, never a 500 or a hang."""
from __future__ import annotations

import json

import pytest

QUERY = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": "q"},
         "spec": {"input": "x"}}
JSON, MERGE, JSON_PATCH, APPLY = ("application/json", "application/merge-patch+json",
                                  "application/json-patch+json", "application/apply-patch+yaml")


def body(value, content_type=JSON) -> dict:
    data = value if isinstance(value, (str, bytes)) else json.dumps(value)
    return {"data": data, "headers": {"Content-Type": content_type}}


def with_meta(**meta) -> dict:
    return body({**QUERY, "metadata": {"name": "a", **meta}})


CASES = [
    ("post", "", body("[1,2]"), 400),
    ("post", "", body("null"), 400),
    ("post", "", body(b"\xff\xfe"), 400),
    ("post", "", body("a: [", "application/yaml"), 400),
    ("post", "", body("!!python/object/apply:os.system ['true']", "application/yaml"), 400),
    ("post", "", body("{}", "text/plain"), 415),
    ("post", "", with_meta(labels="x"), 422),
    ("post", "", with_meta(labels={"a": 1}), 422),
    ("post", "", with_meta(finalizers="x"), 422),
    ("post", "", with_meta(ownerReferences=[{"uid": 1}]), 422),
    ("post", "", body({**QUERY, "spec": "str"}), 422),
    ("post", "", body({**QUERY, "spec": {"input": "x", "parameters": "not a list"}}), 422),
    ("get", "?labelSelector=a+in+(", {}, 400),
    ("get", "?labelSelector=(((", {}, 400),
    ("get", "?fieldSelector=metadata.name", {}, 400),
    ("get", "?limit=99999999999999999999", {}, 400),
    ("get", "?continue=%25%25%25", {}, 400),
    ("get", "?watch=true&resourceVersion=abc", {}, 400),
    ("get", "/q", {"headers": {"Accept": "application/json;as=Table;g=meta.k8s.io;v=v9"}}, 406),
    ("patch", "/q", body([{"op": "remove", "path": "/metadata"}], JSON_PATCH), 400),
    ("patch", "/q", body([{"op": "bogus"}], JSON_PATCH), 422),
    ("patch", "/q", body([1], JSON_PATCH), 422),
    ("patch", "/q", body({"metadata": {"resourceVersion": {"x": 1}}}, MERGE), 409),
    ("patch", "/q/status", body({"status": "x"}, MERGE), 422),
    ("patch", "/new?fieldManager=m", body("[1]", APPLY), 400),
    ("patch", "/new?fieldManager=m", body({**QUERY, "metadata": "x"}, APPLY), 400),
    ("delete", "/q", body("[1]"), 400),
    ("delete", "/q", body({"preconditions": "x"}), 400),
    ("delete", "/q", body({"dryRun": "All"}), 400),
    ("delete", "/q", body({"preconditions": {"uid": 5}}), 400),
    ("delete", "", body({"propagationPolicy": 5}), 400),
]


@pytest.mark.parametrize(("method", "suffix", "kwargs", "code"), CASES,
                         ids=[f"{c[0]}{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_malformed_request_gets_a_status_error(api, server, namespace, method, suffix, kwargs, code):
    base = f"{server.url}/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/queries"
    assert api.post(base, json=QUERY).status_code == 201
    response = getattr(api, method)(base + suffix, timeout=10, **kwargs)
    assert response.status_code == code, response.text
    status = response.json()
    assert status["kind"] == "Status" and status["code"] == code and status["message"]
    assert api.get(f"{base}/q").json()["spec"]["input"] == "x"  # nothing half-written
