"""Discovery (/apis, /apis/G, /apis/G/V, /api), Accept negotiation, health and /version.

The app runs in-process: discovery is computed from the registry and must never touch the
store, so a fake store (with ``ping``) is enough here.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from flask import Flask

from ark.api import discovery
from ark.api.negotiation import (
    ALL_PARAMS,
    Document,
    MediaRange,
    Offer,
    etag_matches,
    negotiate,
    parse_accept,
    require,
)
from ark.app import create_app
from ark.kinds import REGISTRY
from ark.machinery.errors import ApiError
from ark.services import services
from ark.settings import Settings

GROUP = "ark.mckinsey.com"
V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
PROTOBUF = "application/vnd.kubernetes.protobuf"


class FakeStore:
    def __init__(self) -> None:
        self.error: Exception | None = None
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1
        if self.error is not None:
            raise self.error


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Flask:
    """One app per module: registering the blueprints serializes every document (OpenAPI takes a
    while). ``create_app`` does no I/O, and the fake store below proves discovery never needs any."""
    return create_app(Settings(sqlite_path=str(tmp_path_factory.mktemp("discovery") / "ark.db")))


@pytest.fixture
def fake_store(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    store = FakeStore()
    monkeypatch.setattr(services(app), "store", store)
    return store


@pytest.fixture
def client(app: Flask, fake_store: FakeStore):
    return app.test_client()


def _aggregated(client, accept: str = V2):
    response = client.get("/apis", headers={"Accept": accept})
    assert response.status_code == 200, response.data
    return response, response.get_json()


# ---------------------------------------------------------------------------------------------
# negotiation


def test_parse_accept_orders_by_q_then_specificity_then_position():
    ranges = parse_accept("*/*;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io, text/*, application/yaml;q=0")
    assert [r.media_type for r in ranges] == ["application/json", "text/*", "*/*"]
    assert ranges[0].params == {"as": "Table", "v": "v1", "g": "meta.k8s.io"}
    assert ranges[2].q == 0.5
    assert parse_accept(None) == [MediaRange("*", "*")]
    assert parse_accept("") == [MediaRange("*", "*")]
    assert parse_accept("*")[0].media_type == "*/*"
    assert parse_accept('Application/JSON; Charset="utf-8"')[0].params == {"charset": "utf-8"}


def test_negotiate_needs_exact_params_and_skips_protobuf():
    offers = (
        Offer("application/json", {"as": "Table", "g": "meta.k8s.io", "v": "v1"}, value="table"),
        Offer("application/json", value="json"),
    )
    kubectl = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
               "application/json")
    assert negotiate(kubectl, offers).offer.value == "table"
    assert negotiate(f"{PROTOBUF};as=Table;v=v1;g=meta.k8s.io,application/json", offers).offer.value == "json"
    assert negotiate("*/*", offers).offer.value == "json"
    assert negotiate("application/*", offers).offer.value == "json"
    assert negotiate("application/json;as=Table;g=meta.k8s.io;v=v1beta1", offers) is None
    assert negotiate(PROTOBUF, offers) is None
    assert negotiate("application/json;profile=nopeer;charset=utf-8", offers).offer.value == "json"
    assert negotiate("application/json;as=Foo", offers, ignore=ALL_PARAMS).offer.value == "table"
    match = negotiate("application/json;as=Table;g=meta.k8s.io;v=v1;q=0.9", offers)
    assert match.range.q == 0.9 and match.offer.header == "application/json;as=Table;g=meta.k8s.io;v=v1"
    with pytest.raises(ApiError) as raised:
        require(PROTOBUF, offers)
    assert raised.value.code == 406
    assert raised.value.message == "only the following media types are accepted: application/json"


def test_etag_matches():
    assert etag_matches('"abc"', '"abc"')
    assert etag_matches('"x", W/"abc"', '"abc"')
    assert etag_matches("*", '"abc"')
    assert not etag_matches('"abd"', '"abc"')
    assert not etag_matches(None, '"abc"')


# ---------------------------------------------------------------------------------------------
# /apis


def test_aggregated_v2_content_type_etag_and_vary(client):
    response, body = _aggregated(client, f"{V2},{V2BETA1},application/json")
    assert response.headers["Content-Type"] == V2
    assert response.headers["Vary"] == "Accept"
    assert response.headers["ETag"] == '"' + hashlib.sha512(response.data).hexdigest().upper() + '"'
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"
    [group] = body["items"]
    assert group["metadata"]["name"] == GROUP
    versions = [v["version"] for v in group["versions"]]
    assert versions[0] == "v1alpha1"
    assert set(versions) == {"v1alpha1", "v1prealpha1"}
    assert all(v["freshness"] == "Current" for v in group["versions"])


def test_aggregated_params_order_insensitive_and_profile_ignored(client):
    response, body = _aggregated(client, "application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io;"
                                         "profile=nopeer")
    assert response.headers["Content-Type"] == V2
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"


def test_aggregated_v2beta1_only(client):
    response, body = _aggregated(client, V2BETA1)
    assert response.headers["Content-Type"] == V2BETA1
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert body["items"] == _aggregated(client, V2)[1]["items"]


def test_aggregated_resources(client):
    _, body = _aggregated(client)
    versions = {v["version"]: v["resources"] for v in body["items"][0]["versions"]}
    served = {(k.version, k.plural) for k in REGISTRY}
    assert {(v, r["resource"]) for v, rs in versions.items() for r in rs} == served
    for version, resources in versions.items():
        assert [r["resource"] for r in resources] == sorted(r["resource"] for r in resources)
        for resource in resources:
            kind = REGISTRY.lookup(version, resource["resource"])
            gvk = {"group": GROUP, "version": version, "kind": kind.kind}
            assert resource["responseKind"] == gvk
            assert resource["scope"] == "Namespaced"
            assert resource["singularResource"] == kind.singular
            assert resource["verbs"] == sorted(resource["verbs"])
            assert {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"} == set(
                resource["verbs"])
            assert resource["subresources"] == [{"subresource": "status", "responseKind": gvk,
                                                 "verbs": ["get", "patch", "update"]}]
            assert ("shortNames" in resource) == bool(kind.short_names)
            assert ("categories" in resource) == bool(kind.categories)
    assert {r["responseKind"]["kind"] for r in versions["v1prealpha1"]} == {"A2AServer", "ExecutionEngine"}


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, f"{PROTOBUF},application/json",
                                    f"{V2.replace('v=v2', 'v=v9')},application/json;q=0.5"])
def test_apis_legacy_group_list(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/apis", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body["kind"] == "APIGroupList"
    assert body["apiVersion"] == "v1"
    [group] = body["groups"]
    assert group["name"] == GROUP
    assert group["preferredVersion"] == {"groupVersion": f"{GROUP}/v1alpha1", "version": "v1alpha1"}
    assert group["versions"][0] == group["preferredVersion"]
    assert {"groupVersion": f"{GROUP}/v1prealpha1", "version": "v1prealpha1"} in group["versions"]


@pytest.mark.parametrize("accept", [PROTOBUF, "application/yaml", "application/cbor",
                                    "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"])
def test_apis_not_acceptable(client, accept):
    response = client.get("/apis", headers={"Accept": accept})
    assert response.status_code == 406
    status = response.get_json()
    assert status["kind"] == "Status" and status["reason"] == "NotAcceptable" and status["code"] == 406


def test_apis_if_none_match_gives_304(client):
    first = client.get("/apis", headers={"Accept": V2})
    etag = first.headers["ETag"]
    again = client.get("/apis", headers={"Accept": V2, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    # Another representation has another ETag.
    legacy = client.get("/apis", headers={"Accept": "application/json", "If-None-Match": etag})
    assert legacy.status_code == 200 and legacy.headers["ETag"] != etag


def test_documents_are_built_once_and_never_touch_the_store(app, client, fake_store):
    docs = services(app).discovery
    assert isinstance(docs, discovery.DiscoveryDocs)
    for _ in range(3):
        client.get("/apis", headers={"Accept": V2})
        client.get(f"/apis/{GROUP}/v1alpha1")
    assert services(app).discovery is docs
    assert client.get("/apis", headers={"Accept": V2}).data == docs.aggregated["v2"].body
    assert client.get(f"/apis/{GROUP}/v1alpha1").data == docs.resource_lists["v1alpha1"].body
    assert fake_store.pings == 0


def test_registering_without_services_fails_loudly():
    app = Flask("no-services")
    with pytest.raises(KeyError, match=r"'no-services' has no Ark services: build it with ark.app.create_app"):
        app.register_blueprint(discovery.blueprint)
    assert not app.extensions


def test_document_hash_etag_and_compact_sorted_body():
    document = Document.of({"b": 1, "a": ["é"]}, "application/json;as=X")
    assert document.body == '{"a":["é"],"b":1}'.encode()
    assert document.hash == hashlib.sha512(document.body).hexdigest().upper()
    assert document.etag == f'"{document.hash}"'
    assert document.content_type == "application/json;as=X"
    assert Document.of(None).content_type == "application/json"


# ---------------------------------------------------------------------------------------------
# /apis/G, /apis/G/V, /api


def test_api_group(client):
    response = client.get(f"/apis/{GROUP}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["kind"] == "APIGroup" and body["apiVersion"] == "v1" and body["name"] == GROUP
    assert body["preferredVersion"]["version"] == "v1alpha1"
    assert [v["version"] for v in body["versions"]] == ["v1alpha1", "v1prealpha1"]


@pytest.mark.parametrize("version", ["v1alpha1", "v1prealpha1"])
def test_api_resource_list(client, version):
    response = client.get(f"/apis/{GROUP}/{version}", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body["kind"] == "APIResourceList" and body["apiVersion"] == "v1"
    assert body["groupVersion"] == f"{GROUP}/{version}"
    names = [r["name"] for r in body["resources"]]
    assert names == sorted(names)
    kinds = REGISTRY.in_version(version)
    assert set(names) == {k.plural for k in kinds} | {f"{k.plural}/status" for k in kinds}
    for resource in body["resources"]:
        assert resource["namespaced"] is True
        assert "group" not in resource and "version" not in resource
        if resource["name"].endswith("/status"):
            kind = REGISTRY.lookup(version, resource["name"].split("/")[0])
            assert resource == {"name": f"{kind.plural}/status", "singularName": "", "namespaced": True,
                                "kind": kind.kind, "verbs": ["get", "patch", "update"]}
        else:
            kind = REGISTRY.lookup(version, resource["name"])
            assert resource["singularName"] == kind.singular
            assert resource["kind"] == kind.kind
            assert resource["verbs"] == ["delete", "deletecollection", "get", "list", "patch", "create", "update",
                                         "watch"]
            assert resource["storageVersionHash"] == kind.storage_version_hash
            assert ("shortNames" in resource) == bool(kind.short_names)
            assert ("categories" in resource) == bool(kind.categories)


def test_v1prealpha1_kinds(client):
    body = client.get(f"/apis/{GROUP}/v1prealpha1").get_json()
    assert {r["kind"] for r in body["resources"]} == {"A2AServer", "ExecutionEngine"}
    for kind in REGISTRY.in_version("v1prealpha1"):
        assert kind.api_version == f"{GROUP}/v1prealpha1"


def test_unknown_versions_are_404_status(client):
    for path in (f"/apis/{GROUP}/v9", "/api/v9"):
        response = client.get(path)
        assert response.status_code == 404
        body = response.get_json()
        assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404


def test_resource_list_not_acceptable_for_protobuf_only(client):
    assert client.get(f"/apis/{GROUP}/v1alpha1", headers={"Accept": PROTOBUF}).status_code == 406
    ok = client.get(f"/apis/{GROUP}/v1alpha1", headers={"Accept": f"{PROTOBUF}, application/json"})
    assert ok.status_code == 200


# ---------------------------------------------------------------------------------------------
# health and /version


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_ok(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.data == b"ok"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_readyz_verbose_lists_checks(client):
    response = client.get("/readyz?verbose")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "[+]ping ok\n[+]database ok\nreadyz check passed\n"
    excluded = client.get("/readyz?verbose&exclude=database").get_data(as_text=True)
    assert "[+]database excluded: ok\n" in excluded


def test_readyz_fails_when_ping_raises_and_logs_the_withheld_reason(client, fake_store, caplog):
    fake_store.error = RuntimeError("connection refused")
    response = client.get("/readyz")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "[+]ping ok\n" in text
    assert "[-]database failed: reason withheld\n" in text  # probes are anonymous, as in kube-apiserver
    assert "RuntimeError: connection refused" in caplog.text
    assert text.endswith("readyz check failed\n")
    assert client.get("/readyz/database").status_code == 500
    # A database outage must not make the kubelet restart the pod.
    assert client.get("/livez").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_readyz_extra_checks(app, client, caplog, monkeypatch):
    def auth_not_loaded():
        raise LookupError("extension-apiserver-authentication not loaded")

    monkeypatch.setattr(services(app), "readyz_checks", {"authentication": auth_not_loaded})
    text = client.get("/readyz").get_data(as_text=True)
    assert "[-]authentication failed: reason withheld" in text
    assert "LookupError: extension-apiserver-authentication not loaded" in caplog.text
    assert client.get("/readyz/ping").data == b"ok"
    assert client.get("/readyz/nope").status_code == 404


def test_version(client):
    response = client.get("/version")
    assert response.status_code == 200
    body = json.loads(response.data)
    assert set(body) >= {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                         "compiler", "platform"}
    assert body["gitVersion"].startswith("v")
    assert body["goVersion"].startswith("python3.")
    assert body["compiler"] == "cpython"
    assert "/" in body["platform"]
