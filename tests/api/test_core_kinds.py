"""The core kinds of standalone mode in-process (Flask's test client on a SQLite file): what
kube-apiserver's own strategies and codecs do that kubectl relies on, and the answers to bad
input. The kubectl view of the same is tests/e2e/test_standalone.py."""
from __future__ import annotations

import base64

from ark.machinery import protobuf

NS = "/api/v1/namespaces"


def namespace(client, name: str = "demo") -> None:
    created = client.post(NS, json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert created.status_code == 201, created.get_json()


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, raw)


def test_secret_string_data_is_folded_into_data_and_type_defaults(local_app):
    client = local_app.test_client()
    namespace(client)
    created = client.post(f"{NS}/demo/secrets", json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                                      "data": {"a": base64.b64encode(b"1").decode()},
                                                      "stringData": {"b": "2"}})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert "stringData" not in body and body["type"] == "Opaque"
    assert {k: base64.b64decode(v) for k, v in body["data"].items()} == {"a": b"1", "b": b"2"}
    changed = client.patch(f"{NS}/demo/secrets/s", json={"type": "kubernetes.io/tls"},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert changed.status_code == 422 and changed.get_json()["details"]["causes"][0]["field"] == "type"
    bad = client.post(f"{NS}/demo/secrets", json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"},
                                                  "data": {"bad key": "!!"}})
    assert bad.status_code == 422
    assert {c["field"] for c in bad.get_json()["details"]["causes"]} == {"data[bad key]"}


def test_immutable_configmap_data_cannot_change(local_app):
    client = local_app.test_client()
    namespace(client)
    url = f"{NS}/demo/configmaps"
    assert client.post(url, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                  "data": {"k": "v"}, "immutable": True}).status_code == 201
    refused = client.patch(f"{url}/c", json={"data": {"k": "w"}},
                           headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert refused.status_code == 422, refused.get_json()
    assert "field is immutable when `immutable` is set" in refused.get_json()["message"]


def test_strategic_merge_patch_is_still_415_for_ark_kinds(local_app):
    client = local_app.test_client()
    response = client.patch("/apis/ark.mckinsey.com/v1alpha1/namespaces/default/queries/q", json={},
                            headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert response.status_code == 415


def test_protobuf_bodies_of_core_kinds_are_read_and_bad_ones_refused(local_app):
    client = local_app.test_client()
    headers = {"Content-Type": protobuf.MEDIA_TYPE}
    ns = envelope("v1", "Namespace", _field(1, _field(1, b"from-protobuf")))
    created = client.post(NS, data=ns, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["metadata"]["name"] == "from-protobuf"
    assert client.post(NS, data=b"k8s\x00\xff", headers=headers).status_code == 400
    assert client.post(NS, data=b"not protobuf", headers=headers).status_code == 400
    query = envelope("ark.mckinsey.com/v1alpha1", "Query", b"")
    ark = client.post("/apis/ark.mckinsey.com/v1alpha1/namespaces/default/queries", data=query, headers=headers)
    assert ark.status_code == 415


def test_events_are_selected_by_their_involved_object(local_app):
    client = local_app.test_client()
    url = f"{NS}/default/events"
    for name, target in (("e1", "q1"), ("e2", "q2"), ("e3", "q1")):
        event = {"metadata": {"name": name}, "involvedObject": {"kind": "Query", "name": target}, "reason": "R"}
        assert client.post(url, json=event).status_code == 201  # apiVersion and kind from the URL, as kopf sends
    names = [e["metadata"]["name"] for e in client.get(url, query_string={
        "fieldSelector": "involvedObject.name=q1,involvedObject.kind=Query"}).get_json()["items"]]
    assert names == ["e1", "e3"]
    first = client.get(url, query_string={"fieldSelector": "involvedObject.name=q1", "limit": "1"}).get_json()
    assert [e["metadata"]["name"] for e in first["items"]] == ["e1"] and first["metadata"]["continue"]
    rest = client.get(url, query_string={"fieldSelector": "involvedObject.name=q1",
                                          "continue": first["metadata"]["continue"]}).get_json()
    assert [e["metadata"]["name"] for e in rest["items"]] == ["e3"]
    unknown = client.get(url, query_string={"fieldSelector": "spec.nothing=x"})
    assert unknown.status_code == 400 and unknown.get_json()["message"] == "field label not supported: spec.nothing"
