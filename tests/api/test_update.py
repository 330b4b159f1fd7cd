"""PUT: optimistic concurrency, generation, immutable metadata, status kept (CONTRACT 3.2, 3.3, 5)."""
from __future__ import annotations

import copy

from arkrest import SPECS, assert_status, obj


def _put(ark, body, plural="queries", **params):
    return ark.http.put(ark.url(plural, body["metadata"]["name"]), json=body, params=params)


def test_spec_change_bumps_generation_and_resource_version(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["spec"]["input"] = "changed"
    response = _put(ark, body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["spec"]["input"] == "changed"
    assert updated["metadata"]["generation"] == 2
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert ark.get("q1") == updated


def test_metadata_only_change_bumps_resource_version_but_not_generation(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["labels"] = {"a": "b"}
    body["metadata"]["annotations"] = {"note": "x"}
    body["metadata"]["finalizers"] = ["example.com/f"]
    updated = _put(ark, body).json()
    assert updated["metadata"]["generation"] == 1
    assert updated["metadata"]["labels"] == {"a": "b"}
    assert updated["metadata"]["finalizers"] == ["example.com/f"]
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_unchanged_update_is_a_no_op_that_keeps_the_resource_version(ark):
    created = ark.create(obj("q1"))
    before = ark.revision()
    response = _put(ark, copy.deepcopy(created))
    assert response.status_code == 200, response.text
    assert response.json() == created
    assert ark.revision() == before


def test_update_that_only_restates_defaults_is_a_no_op(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["spec"] = copy.deepcopy(SPECS["queries"])  # the defaults are filled in again
    assert _put(ark, body).json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_update_without_resource_version_is_422(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    del body["metadata"]["resourceVersion"]
    status = assert_status(_put(ark, body), 422, "Invalid")
    assert status["message"] == ('Query.ark.mckinsey.com "q1" is invalid: metadata.resourceVersion: Invalid value: '
                                 '0x0: must be specified for an update')
    assert status["details"]["causes"][0]["field"] == "metadata.resourceVersion"


def test_update_with_a_stale_resource_version_is_409_conflict(ark):
    created = ark.create(obj("q1"))
    assert ark.patch("q1", {"metadata": {"labels": {"moved": "on"}}}).status_code == 200
    body = copy.deepcopy(created)
    body["spec"]["input"] = "lost update"
    status = assert_status(_put(ark, body), 409, "Conflict")
    assert status["message"] == ('Operation cannot be fulfilled on queries.ark.mckinsey.com "q1": the object has been '
                                 'modified; please apply your changes to the latest version and try again')
    assert status["details"] == {"name": "q1", "group": "ark.mckinsey.com", "kind": "queries"}
    assert ark.get("q1")["spec"]["input"] == "hello"


def test_update_of_a_missing_object_is_404(ark):
    body = obj("ghost", resourceVersion="1")
    status = assert_status(_put(ark, body), 404, "NotFound")
    assert status["message"] == 'queries.ark.mckinsey.com "ghost" not found'
    assert status["details"] == {"name": "ghost", "group": "ark.mckinsey.com", "kind": "queries"}


def test_update_with_a_name_other_than_the_url_is_400(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["name"] = "q2"
    response = ark.http.put(ark.url("queries", "q1"), json=body)
    status = assert_status(response, 400, "BadRequest")
    assert status["message"] == "the name of the object (q2) does not match the name on the URL (q1)"


def test_update_with_another_namespace_is_400(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["namespace"] = "elsewhere"
    status = assert_status(_put(ark, body), 400, "BadRequest")
    assert status["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_update_with_another_api_version_is_400(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["apiVersion"] = "ark.mckinsey.com/v1prealpha1"
    assert_status(_put(ark, body), 400, "BadRequest")


def test_changing_the_uid_is_422_field_is_immutable(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000"
    status = assert_status(_put(ark, body), 422, "Invalid")
    (cause,) = status["details"]["causes"]
    assert cause["field"] == "metadata.uid"
    assert cause["message"].endswith("field is immutable")


def test_setting_a_deletion_timestamp_by_update_is_422_field_is_immutable(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    status = assert_status(_put(ark, body), 422, "Invalid")
    assert "metadata.deletionTimestamp" in [c["field"] for c in status["details"]["causes"]]
    assert "deletionTimestamp" not in ark.get("q1")["metadata"]


def test_update_without_uid_keeps_the_stored_uid(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    del body["metadata"]["uid"]
    body["metadata"]["labels"] = {"x": "y"}
    assert _put(ark, body).json()["metadata"]["uid"] == created["metadata"]["uid"]


def test_client_creation_timestamp_and_generation_are_ignored(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    body["metadata"]["generation"] = 99
    body["metadata"]["labels"] = {"x": "y"}
    updated = _put(ark, body).json()
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert updated["metadata"]["generation"] == 1


def test_status_in_a_main_resource_update_is_ignored(ark):
    ark.create(obj("q1"))
    stored = ark.patch("q1", {"status": {"phase": "running"}}, subresource="status").json()
    body = copy.deepcopy(stored)
    body["status"] = {"phase": "done", "duration": "9s"}
    body["spec"]["input"] = "again"
    updated = _put(ark, body).json()
    assert updated["status"] == {"phase": "running"}
    assert updated["spec"]["input"] == "again"
    assert ark.get("q1")["status"] == {"phase": "running"}


def test_update_dropping_status_keeps_the_stored_status(ark):
    ark.create(obj("q1"))
    stored = ark.patch("q1", {"status": {"phase": "running"}}, subresource="status").json()
    body = copy.deepcopy(stored)
    del body["status"]
    body["metadata"]["labels"] = {"x": "y"}
    assert _put(ark, body).json()["status"] == {"phase": "running"}


def test_update_with_an_invalid_spec_is_422(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["spec"]["type"] = "bogus"
    status = assert_status(_put(ark, body), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.type"]


def test_update_with_a_bad_label_is_422(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["metadata"]["labels"] = {"no spaces": "x"}
    status = assert_status(_put(ark, body), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.labels"


def test_dry_run_update_returns_the_result_and_persists_nothing(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["spec"]["input"] = "dry"
    before = ark.revision()
    response = _put(ark, body, dryRun="All")
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["input"] == "dry"
    assert response.json()["metadata"]["generation"] == 2
    assert ark.get("q1") == created
    assert ark.revision() == before


def test_update_with_an_invalid_dry_run_is_422(ark):
    created = ark.create(obj("q1"))
    status = assert_status(_put(ark, copy.deepcopy(created), dryRun="all"), 422, "Invalid")
    assert status["message"].startswith('UpdateOptions.meta.k8s.io "" is invalid: dryRun')


def test_update_of_a_v1prealpha1_kind_bumps_generation(ark):
    created = ark.create(obj("e1", "executionengines"))
    body = copy.deepcopy(created)
    body["spec"]["type"] = "other"
    updated = _put(ark, body, "executionengines").json()
    assert updated["apiVersion"] == "ark.mckinsey.com/v1prealpha1"
    assert updated["spec"]["type"] == "other" and updated["metadata"]["generation"] == 2


def test_every_spec_change_bumps_generation_once(ark):
    current = ark.create(obj("q1"))
    for i in range(3):
        current["spec"]["input"] = f"v{i}"
        current = _put(ark, current).json()
    assert current["metadata"]["generation"] == 4
