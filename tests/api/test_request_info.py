"""The request seam: what each request is (verb, group, version, resource, namespace, name), and
the resource view's dispatch on it, in-process."""
from __future__ import annotations

import pytest
from arkrest import obj
from werkzeug.datastructures import MultiDict

from ark.api.request_info import RequestInfo, parse_request_info

BASE = "/apis/ark.mckinsey.com/v1alpha1"


def info(method: str, path: str, **query: str) -> RequestInfo:
    return parse_request_info(method, path, MultiDict(query))


@pytest.mark.parametrize(("method", "path", "query", "verb", "namespace", "resource", "name", "subresource"), [
    ("GET", f"{BASE}/namespaces/ns/queries", {}, "list", "ns", "queries", "", ""),
    ("GET", f"{BASE}/namespaces/ns/queries", {"watch": "True"}, "watch", "ns", "queries", "", ""),
    ("GET", f"{BASE}/namespaces/ns/queries", {"watch": "0"}, "list", "ns", "queries", "", ""),
    ("GET", f"{BASE}/queries", {"watch": ""}, "watch", "", "queries", "", ""),
    ("GET", f"{BASE}/namespaces/ns/queries", {"fieldSelector": "metadata.name=q1"}, "list", "ns", "queries", "q1", ""),
    ("POST", f"{BASE}/namespaces/ns/queries", {}, "create", "ns", "queries", "", ""),
    ("DELETE", f"{BASE}/namespaces/ns/queries", {}, "deletecollection", "ns", "queries", "", ""),
    ("GET", f"{BASE}/namespaces/ns/queries/q1", {}, "get", "ns", "queries", "q1", ""),
    ("HEAD", f"{BASE}/namespaces/ns/queries/q1", {}, "get", "ns", "queries", "q1", ""),
    ("PUT", f"{BASE}/namespaces/ns/queries/q1/status", {}, "update", "ns", "queries", "q1", "status"),
    ("PATCH", f"{BASE}/namespaces/ns/queries/q1", {}, "patch", "ns", "queries", "q1", ""),
    ("DELETE", f"{BASE}/namespaces/ns/queries/q1", {}, "delete", "ns", "queries", "q1", ""),
    ("GET", "/api/v1/namespaces/ns", {}, "get", "ns", "namespaces", "ns", ""),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, "update", "ns", "namespaces", "ns", "finalize"),
])
def test_resource_requests(method, path, query, verb, namespace, resource, name, subresource):
    found = info(method, path, **query)
    assert found.is_resource_request
    assert (found.verb, found.namespace, found.resource, found.name, found.subresource) == \
        (verb, namespace, resource, name, subresource)
    assert found.group == ("" if path.startswith("/api/") else "ark.mckinsey.com")


@pytest.mark.parametrize(("method", "path", "verb"), [
    ("GET", "/readyz", "get"), ("GET", "/apis", "get"), ("GET", "/apis/ark.mckinsey.com", "get"),
    ("GET", "/apis/ark.mckinsey.com/v1alpha1", "get"), ("POST", "/openapi/v3", "post"), ("GET", "/", "get"),
])
def test_non_resource_requests(method, path, verb):
    found = info(method, path)
    assert not found.is_resource_request
    assert (found.verb, found.path) == (verb, path)


def _with_namespace(app, name: str = "ns"):
    """A test client of ``app`` with namespace ``name`` created (objects go only into namespaces that exist)."""
    client = app.test_client()
    created = client.post("/api/v1/namespaces",
                          json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert created.status_code == 201, created.get_json()
    return client


def test_the_view_answers_what_each_path_allows(local_app):
    client = _with_namespace(local_app)
    url = f"{BASE}/namespaces/ns/queries"
    assert client.post(url, json=obj("q1")).status_code == 201
    for path, method, allowed in ((f"{BASE}/queries", "post", "GET"),
                                  (f"{url}/q1/status", "delete", "GET, PUT, PATCH"),
                                  (f"{url}/q1", "post", "GET, PUT, PATCH, DELETE")):
        response = getattr(client, method)(path)
        assert response.status_code == 405, (path, response.data)
        assert response.headers["Allow"] == allowed
        assert response.get_json()["reason"] == "MethodNotAllowed"
    trace = client.open(url, method="TRACE")
    assert trace.status_code == 405 and "GET" in trace.headers["Allow"]


@pytest.mark.parametrize("path", [f"{BASE}/namespaces/ns/queries/q1/scale", f"{BASE}/namespaces/ns/robots",
                                  f"{BASE}/namespaces/ns/queries/q1/status/more", "/apis/ark.mckinsey.com/v9/queries"])
def test_unknown_resources_and_subresources_are_404(local_app, path):
    response = local_app.test_client().get(path)
    assert response.status_code == 404
    assert response.get_json()["message"] == "the server could not find the requested resource"


def test_a_write_in_process_reads_back(local_app):
    client = _with_namespace(local_app)
    namespace_rv = int(client.get("/api/v1/namespaces/ns").get_json()["metadata"]["resourceVersion"])
    created = client.post(f"{BASE}/namespaces/ns/queries", json=obj("q1")).get_json()
    got = client.get(f"{BASE}/namespaces/ns/queries/q1").get_json()
    assert got == created
    assert got["metadata"]["resourceVersion"] == str(namespace_rv + 1)
