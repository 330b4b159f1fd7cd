"""Failures are Kubernetes Status objects with the right code and reason (CONTRACT 3.5, 9)."""
from __future__ import annotations

import json

import pytest
import yaml
from arkrest import MERGE, SPECS, assert_status, obj, warnings_of

from ark.storage.dialects import create_engine_for
from ark.storage.store import Store

MIB = 1024 * 1024


@pytest.fixture
def compact(server):
    """Compact the change history now, keeping only the newest revision (the server keeps more)."""
    engine = create_engine_for(server.database.settings)

    def run() -> None:
        Store(engine).compact(retention_seconds=-1, keep_revisions=1)

    yield run
    engine.dispose()


def test_not_found_status_shape(ark):
    response = ark.http.get(ark.url("queries", "ghost"))
    assert response.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'queries.ark.mckinsey.com "ghost" not found', "reason": "NotFound",
        "details": {"name": "ghost", "group": "ark.mckinsey.com", "kind": "queries"}, "code": 404,
    }
    assert response.status_code == 404
    assert response.headers["Content-Type"].split(";")[0] == "application/json"


@pytest.mark.parametrize("path", [
    "/apis/ark.mckinsey.com/v1alpha1/namespaces/default/widgets",
    "/apis/ark.mckinsey.com/v1alpha1/widgets",
    "/apis/ark.mckinsey.com/v9/namespaces/default/queries",
    "/apis/ark.mckinsey.com/v1alpha1/namespaces/default/queries/q1/scale",
    "/apis/other.example.com/v1/namespaces/default/things",
])
def test_unknown_resource_paths_are_404_status(ark, path):
    status = assert_status(ark.http.get(ark.server_url + path), 404, "NotFound")
    assert status["message"] == "the server could not find the requested resource"


def test_unknown_plural_is_404_for_writes_too(ark):
    url = f"{ark.server_url}/apis/ark.mckinsey.com/v1alpha1/namespaces/{ark.namespace}/widgets"
    assert_status(ark.http.post(url, json=obj("q1")), 404, "NotFound")


@pytest.mark.parametrize("method, named, verb", [
    ("PUT", False, "update"), ("PATCH", False, "patch"), ("POST", True, "create"),
])
def test_unsupported_verbs_are_405(ark, method, named, verb):
    ark.create(obj("q1"))
    url = ark.url("queries", "q1" if named else None)
    response = ark.http.request(method, url, data=json.dumps(obj("q1")),
                                headers={"Content-Type": MERGE if method == "PATCH" else "application/json"})
    status = assert_status(response, 405, "MethodNotAllowed")
    assert status["message"] == f'{verb} is not supported on resources of kind "queries.ark.mckinsey.com"'


def test_writes_on_the_cluster_wide_collection_are_405(ark):
    assert_status(ark.http.post(ark.url(namespace=None), json=obj("q1")), 405, "MethodNotAllowed")


def test_not_acceptable_is_406_status(ark):
    status = assert_status(ark.http.get(ark.url(), headers={"Accept": "text/html"}), 406, "NotAcceptable")
    assert status["message"] == "only the following media types are accepted: application/json"


def test_conflict_is_409_status(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.http.post(ark.url(), json=obj("q1")), 409, "AlreadyExists")
    assert status["details"]["kind"] == "queries"


def test_expired_continue_token_is_410(ark, compact):
    for i in range(3):
        ark.create(obj(f"q{i}"))
    first = ark.list(limit=1)
    ark.create(obj("later"))
    ark.create(obj("latest"))
    compact()
    status = assert_status(ark.http.get(ark.url(), params={"limit": 1, "continue": first["metadata"]["continue"]}),
                           410, "Expired")
    assert status["message"] == ("The provided continue parameter is too old to display a consistent list result. "
                                 "You can start a new list without the continue parameter.")
    assert [i["metadata"]["name"] for i in ark.list()["items"]] == ["later", "latest", "q0", "q1", "q2"]


def test_exact_list_below_the_compacted_history_is_410(ark, compact):
    first = ark.create(obj("q1"))
    ark.create(obj("q2"))
    ark.create(obj("q3"))
    compact()
    params = {"resourceVersion": first["metadata"]["resourceVersion"], "resourceVersionMatch": "Exact"}
    status = assert_status(ark.http.get(ark.url(), params=params), 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {first['metadata']['resourceVersion']} (")


def test_body_over_3_mib_is_413(ark):
    body = obj("q1", spec={**SPECS["queries"], "input": "x" * (3 * MIB + 10)})
    status = assert_status(ark.http.post(ark.url(), json=body), 413, "RequestEntityTooLarge")
    assert "3145728" in status["message"]
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_chunked_body_over_3_mib_is_413(ark):
    payload = json.dumps(obj("q1", spec={**SPECS["queries"], "input": "x" * (3 * MIB + 10)})).encode()

    def chunks():
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start:start + 64 * 1024]

    response = ark.http.post(ark.url(), data=chunks(), headers={"Content-Type": "application/json"})
    assert_status(response, 413, "RequestEntityTooLarge")


def test_body_just_under_the_limit_is_accepted(ark):
    """A body may take up to 3 MiB (here mostly whitespace) while its object fits the 1.5 MiB stored-object
    limit (tests/reliability covers objects over it)."""
    text = json.dumps(obj("q1", spec={**SPECS["queries"], "input": "x" * (MIB + MIB // 4)}))
    padded = text[:-1] + " " * (3 * MIB - 4096 - len(text)) + "}"
    response = ark.http.post(ark.url(), data=padded, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text[:300]
    assert len(ark.get("q1")["spec"]["input"]) == MIB + MIB // 4


def test_unsupported_body_media_type_is_415(ark):
    response = ark.http.post(ark.url(), data=json.dumps(obj("q1")), headers={"Content-Type": "text/plain"})
    status = assert_status(response, 415, "UnsupportedMediaType")
    assert status["message"].startswith("the body of the request was in an unknown format - accepted media types "
                                        "include: application/json")


def test_protobuf_body_is_415(ark):
    response = ark.http.post(ark.url(), data=b"\x6b\x38\x73\x00",
                             headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert_status(response, 415, "UnsupportedMediaType")


def test_invalid_is_422_status_with_causes(ark):
    status = assert_status(ark.http.post(ark.url(), json=obj("q1", spec={})), 422, "Invalid")
    assert status["message"] == 'Query.ark.mckinsey.com "q1" is invalid: spec.input: Required value'
    assert status["details"] == {"name": "q1", "group": "ark.mckinsey.com", "kind": "Query",
                                 "causes": [{"reason": "FieldValueRequired", "message": "Required value",
                                             "field": "spec.input"}]}


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b'"text"'])
def test_undecodable_bodies_are_400(ark, body):
    response = ark.http.post(ark.url(), data=body, headers={"Content-Type": "application/json"})
    assert_status(response, 400, "BadRequest")


def test_metadata_that_is_not_an_object_is_400(ark):
    body = obj("q1")
    body["metadata"] = "q1"
    assert_status(ark.http.post(ark.url(), json=body), 400, "BadRequest")


def test_yaml_body_is_accepted_on_create_and_update(ark):
    text = yaml.safe_dump(obj("q1", labels={"from": "yaml"}, spec={**SPECS["queries"], "input": "hi"}))
    response = ark.http.post(ark.url(), data=text, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["metadata"]["labels"] == {"from": "yaml"}
    created["spec"]["input"] = "hi again"
    response = ark.http.put(ark.url("queries", "q1"), data=yaml.safe_dump(created),
                            headers={"Content-Type": "application/yaml; charset=utf-8"})
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["input"] == "hi again"


def test_yaml_timestamps_stay_strings(ark):
    text = ("apiVersion: ark.mckinsey.com/v1alpha1\nkind: Query\nmetadata:\n  name: q1\n"
            "  annotations:\n    when: 2026-01-02T03:04:05Z\nspec:\n  input: hi\n  selector: {}\n")
    response = ark.http.post(ark.url(), data=text, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    assert response.json()["metadata"]["annotations"] == {"when": "2026-01-02T03:04:05Z"}


def test_malformed_yaml_is_400(ark):
    response = ark.http.post(ark.url(), data="kind: [unclosed", headers={"Content-Type": "application/yaml"})
    assert_status(response, 400, "BadRequest")


DUPLICATED = ('{"apiVersion":"ark.mckinsey.com/v1alpha1","kind":"Query","metadata":{"name":"q1"},'
              '"spec":{"input":"first","input":"second","selector":{}}}')


def test_duplicated_json_keys_under_strict_are_400_naming_the_field(ark):
    response = ark.http.post(ark.url(), data=DUPLICATED, headers={"Content-Type": "application/json"},
                             params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert status["message"].startswith('Query in version "v1alpha1" cannot be handled as a Query: strict decoding '
                                        'error: ')
    assert 'duplicate field "spec.input"' in status["message"]
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_duplicated_json_keys_under_warn_give_a_warning_header(ark):
    response = ark.http.post(ark.url(), data=DUPLICATED, headers={"Content-Type": "application/json"},
                             params={"fieldValidation": "Warn"})
    assert response.status_code == 201, response.text
    assert warnings_of(response) == ['duplicate field "spec.input"']
    assert response.json()["spec"]["input"] == "second"


def test_duplicated_json_keys_are_warned_about_by_default(ark):
    response = ark.http.post(ark.url(), data=DUPLICATED, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert warnings_of(response) == ['duplicate field "spec.input"']


def test_duplicated_json_keys_under_ignore_pass_silently(ark):
    response = ark.http.post(ark.url(), data=DUPLICATED, headers={"Content-Type": "application/json"},
                             params={"fieldValidation": "Ignore"})
    assert response.status_code == 201, response.text
    assert warnings_of(response) == []


def test_duplicated_yaml_keys_under_strict_are_400(ark):
    text = "apiVersion: ark.mckinsey.com/v1alpha1\nkind: Query\nmetadata:\n  name: q1\n  name: q2\nspec:\n  input: x\n"
    response = ark.http.post(ark.url(), data=text, headers={"Content-Type": "application/yaml"},
                             params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert 'duplicate field "metadata.name"' in status["message"]


def test_duplicated_keys_in_a_merge_patch_under_strict_are_400(ark):
    ark.create(obj("q1"))
    response = ark.http.patch(ark.url("queries", "q1"), data='{"spec":{"input":"a","input":"b"}}',
                              headers={"Content-Type": MERGE}, params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert 'duplicate field "spec.input"' in status["message"]
    assert ark.get("q1")["spec"]["input"] == "hello"


def test_a_name_that_is_no_valid_name_is_a_404_status(ark):
    assert_status(ark.http.get(ark.url("queries", "%ZZ")), 404, "NotFound")
