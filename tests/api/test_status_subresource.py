"""The /status subresource: it writes only .status, the main resource never does (CONTRACT 5)."""
from __future__ import annotations

import copy

from arkrest import JSON_PATCH, assert_status, obj


def _put_status(ark, body, plural="queries", **params):
    return ark.http.put(ark.url(plural, body["metadata"]["name"], subresource="status"), json=body, params=params)


def test_get_status_returns_the_whole_object(ark):
    created = ark.create(obj("q1"))
    response = ark.http.get(ark.url("queries", "q1", subresource="status"))
    assert response.status_code == 200, response.text
    assert response.json() == created


def test_put_status_writes_only_status(ark):
    created = ark.create(obj("q1", labels={"a": "b"}))
    body = copy.deepcopy(created)
    body["status"] = {"phase": "done", "duration": "1s"}
    body["spec"]["input"] = "ignored"
    body["metadata"]["labels"] = {"ignored": "too"}
    body["metadata"]["annotations"] = {"ignored": "as well"}
    response = _put_status(ark, body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["status"] == {"phase": "done", "duration": "1s"}
    assert updated["spec"] == created["spec"]
    assert updated["metadata"]["labels"] == {"a": "b"}
    assert "annotations" not in updated["metadata"]
    assert updated["metadata"]["generation"] == 1
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert ark.get("q1") == updated


def test_status_write_is_validated_against_the_status_schema(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    body["status"] = {"phase": "exploded"}
    status = assert_status(_put_status(ark, body), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["status.phase"]


def test_status_defaults_are_applied(ark):
    ark.create(obj("q1"))
    patched = ark.patch("q1", {"status": {"duration": "3s"}}, subresource="status").json()
    assert patched["status"] == {"duration": "3s", "phase": "pending"}


def test_put_status_needs_a_resource_version(ark):
    created = ark.create(obj("q1"))
    body = copy.deepcopy(created)
    del body["metadata"]["resourceVersion"]
    body["status"] = {"phase": "done"}
    assert_status(_put_status(ark, body), 422, "Invalid")


def test_put_status_with_a_stale_resource_version_is_409(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"x": "y"}}})
    body = copy.deepcopy(created)
    body["status"] = {"phase": "done"}
    assert_status(_put_status(ark, body), 409, "Conflict")
    assert "status" not in ark.get("q1")


def test_merge_patch_on_status_changes_only_status(ark):
    created = ark.create(obj("q1"))
    response = ark.patch("q1", {"status": {"phase": "running"}, "spec": {"input": "no"},
                                "metadata": {"labels": {"no": "pe"}}}, subresource="status")
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["status"]["phase"] == "running"
    assert patched["spec"] == created["spec"]
    assert "labels" not in patched["metadata"]
    assert patched["metadata"]["generation"] == 1


def test_merge_patch_on_status_with_a_stale_resource_version_is_409(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"x": "y"}}})
    response = ark.patch("q1", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                                "status": {"phase": "done"}}, subresource="status")
    assert_status(response, 409, "Conflict")


def test_json_patch_on_status_sets_status(ark):
    ark.create(obj("q1"))
    ops = [{"op": "add", "path": "/status", "value": {"phase": "error"}}]
    patched = ark.patch("q1", ops, content_type=JSON_PATCH, subresource="status").json()
    assert patched["status"]["phase"] == "error"


def test_main_resource_writes_never_touch_status(ark):
    ark.create(obj("q1"))
    ark.patch("q1", {"status": {"phase": "running"}}, subresource="status")
    ark.patch("q1", {"spec": {"input": "new"}, "status": {"phase": "done"}})
    current = ark.get("q1")
    assert current["status"] == {"phase": "running"}
    assert current["metadata"]["generation"] == 2
    ops = [{"op": "replace", "path": "/status/phase", "value": "canceled"}]
    assert ark.patch("q1", ops, content_type=JSON_PATCH).json()["status"] == {"phase": "running"}


def test_status_writes_never_bump_generation(ark):
    ark.create(obj("q1"))
    for phase in ("running", "done", "error"):
        patched = ark.patch("q1", {"status": {"phase": phase}}, subresource="status").json()
    assert patched["metadata"]["generation"] == 1


def test_unchanged_status_write_keeps_the_resource_version(ark):
    ark.create(obj("q1"))
    first = ark.patch("q1", {"status": {"phase": "running"}}, subresource="status").json()
    again = ark.patch("q1", {"status": {"phase": "running"}}, subresource="status").json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_status_of_a_missing_object_is_404(ark):
    assert_status(ark.http.get(ark.url("queries", "ghost", subresource="status")), 404, "NotFound")
    assert_status(ark.patch("ghost", {"status": {}}, subresource="status"), 404, "NotFound")


def test_status_write_of_a_v1prealpha1_kind_keeps_its_api_version(ark):
    ark.create(obj("e1", "executionengines"))
    patched = ark.patch("e1", {"status": {"phase": "ready"}}, "executionengines", subresource="status").json()
    assert patched["apiVersion"] == "ark.mckinsey.com/v1prealpha1"
    assert patched["status"] == {"phase": "ready"}


def test_dry_run_status_write_persists_nothing(ark):
    created = ark.create(obj("q1"))
    response = ark.patch("q1", {"status": {"phase": "done"}}, subresource="status", dryRun="All")
    assert response.status_code == 200, response.text
    assert response.json()["status"]["phase"] == "done"
    assert ark.get("q1") == created


def test_post_to_status_is_405(ark):
    ark.create(obj("q1"))
    assert_status(ark.http.post(ark.url("queries", "q1", subresource="status"), json=obj("q1")), 405,
                  "MethodNotAllowed")
