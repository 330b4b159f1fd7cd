"""PATCH: merge, JSON and apply patches; 415 for strategic merge (CONTRACT 3.3, 4)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import yaml
from arkrest import APPLY, JSON_PATCH, MERGE, SPECS, STRATEGIC, assert_status, obj

PATCH_415 = ("the body of the request was in an unknown format - accepted media types include: "
             "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


def _rv(body: dict) -> int:
    return int(body["metadata"]["resourceVersion"])


# Merge patch ---------------------------------------------------------------------------------

def test_merge_patch_changes_spec_and_bumps_generation(ark):
    created = ark.create(obj("q1"))
    response = ark.patch("q1", {"spec": {"input": "patched"}})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["spec"] == {**created["spec"], "input": "patched"}
    assert patched["metadata"]["generation"] == 2
    assert _rv(patched) > _rv(created)
    assert ark.get("q1") == patched


def test_merge_patch_null_deletes_a_key(ark):
    ark.create(obj("q1", labels={"a": "1", "b": "2"}, spec={**SPECS["queries"], "input": "x", "sessionId": "s1"}))
    patched = ark.patch("q1", {"metadata": {"labels": {"a": None}}, "spec": {"sessionId": None}}).json()
    assert patched["metadata"]["labels"] == {"b": "2"}
    assert "sessionId" not in patched["spec"]


def test_merge_patch_null_on_a_defaulted_field_restores_the_default(ark):
    ark.create(obj("q1", spec={**SPECS["queries"], "input": "x", "timeout": "1m"}))
    assert ark.patch("q1", {"spec": {"timeout": None}}).json()["spec"]["timeout"] == "5m"


def test_merge_patch_of_labels_only_keeps_generation(ark):
    created = ark.create(obj("q1"))
    patched = ark.patch("q1", {"metadata": {"labels": {"team": "x"}}}).json()
    assert patched["metadata"]["generation"] == 1
    assert _rv(patched) > _rv(created)


def test_merge_patch_with_a_stale_resource_version_is_409(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"first": "1"}}})
    response = ark.patch("q1", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"],
                                             "labels": {"second": "2"}}})
    status = assert_status(response, 409, "Conflict")
    assert "the object has been modified" in status["message"]
    assert "second" not in ark.get("q1")["metadata"]["labels"]


def test_merge_patch_with_the_current_resource_version_succeeds(ark):
    ark.create(obj("q1"))
    current = ark.get("q1")
    response = ark.patch("q1", {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"],
                                             "labels": {"ok": "yes"}}})
    assert response.status_code == 200, response.text
    assert _rv(response.json()) > _rv(current)


def test_merge_patch_without_resource_version_never_conflicts(ark):
    ark.create(obj("q1"))
    for i in range(5):
        assert ark.patch("q1", {"metadata": {"labels": {f"k{i}": "v"}}}).status_code == 200
    assert len(ark.get("q1")["metadata"]["labels"]) == 5


def test_merge_patch_of_a_missing_object_is_404(ark):
    status = assert_status(ark.patch("ghost", {"spec": {"input": "x"}}), 404, "NotFound")
    assert status["details"]["name"] == "ghost"


def test_merge_patch_cannot_change_status(ark):
    ark.create(obj("q1"))
    patched = ark.patch("q1", {"status": {"phase": "done"}, "spec": {"input": "y"}}).json()
    assert "status" not in patched
    assert "status" not in ark.get("q1")


def test_merge_patch_renaming_the_object_is_400(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.patch("q1", {"metadata": {"name": "q2"}}), 400, "BadRequest")
    assert status["message"] == "the name of the object (q2) does not match the name on the URL (q1)"
    assert ark.http.get(ark.url("queries", "q2")).status_code == 404


def test_merge_patch_moving_the_namespace_is_400(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.patch("q1", {"metadata": {"namespace": "elsewhere"}}), 400, "BadRequest")
    assert status["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_merge_patch_changing_the_uid_is_422(ark):
    ark.create(obj("q1"))
    response = ark.patch("q1", {"metadata": {"uid": "00000000-0000-4000-8000-000000000000"}})
    status = assert_status(response, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.uid"


def test_merge_patch_changing_api_version_is_400(ark):
    ark.create(obj("q1"))
    assert_status(ark.patch("q1", {"apiVersion": "ark.mckinsey.com/v9"}), 400, "BadRequest")


def test_merge_patch_making_the_spec_invalid_is_422(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.patch("q1", {"spec": {"input": None}}), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.input"]


def test_merge_patch_with_a_bad_label_is_422_naming_the_field(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.patch("q1", {"metadata": {"labels": {"bad/key/x": "v"}}}), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.labels"


def test_unchanged_merge_patch_keeps_the_resource_version(ark):
    created = ark.create(obj("q1", labels={"a": "b"}))
    patched = ark.patch("q1", {"metadata": {"labels": {"a": "b"}}, "spec": {"input": "hello"}}).json()
    assert patched == created


def test_merge_patch_with_a_charset_parameter_is_accepted(ark):
    ark.create(obj("q1"))
    response = ark.patch("q1", {"metadata": {"labels": {"c": "d"}}}, content_type=MERGE + "; charset=utf-8")
    assert response.status_code == 200, response.text


def test_merge_patch_body_must_be_an_object(ark):
    ark.create(obj("q1"))
    assert_status(ark.patch("q1", ["not", "an", "object"]), 400, "BadRequest")


def test_merge_patch_with_malformed_json_is_400(ark):
    ark.create(obj("q1"))
    response = ark.http.patch(ark.url("queries", "q1"), data="{not json", headers={"Content-Type": MERGE})
    assert_status(response, 400, "BadRequest")


def test_dry_run_merge_patch_persists_nothing(ark):
    created = ark.create(obj("q1"))
    before = ark.revision()
    response = ark.patch("q1", {"spec": {"input": "dry"}}, dryRun="All")
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["input"] == "dry"
    assert ark.get("q1") == created
    assert ark.revision() == before


def test_patch_with_an_invalid_dry_run_is_422(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.patch("q1", {"spec": {"input": "x"}}, dryRun="yes"), 422, "Invalid")
    assert status["message"].startswith('PatchOptions.meta.k8s.io "" is invalid: dryRun')


# JSON patch -----------------------------------------------------------------------------------

def test_json_patch_add_replace_and_remove_apply_in_order(ark):
    ark.create(obj("q1", labels={"gone": "x"}, spec={**SPECS["queries"], "input": "x", "sessionId": "s"}))
    ops = [
        {"op": "replace", "path": "/spec/input", "value": "json patched"},
        {"op": "add", "path": "/metadata/labels/new", "value": "y"},
        {"op": "remove", "path": "/metadata/labels/gone"},
        {"op": "remove", "path": "/spec/sessionId"},
    ]
    response = ark.patch("q1", ops, content_type=JSON_PATCH)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["spec"]["input"] == "json patched"
    assert "sessionId" not in patched["spec"]
    assert patched["metadata"]["labels"] == {"new": "y"}
    assert patched["metadata"]["generation"] == 2


def test_json_patch_with_a_passing_test_op_applies(ark):
    ark.create(obj("q1"))
    ops = [{"op": "test", "path": "/spec/input", "value": "hello"},
           {"op": "replace", "path": "/spec/input", "value": "tested"}]
    assert ark.patch("q1", ops, content_type=JSON_PATCH).json()["spec"]["input"] == "tested"


def test_json_patch_failing_test_op_is_422_and_changes_nothing(ark):
    created = ark.create(obj("q1"))
    ops = [{"op": "replace", "path": "/spec/input", "value": "never"},
           {"op": "test", "path": "/spec/input", "value": "something else"}]
    status = assert_status(ark.patch("q1", ops, content_type=JSON_PATCH), 422, "Invalid")
    assert "test" in status["message"].lower() or "not equal" in status["message"].lower()
    assert ark.get("q1") == created


def test_json_patch_removing_a_missing_path_is_422(ark):
    ark.create(obj("q1"))
    ops = [{"op": "remove", "path": "/spec/nothing/here"}]
    assert_status(ark.patch("q1", ops, content_type=JSON_PATCH), 422, "Invalid")


def test_json_patch_test_on_resource_version_guards_the_write(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"moved": "on"}}})
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
           {"op": "replace", "path": "/spec/input", "value": "late"}]
    assert_status(ark.patch("q1", ops, content_type=JSON_PATCH), 422, "Invalid")  # the test op fails
    assert ark.get("q1")["spec"]["input"] == "hello"


def test_json_patch_body_must_be_a_list(ark):
    ark.create(obj("q1"))
    assert_status(ark.patch("q1", {"op": "add"}, content_type=JSON_PATCH), 400, "BadRequest")


def test_json_patch_with_more_than_10000_operations_is_413(ark):
    ark.create(obj("q1"))
    ops = [{"op": "test", "path": "/kind", "value": "Query"}] * 10_001
    assert_status(ark.patch("q1", ops, content_type=JSON_PATCH), 413, "RequestEntityTooLarge")


# Strategic merge and unknown patch types --------------------------------------------------------

def test_strategic_merge_patch_is_415_with_the_upstream_message(ark):
    ark.create(obj("q1"))
    response = ark.patch("q1", {"metadata": {"labels": {"a": "b"}}}, content_type=STRATEGIC)
    status = assert_status(response, 415, "UnsupportedMediaType")
    assert status["message"] == PATCH_415
    assert "labels" not in ark.get("q1")["metadata"]


def test_unknown_patch_content_type_is_415(ark):
    ark.create(obj("q1"))
    assert_status(ark.patch("q1", {}, content_type="text/plain"), 415, "UnsupportedMediaType")


# Apply patch ----------------------------------------------------------------------------------

def test_apply_patch_without_field_manager_is_422(ark):
    response = ark.patch("q1", obj("q1"), content_type=APPLY)
    status = assert_status(response, 422, "Invalid")
    assert status["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
                                 'for apply patch')
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_apply_patch_creates_a_missing_object_with_201(ark):
    response = ark.patch("q1", obj("q1", labels={"via": "apply"}), content_type=APPLY, fieldManager="kubectl")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["labels"] == {"via": "apply"}
    assert created["spec"]["timeout"] == "5m"
    assert ark.get("q1")["metadata"]["uid"] == created["metadata"]["uid"]


def test_apply_patch_updates_an_existing_object_with_200(ark):
    ark.create(obj("q1", labels={"keep": "me"}))
    response = ark.patch("q1", obj("q1", labels={"added": "x"}, spec={"input": "applied"}), content_type=APPLY,
                         fieldManager="kubectl", force="true")
    assert response.status_code == 200, response.text
    applied = response.json()
    assert applied["spec"]["input"] == "applied"
    assert applied["metadata"]["labels"]["added"] == "x"
    assert applied["metadata"]["generation"] == 2


def test_apply_patch_accepts_a_yaml_body(ark):
    body = yaml.safe_dump(obj("q1", spec={**SPECS["queries"], "input": "from yaml"}))
    response = ark.http.patch(ark.url("queries", "q1"), data=body, headers={"Content-Type": APPLY},
                              params={"fieldManager": "kubectl"})
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["input"] == "from yaml"


def test_apply_patch_with_another_name_is_400(ark):
    response = ark.patch("q1", obj("q2"), content_type=APPLY, fieldManager="kubectl")
    assert_status(response, 400, "BadRequest")


def test_apply_patch_creating_an_invalid_object_is_422(ark):
    response = ark.patch("q1", obj("q1", spec={}), content_type=APPLY, fieldManager="kubectl")
    status = assert_status(response, 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.input"]


def test_dry_run_apply_patch_creates_nothing(ark):
    response = ark.patch("q1", obj("q1"), content_type=APPLY, fieldManager="kubectl", dryRun="All")
    assert response.status_code == 201, response.text
    assert response.json()["metadata"]["name"] == "q1"
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_force_on_a_non_apply_patch_is_422(ark):
    ark.create(obj("q1"))
    status = assert_status(ark.patch("q1", {"spec": {"input": "x"}}, force="true"), 422, "Invalid")
    assert status["message"] == ('PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for '
                                 'non-apply patch')
    assert ark.get("q1")["spec"]["input"] == "hello"


def test_patch_on_the_collection_is_405(ark):
    response = ark.http.patch(ark.url(), data=json.dumps({}), headers={"Content-Type": MERGE})
    assert_status(response, 405, "MethodNotAllowed")


def test_json_patch_setting_a_stale_resource_version_is_409(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"moved": "on"}}})
    ops = [{"op": "replace", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
           {"op": "replace", "path": "/spec/input", "value": "late"}]
    assert_status(ark.patch("q1", ops, content_type=JSON_PATCH), 409, "Conflict")


def test_apply_patch_with_a_stale_resource_version_is_409(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"moved": "on"}}})
    body = obj("q1", resourceVersion=created["metadata"]["resourceVersion"], spec={**SPECS["queries"], "input": "late"})
    assert_status(ark.patch("q1", body, content_type=APPLY, fieldManager="kubectl"), 409, "Conflict")


def test_concurrent_merge_patches_without_resource_version_all_succeed(ark):
    ark.create(obj("q1"))

    def label(i):
        with ark.session() as session:
            return session.patch(ark.url("queries", "q1"), data=json.dumps({"metadata": {"labels": {f"k{i}": "v"}}}),
                                 headers={"Content-Type": MERGE})

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(label, range(10)))
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses if r.status_code != 200]
    assert ark.get("q1")["metadata"]["labels"] == {f"k{i}": "v" for i in range(10)}
    assert len({r.json()["metadata"]["resourceVersion"] for r in responses}) == 10


def test_concurrent_updates_from_one_resource_version_let_exactly_one_win(ark):
    created = ark.create(obj("q1"))

    def update(i):
        body = json.loads(json.dumps(created))
        body["spec"]["input"] = f"writer {i}"
        with ark.session() as session:
            return session.put(ark.url("queries", "q1"), json=body)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(update, range(6)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 5, [r.text for r in responses]
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    assert ark.get("q1") == winner and winner["metadata"]["generation"] == 2
