"""fieldValidation=Strict|Warn|Ignore for unknown fields, on every write verb (CONTRACT 2.3)."""
from __future__ import annotations

import copy
import json

import pytest
from arkrest import APPLY, JSON_PATCH, SPECS, assert_status, obj, warnings_of

STRICT_PREFIX = 'Query in version "v1alpha1" cannot be handled as a Query: strict decoding error: '


@pytest.fixture(autouse=True)
def target(ark):
    """The agent the queries below ask: admission refuses a Query whose target does not exist."""
    ark.create(obj("a", "agents"))


def _with_unknown_fields(name="q1"):
    body = obj(name, spec={"input": "x", "target": {"name": "a", "type": "agent", "extra": 1}, "bogus": True})
    body["topLevel"] = "x"
    body["metadata"]["notAField"] = "y"
    return body


UNKNOWN = ['unknown field "topLevel"', 'unknown field "metadata.notAField"', 'unknown field "spec.bogus"',
           'unknown field "spec.target.extra"']


def test_strict_rejects_unknown_fields_at_every_level_with_400(ark):
    response = ark.http.post(ark.url(), json=_with_unknown_fields(), params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert status["message"].startswith(STRICT_PREFIX)
    for problem in UNKNOWN:
        assert problem in status["message"]
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


@pytest.mark.parametrize("where, body_change, field", [
    ("top level", lambda b: b.update(extra=1), "extra"),
    ("metadata", lambda b: b["metadata"].update(extra=1), "metadata.extra"),
    ("nested spec", lambda b: b["spec"].update(memory={"name": "m", "extra": 1}), "spec.memory.extra"),
    ("list item", lambda b: b["spec"].update(parameters=[{"name": "p", "value": "v", "extra": 1}]),
     "spec.parameters[0].extra"),
])
def test_strict_names_the_path_of_the_unknown_field(ark, where, body_change, field):
    body = obj("q1")
    body_change(body)
    response = ark.http.post(ark.url(), json=body, params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert status["message"] == f'{STRICT_PREFIX}unknown field "{field}"'


def test_warn_prunes_unknown_fields_and_sends_one_warning_each(ark):
    response = ark.http.post(ark.url(), json=_with_unknown_fields(), params={"fieldValidation": "Warn"})
    assert response.status_code == 201, response.text
    assert sorted(warnings_of(response)) == sorted(UNKNOWN)
    created = response.json()
    assert "topLevel" not in created and "notAField" not in created["metadata"]
    assert "bogus" not in created["spec"] and created["spec"]["target"] == {"name": "a", "type": "agent"}
    assert ark.get("q1") == created


def test_warn_is_the_default(ark):
    response = ark.http.post(ark.url(), json=_with_unknown_fields())
    assert response.status_code == 201, response.text
    assert sorted(warnings_of(response)) == sorted(UNKNOWN)


def test_ignore_prunes_silently(ark):
    response = ark.http.post(ark.url(), json=_with_unknown_fields(), params={"fieldValidation": "Ignore"})
    assert response.status_code == 201, response.text
    assert warnings_of(response) == []
    assert "bogus" not in response.json()["spec"]


def test_known_fields_give_no_warning(ark):
    response = ark.http.post(ark.url(), json=obj("q1"), params={"fieldValidation": "Strict"})
    assert response.status_code == 201, response.text
    assert warnings_of(response) == []


@pytest.mark.parametrize("verb", ["create", "update", "patch"])
def test_invalid_field_validation_value_is_422(ark, verb):
    options = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}[verb]
    params = {"fieldValidation": "Loose"}
    if verb == "create":
        response = ark.http.post(ark.url(), json=obj("q1"), params=params)
    else:
        created = ark.create(obj("q1"))
        if verb == "update":
            response = ark.http.put(ark.url("queries", "q1"), json=created, params=params)
        else:
            response = ark.patch("q1", {"metadata": {"labels": {"a": "b"}}}, **params)
    status = assert_status(response, 422, "Invalid")
    assert status["message"].startswith(f'{options}.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
                                        '"Loose"')
    assert status["details"]["causes"][0]["field"] == "fieldValidation"


def test_strict_update_with_unknown_fields_is_400(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["spec"]["nope"] = 1
    response = ark.http.put(ark.url("queries", "q1"), json=body, params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert status["message"] == f'{STRICT_PREFIX}unknown field "spec.nope"'
    assert ark.get("q1") == created


def test_warn_update_with_unknown_fields_warns_and_prunes(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["spec"]["nope"] = 1
    response = ark.http.put(ark.url("queries", "q1"), json=body, params={"fieldValidation": "Warn"})
    assert response.status_code == 200, response.text
    assert warnings_of(response) == ['unknown field "spec.nope"']
    assert response.json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_strict_merge_patch_with_unknown_fields_is_400(ark):
    created = ark.create(obj("q1"))
    response = ark.patch("q1", {"spec": {"nope": 1}}, fieldValidation="Strict")
    status = assert_status(response, 400, "BadRequest")
    assert 'unknown field "spec.nope"' in status["message"]
    assert ark.get("q1") == created


def test_warn_merge_patch_with_unknown_fields_warns(ark):
    ark.create(obj("q1"))
    response = ark.patch("q1", {"spec": {"nope": 1, "input": "new"}}, fieldValidation="Warn")
    assert response.status_code == 200, response.text
    assert warnings_of(response) == ['unknown field "spec.nope"']
    assert response.json()["spec"]["input"] == "new" and "nope" not in response.json()["spec"]


def test_strict_apply_patch_with_unknown_fields_is_400(ark):
    body = obj("q1", spec={**SPECS["queries"], "input": "x", "nope": 1})
    response = ark.patch("q1", body, content_type=APPLY, fieldManager="kubectl", fieldValidation="Strict")
    status = assert_status(response, 400, "BadRequest")
    assert 'unknown field "spec.nope"' in status["message"]
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_strict_status_write_with_unknown_status_fields_is_400(ark):
    ark.create(obj("q1"))
    response = ark.patch("q1", {"status": {"phase": "done", "nope": 1}}, subresource="status",
                         fieldValidation="Strict")
    status = assert_status(response, 400, "BadRequest")
    assert 'unknown field "status.nope"' in status["message"]


def test_warn_status_write_with_unknown_status_fields_warns(ark):
    ark.create(obj("q1"))
    response = ark.patch("q1", {"status": {"phase": "done", "nope": 1}}, subresource="status")
    assert response.status_code == 200, response.text
    assert warnings_of(response) == ['unknown field "status.nope"']
    assert response.json()["status"] == {"phase": "done"}


def test_strict_dry_run_with_unknown_fields_is_400_too(ark):
    response = ark.http.post(ark.url(), json=_with_unknown_fields(),
                             params={"fieldValidation": "Strict", "dryRun": "All"})
    assert_status(response, 400, "BadRequest")


def test_strict_json_patch_adding_an_unknown_field_is_400(ark):
    created = ark.create(obj("q1"))
    ops = [{"op": "add", "path": "/spec/nope", "value": 1}]
    response = ark.patch("q1", ops, content_type=JSON_PATCH, fieldValidation="Strict")
    status = assert_status(response, 400, "BadRequest")
    assert 'unknown field "spec.nope"' in status["message"]
    assert ark.get("q1") == created


def test_strict_update_with_duplicated_keys_is_400(ark):
    created = ark.create(obj("q1"))
    text = json.dumps(created)[:-1] + ',"kind":"Query"}'
    response = ark.http.put(ark.url("queries", "q1"), data=text, headers={"Content-Type": "application/json"},
                            params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert 'duplicate field "kind"' in status["message"]


def test_warn_keeps_its_warnings_when_the_object_is_then_invalid(ark):
    body = obj("q1", spec={**SPECS["queries"], "input": "x", "type": "bogus", "extra": 1})
    response = ark.http.post(ark.url(), json=body)
    assert_status(response, 422, "Invalid")
    assert warnings_of(response) == ['unknown field "spec.extra"']
