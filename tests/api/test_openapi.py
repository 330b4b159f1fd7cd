"""OpenAPI v3/v2 generated from the kinds' marshmallow schemas, the endpoints, and the snapshot."""
from __future__ import annotations

import hashlib
import json

import pytest
from flask import Flask
from marshmallow import Schema, fields

from ark.api import openapi
from ark.app import create_app
from ark.kinds import REGISTRY
from ark.kinds import fields as ark_fields
from ark.kinds.registry import Kind
from ark.registry.strategy import Strategy
from ark.services import services
from ark.settings import Settings

GROUP = "ark.mckinsey.com"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
SMP = "strategic-merge-patch"
PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Flask:
    """One app per module: registering the blueprint builds every document (which takes a while)."""
    return create_app(Settings(sqlite_path=str(tmp_path_factory.mktemp("openapi") / "ark.db")))


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture(scope="module")
def v3() -> dict[str, dict]:
    return {version: openapi.build_v3(REGISTRY, version) for version in REGISTRY.versions()}


@pytest.fixture(scope="module")
def v2() -> dict:
    return openapi.build_v2(REGISTRY)


def _schemas(doc: dict) -> dict:
    return doc["components"]["schemas"]


def _spec(v3: dict, kind: str, version: str = "v1alpha1") -> dict:
    return _schemas(v3[version])[f"com.mckinsey.ark.{version}.{kind}"]["properties"]["spec"]


def _walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


# ---------------------------------------------------------------------------------------------
# Schemas


def test_every_kind_has_a_model_with_gvk(v3):
    for kind in REGISTRY:
        schemas = _schemas(v3[kind.version])
        model = schemas[f"com.mckinsey.ark.{kind.version}.{kind.kind}"]
        gvk = {"group": GROUP, "kind": kind.kind, "version": kind.version}
        assert model["x-kubernetes-group-version-kind"] == [gvk]
        assert set(model["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
        assert model["properties"]["metadata"]["allOf"] == [{"$ref": f"#/components/schemas/{META}.ObjectMeta"}]
        assert model["properties"]["spec"]["type"] == "object"
        listed = schemas[f"com.mckinsey.ark.{kind.version}.{kind.list_kind}"]
        assert listed["x-kubernetes-group-version-kind"] == [{**gvk, "kind": kind.list_kind}]
        assert listed["properties"]["items"]["items"] == {
            "$ref": f"#/components/schemas/com.mckinsey.ark.{kind.version}.{kind.kind}"}
        # Only this version's kinds are in a group-version document.
        other = [k for k in REGISTRY if k.version != kind.version]
        assert not any(f"com.mckinsey.ark.{k.version}.{k.kind}" in schemas for k in other)


def test_object_meta_is_defined(v3):
    meta = _schemas(v3["v1alpha1"])[f"{META}.ObjectMeta"]["properties"]
    for name in ("name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation",
                 "creationTimestamp", "deletionTimestamp", "finalizers", "ownerReferences", "managedFields",
                 "generateName"):
        assert "description" in meta[name], name
    assert meta["labels"]["additionalProperties"] == {"type": "string"}
    assert meta["creationTimestamp"] == {**meta["creationTimestamp"], "type": "string", "format": "date-time"}
    assert meta["ownerReferences"]["items"] == {"$ref": f"#/components/schemas/{META}.OwnerReference"}
    owner = _schemas(v3["v1alpha1"])[f"{META}.OwnerReference"]
    assert owner["required"] == ["apiVersion", "kind", "name", "uid"]
    assert "continue" in _schemas(v3["v1alpha1"])[f"{META}.ListMeta"]["properties"]


def test_query_spec_enum_default_required(v3):
    spec = _spec(v3, "Query")
    assert spec["properties"]["type"]["enum"] == ["user", "messages"]
    assert spec["properties"]["type"]["default"] == "user"
    assert spec["properties"]["type"]["type"] == "string"
    assert "input" in spec["required"]
    assert spec["properties"]["input"]["x-kubernetes-preserve-unknown-fields"] is True
    # Nested schemas are inlined with their own constraints (kubectl explain query.spec.target).
    target = spec["properties"]["target"]
    assert target["type"] == "object"
    assert set(target["required"]) == {"name", "type"}
    assert target["properties"]["type"]["enum"] == ["agent", "team", "model", "tool"]
    assert target["properties"]["name"]["minLength"] == 1


def test_model_spec_provider(v3):
    spec = _spec(v3, "Model")
    provider = spec["properties"]["provider"]
    assert provider["type"] == "string"
    assert provider["enum"] == ["openai", "azure", "bedrock"]
    assert "provider" in spec["required"]


def test_constraints_reach_the_schema(v3):
    status = _schemas(v3["v1alpha1"])["com.mckinsey.ark.v1alpha1.Query"]["properties"]["status"]
    condition = status["properties"]["conditions"]["items"]
    assert condition["properties"]["reason"]["pattern"].startswith("^[A-Za-z]")
    assert condition["properties"]["reason"]["maxLength"] == 1024
    assert condition["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert condition["properties"]["observedGeneration"]["minimum"] == 0
    assert condition["properties"]["observedGeneration"]["format"] == "int64"


def test_descriptions_of_fields_are_published(v3):
    """The descriptions given to the fields reach the document (kubectl explain prints them)."""
    described = 0
    for kind in REGISTRY:
        model = _schemas(v3[kind.version])[f"com.mckinsey.ark.{kind.version}.{kind.kind}"]
        for _, node in _walk(model["properties"]["spec"]):
            if isinstance(node, dict) and "description" in node:
                described += 1
    assert described > 0


def test_no_closed_objects(v3, v2):
    """Structural schemas prune unknown fields: never `additionalProperties: false`."""
    for doc in (*v3.values(), v2):
        for path, node in _walk(doc):
            if isinstance(node, dict):
                assert node.get("additionalProperties") is not False, path


def test_custom_field_mappings():
    class Sub(Schema):
        x = ark_fields.String()

    class Spec(Schema):
        s = ark_fields.String(validate=[ark_fields.length(2, 5), ark_fields.pattern("^a")])
        i = ark_fields.Integer(metadata={"format": "int32"}, validate=[ark_fields.bounds(1, 9)], load_default=3)
        n = ark_fields.Number()
        b = ark_fields.Boolean(load_default=False)
        ios = ark_fields.IntOrString()
        free = ark_fields.FreeForm()
        obj = ark_fields.FreeObject()
        when = ark_fields.DateTime()
        many = fields.List(ark_fields.String(), validate=[ark_fields.length(1, 3)])
        sub = fields.Nested(Sub, required=True, metadata={"description": "a sub"})
        strings = fields.Dict(keys=ark_fields.String(), values=ark_fields.String())

    kind = Kind(kind="Thing", plural="things", singular="thing", version="v1alpha1", description="A thing.",
                spec=Spec(), status=Sub(), strategy_class=Strategy)
    from ark.kinds.registry import Registry

    doc = openapi.build_v3(Registry([kind]), "v1alpha1")
    props = _schemas(doc)["com.mckinsey.ark.v1alpha1.Thing"]["properties"]["spec"]["properties"]
    assert props["s"] == {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^a"}
    assert props["i"] == {"type": "integer", "format": "int32", "minimum": 1, "maximum": 9, "default": 3}
    assert props["n"] == {"type": "number"}
    assert props["b"] == {"type": "boolean", "default": False}
    assert props["ios"] == {"x-kubernetes-int-or-string": True}
    assert props["free"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["obj"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["many"] == {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string"}}
    assert props["sub"] == {"type": "object", "description": "a sub", "properties": {"x": {"type": "string"}}}
    assert props["strings"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert _schemas(doc)["com.mckinsey.ark.v1alpha1.Thing"]["properties"]["spec"]["required"] == ["sub"]


# ---------------------------------------------------------------------------------------------
# Paths


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield path, method, op


def test_paths_for_every_kind(v3):
    for kind in REGISTRY:
        base = f"/apis/{GROUP}/{kind.version}"
        collection = f"{base}/namespaces/{{namespace}}/{kind.plural}"
        paths = v3[kind.version]["paths"]
        expected = {
            collection: {"get": "list", "post": "post", "delete": "deletecollection"},
            f"{collection}/{{name}}": {"get": "get", "put": "put", "patch": "patch", "delete": "delete"},
            f"{collection}/{{name}}/status": {"get": "get", "put": "put", "patch": "patch"},
            f"{base}/{kind.plural}": {"get": "list"},
        }
        for path, actions in expected.items():
            item = paths[path]
            assert {m: item[m]["x-kubernetes-action"] for m in actions} == actions
            for method in actions:
                assert item[method]["x-kubernetes-group-version-kind"] == {
                    "group": GROUP, "kind": kind.kind, "version": kind.version}
            names = {p["name"] for p in item.get("parameters", [])}
            assert names == ({"namespace", "name"} if "{name}" in path else {"namespace"} if "{namespace}" in path
                             else set())


def test_operation_ids_are_unique(v3, v2):
    for doc in (*v3.values(), v2):
        ids = [op["operationId"] for _, _, op in _operations(doc)]
        assert len(ids) == len(set(ids))
    assert "patchArkMckinseyComV1alpha1NamespacedQuery" in [op["operationId"] for _, _, op in
                                                            _operations(v3["v1alpha1"])]


def test_patch_operations(v3):
    for doc in v3.values():
        patches = [op for _, method, op in _operations(doc) if method == "patch"]
        assert patches
        for op in patches:
            params = {p["name"]: p for p in op["parameters"]}
            assert set(params) == {"dryRun", "fieldManager", "fieldValidation", "force"}
            assert params["fieldValidation"]["in"] == "query"
            assert list(op["requestBody"]["content"]) == PATCH_TYPES
        for _, method, op in _operations(doc):
            if method in ("post", "put"):
                assert {p["name"] for p in op["parameters"]} == {"dryRun", "fieldManager", "fieldValidation"}
                assert op["requestBody"]["required"] is True
        assert SMP not in json.dumps(doc)


def test_query_param_verifier_finds_field_validation(v3):
    """What cli-runtime's QueryParamVerifierV3 looks for before trusting server-side validation."""
    for kind in REGISTRY:
        gvk = {"group": GROUP, "version": kind.version, "kind": kind.kind}
        found = any(
            method == "patch" and op["x-kubernetes-group-version-kind"] == gvk
            and any(p["name"] == "fieldValidation" for p in op["parameters"])
            for _, method, op in _operations(v3[kind.version])
        )
        assert found, kind.kind


def test_refs_resolve(v3, v2):
    for doc, prefix, defs in [(d, "#/components/schemas/", _schemas(d)) for d in v3.values()] + [
            (v2, "#/definitions/", v2["definitions"])]:
        for path, node in _walk(doc):
            if isinstance(node, dict) and "$ref" in node:
                assert node["$ref"].startswith(prefix), path
                assert node["$ref"][len(prefix):] in defs, path


def test_swagger_v2(v2):
    assert v2["swagger"] == "2.0"
    for kind in REGISTRY:
        model = v2["definitions"][f"com.mckinsey.ark.{kind.version}.{kind.kind}"]
        assert model["x-kubernetes-group-version-kind"] == [
            {"group": GROUP, "kind": kind.kind, "version": kind.version}]
        assert f"com.mckinsey.ark.{kind.version}.{kind.list_kind}" in v2["definitions"]
    for _, method, op in _operations(v2):
        if method == "patch":
            assert op["consumes"] == PATCH_TYPES
            assert "fieldValidation" in {p["name"] for p in op["parameters"]}
    assert SMP not in json.dumps(v2)
    assert v2["paths"][f"/apis/{GROUP}/v1alpha1/namespaces/{{namespace}}/queries"]
    assert v2["paths"][f"/apis/{GROUP}/v1prealpha1/namespaces/{{namespace}}/a2aservers"]


# ---------------------------------------------------------------------------------------------
# Endpoints


def test_v3_root_lists_only_our_group_versions(client):
    """Ark's group-versions, and the core kinds of standalone mode (``api/v1``)."""
    response = client.get("/openapi/v3")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    paths = response.get_json()["paths"]
    assert set(paths) == {f"apis/{GROUP}/v1alpha1", f"apis/{GROUP}/v1prealpha1", "api/v1"}
    for key, entry in paths.items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        digest = url.split("hash=")[1]
        assert digest == digest.upper() and len(digest) == 128


def test_v3_document_hash_etag_and_caching(client):
    url = client.get("/openapi/v3").get_json()["paths"][f"apis/{GROUP}/v1alpha1"]["serverRelativeURL"]
    digest = url.split("hash=")[1]

    plain = client.get(f"/openapi/v3/apis/{GROUP}/v1alpha1", headers={"Accept": "application/json"})
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "application/json"
    assert plain.headers["Vary"] == "Accept"
    assert plain.headers["ETag"] == f'"{digest}"'
    assert hashlib.sha512(plain.data).hexdigest().upper() == digest
    assert plain.get_json()["openapi"].startswith("3.0")
    assert "immutable" not in plain.headers.get("Cache-Control", "")

    pinned = client.get(url)
    assert pinned.status_code == 200
    assert pinned.headers["Cache-Control"] == "public, immutable"
    assert "Expires" in pinned.headers
    assert pinned.data == plain.data

    moved = client.get(f"/openapi/v3/apis/{GROUP}/v1alpha1?hash=0123ABCD")
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith(url)

    cached = client.get(url, headers={"If-None-Match": f'"{digest}"'})
    assert cached.status_code == 304


def test_v3_unknown_version_and_protobuf(client):
    assert client.get(f"/openapi/v3/apis/{GROUP}/v9").status_code == 404
    protobuf = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
    assert client.get(f"/openapi/v3/apis/{GROUP}/v1alpha1", headers={"Accept": protobuf}).status_code == 406
    both = client.get(f"/openapi/v3/apis/{GROUP}/v1alpha1", headers={"Accept": f"{protobuf},application/json"})
    assert both.status_code == 200


def test_v2_endpoint(client):
    response = client.get("/openapi/v2", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.get_json()["swagger"] == "2.0"
    etag = response.headers["ETag"]
    assert client.get("/openapi/v2", headers={"If-None-Match": etag}).status_code == 304


def test_documents_are_built_once_at_registration(app, client):
    docs = services(app).openapi
    assert isinstance(docs, openapi.OpenAPIDocs)
    for _ in range(3):
        client.get("/openapi/v2")
        client.get("/openapi/v3")
    assert services(app).openapi is docs
    assert client.get("/openapi/v2").data == docs.v2.body
    assert client.get("/openapi/v3").data == docs.v3_root.body
    assert client.get(f"/openapi/v3/apis/{GROUP}/v1alpha1").data == docs.v3[openapi.gv_key("v1alpha1")].body


def test_registering_without_services_fails_loudly():
    app = Flask("no-services")
    with pytest.raises(KeyError, match=r"'no-services' has no Ark services: build it with ark.app.create_app"):
        app.register_blueprint(openapi.blueprint)
    assert not app.extensions


# ---------------------------------------------------------------------------------------------
# Snapshot


def test_snapshot_is_fresh():
    stale = []
    for name, text in openapi.snapshot_files(REGISTRY).items():
        path = openapi.SNAPSHOT_DIR / name
        if not path.is_file() or path.read_text() != text:
            stale.append(str(path))
    assert not stale, f"the OpenAPI snapshot is out of date ({', '.join(stale)}): run `make generate`"


def test_operations_document_their_status_failures(v3, v2):
    """Every operation lists the Status answers it can give, so 404/409/422 are documented responses."""
    status_ref = f"#/components/schemas/{META}.Status"
    for path, item in v3["v1alpha1"]["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            action = operation["x-kubernetes-action"]
            responses = operation["responses"]
            for code in openapi.ERRORS_BY_ACTION[action]:
                assert responses[str(code)]["content"]["application/json"]["schema"] == {"$ref": status_ref}, path
            assert "401" in responses
    item = v3["v1alpha1"]["paths"][f"/apis/{GROUP}/v1alpha1/namespaces/{{namespace}}/queries/{{name}}"]
    assert {"404", "409", "422"} <= set(item["put"]["responses"])
    assert "404" in item["get"]["responses"] and "409" not in item["get"]["responses"]
    swagger_put = v2["paths"][f"/apis/{GROUP}/v1alpha1/namespaces/{{namespace}}/queries/{{name}}"]["put"]
    assert swagger_put["responses"]["422"]["schema"] == {"$ref": f"#/definitions/{META}.Status"}


def test_path_parameters_carry_the_name_and_namespace_patterns(v3):
    import re

    params = {p["name"]: p["schema"] for p in
              v3["v1alpha1"]["paths"][f"/apis/{GROUP}/v1alpha1/namespaces/{{namespace}}/queries/{{name}}"]["parameters"]}
    assert params["namespace"]["maxLength"] == 63 and params["name"]["maxLength"] == 253
    assert re.fullmatch(params["namespace"]["pattern"], "team-a")
    assert not re.fullmatch(params["namespace"]["pattern"], "..")
    assert not re.fullmatch(params["namespace"]["pattern"], "a.b")
    assert re.fullmatch(params["name"]["pattern"], "my.query-1")
    assert not re.fullmatch(params["name"]["pattern"], "Bad_Name")
