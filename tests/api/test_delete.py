"""DELETE and deletecollection: finalizers, preconditions, propagation, dry run (CONTRACT 3.4)."""
from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor

from arkrest import assert_status, obj

DELETE_OPTIONS = {"kind": "DeleteOptions", "apiVersion": "v1"}


def _delete(ark, name, options=None, plural="queries", **params):
    data = None if options is None else json.dumps({**DELETE_OPTIONS, **options})
    headers = {} if options is None else {"Content-Type": "application/json"}
    return ark.http.delete(ark.url(plural, name), data=data, headers=headers, params=params)


def test_delete_without_finalizers_removes_the_object_and_returns_a_success_status(ark):
    created = ark.create(obj("q1"))
    response = _delete(ark, "q1")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": "q1", "group": "ark.mckinsey.com", "kind": "queries", "uid": created["metadata"]["uid"]},
    }
    assert_status(ark.http.get(ark.url("queries", "q1")), 404, "NotFound")


def test_delete_bumps_the_global_resource_version(ark):
    created = ark.create(obj("q1"))
    _delete(ark, "q1")
    assert ark.revision() > int(created["metadata"]["resourceVersion"])


def test_delete_of_a_missing_object_is_404(ark):
    status = assert_status(_delete(ark, "ghost"), 404, "NotFound")
    assert status["message"] == 'queries.ark.mckinsey.com "ghost" not found'
    assert status["details"] == {"name": "ghost", "group": "ark.mckinsey.com", "kind": "queries"}


def test_delete_details_kind_is_the_plural_of_v1prealpha1_kinds_too(ark):
    ark.create(obj("a1", "a2aservers"))
    details = _delete(ark, "a1", plural="a2aservers").json()["details"]
    assert details["kind"] == "a2aservers" and details["group"] == "ark.mckinsey.com"


def test_delete_with_finalizers_only_marks_the_object(ark):
    created = ark.create(obj("q1", finalizers=["example.com/hold"]))
    response = _delete(ark, "q1")
    assert response.status_code == 200, response.text
    marked = response.json()
    assert marked["kind"] == "Query"
    meta = marked["metadata"]
    assert meta["deletionTimestamp"] >= created["metadata"]["creationTimestamp"]
    assert meta["deletionTimestamp"].endswith("Z") and len(meta["deletionTimestamp"]) == 20
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["generation"] == 2
    assert meta["finalizers"] == ["example.com/hold"]
    assert int(meta["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert ark.get("q1") == marked


def test_repeated_delete_of_a_terminating_object_changes_nothing(ark):
    ark.create(obj("q1", finalizers=["example.com/hold"]))
    marked = _delete(ark, "q1").json()
    again = _delete(ark, "q1")
    assert again.status_code == 200, again.text
    assert again.json() == marked
    assert ark.get("q1") == marked


def test_update_removing_the_last_finalizer_deletes_the_object(ark):
    ark.create(obj("q1", finalizers=["example.com/a", "example.com/b"]))
    marked = _delete(ark, "q1").json()
    body = copy.deepcopy(marked)
    body["metadata"]["finalizers"] = ["example.com/b"]
    still = ark.http.put(ark.url("queries", "q1"), json=body).json()
    assert still["metadata"]["finalizers"] == ["example.com/b"]
    assert still["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    assert still["metadata"]["generation"] == marked["metadata"]["generation"]
    still["metadata"]["finalizers"] = []
    response = ark.http.put(ark.url("queries", "q1"), json=still)
    assert response.status_code == 200, response.text
    assert_status(ark.http.get(ark.url("queries", "q1")), 404, "NotFound")


def test_merge_patch_removing_the_last_finalizer_deletes_the_object(ark):
    ark.create(obj("q1", finalizers=["example.com/hold"]))
    _delete(ark, "q1")
    response = ark.patch("q1", {"metadata": {"finalizers": None}})
    assert response.status_code == 200, response.text
    assert_status(ark.http.get(ark.url("queries", "q1")), 404, "NotFound")
    ark.create(obj("q1"))  # and the name is free again at once


def test_no_new_finalizers_once_deleting(ark):
    ark.create(obj("q1", finalizers=["example.com/hold"]))
    _delete(ark, "q1")
    response = ark.patch("q1", {"metadata": {"finalizers": ["example.com/hold", "example.com/late"]}})
    status = assert_status(response, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.finalizers"
    assert "no new finalizers" in status["details"]["causes"][0]["message"]


def test_terminating_object_keeps_its_deletion_timestamp_on_update(ark):
    ark.create(obj("q1", finalizers=["example.com/hold"]))
    marked = _delete(ark, "q1").json()
    body = copy.deepcopy(marked)
    del body["metadata"]["deletionTimestamp"]
    del body["metadata"]["deletionGracePeriodSeconds"]
    body["metadata"]["labels"] = {"still": "here"}
    updated = ark.http.put(ark.url("queries", "q1"), json=body).json()
    assert updated["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    assert updated["metadata"]["deletionGracePeriodSeconds"] == 0
    assert updated["metadata"]["labels"] == {"still": "here"}


def test_delete_uid_precondition_mismatch_is_409(ark):
    ark.create(obj("q1"))
    wrong = "00000000-0000-4000-8000-000000000000"
    status = assert_status(_delete(ark, "q1", {"preconditions": {"uid": wrong}}), 409, "Conflict")
    uid = ark.get("q1")["metadata"]["uid"]
    assert status["message"] == ('Operation cannot be fulfilled on queries.ark.mckinsey.com "q1": Precondition '
                                 f"failed: UID in precondition: {wrong}, UID in object meta: {uid}")
    assert ark.get("q1")


def test_delete_resource_version_precondition_mismatch_is_409(ark):
    created = ark.create(obj("q1"))
    ark.patch("q1", {"metadata": {"labels": {"a": "b"}}})
    options = {"preconditions": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    assert_status(_delete(ark, "q1", options), 409, "Conflict")
    assert ark.get("q1")


def test_delete_with_matching_preconditions_deletes(ark):
    created = ark.create(obj("q1"))
    options = {"preconditions": {"uid": created["metadata"]["uid"],
                                 "resourceVersion": created["metadata"]["resourceVersion"]}}
    assert _delete(ark, "q1", options).json()["status"] == "Success"


def test_delete_preconditions_as_query_parameters(ark):
    ark.create(obj("q1"))
    response = _delete(ark, "q1", None, **{"preconditions.uid": "00000000-0000-4000-8000-000000000000"})
    assert_status(response, 409, "Conflict")


def test_foreground_propagation_adds_the_foreground_finalizer(ark):
    ark.create(obj("q1"))
    marked = _delete(ark, "q1", {"propagationPolicy": "Foreground"}).json()
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert "deletionTimestamp" in marked["metadata"]
    # Without dependents the garbage collector removes the finalizer at once, and the object goes.
    deadline = time.monotonic() + 60
    while ark.http.get(ark.url("queries", "q1")).status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_orphan_propagation_adds_the_orphan_finalizer(ark):
    ark.create(obj("q1", finalizers=["example.com/hold"]))
    marked = _delete(ark, "q1", {"propagationPolicy": "Orphan"}).json()
    assert marked["metadata"]["finalizers"] == ["example.com/hold", "orphan"]


def test_legacy_orphan_dependents_adds_the_orphan_finalizer(ark):
    ark.create(obj("q1"))
    assert _delete(ark, "q1", {"orphanDependents": True}).json()["metadata"]["finalizers"] == ["orphan"]


def test_background_propagation_deletes_at_once(ark):
    ark.create(obj("q1"))
    assert _delete(ark, "q1", {"propagationPolicy": "Background"}).json()["status"] == "Success"
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404


def test_propagation_policy_as_a_query_parameter(ark):
    ark.create(obj("q1"))
    marked = _delete(ark, "q1", None, propagationPolicy="Foreground").json()
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_unknown_propagation_policy_is_422(ark):
    ark.create(obj("q1"))
    status = assert_status(_delete(ark, "q1", {"propagationPolicy": "Sideways"}), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "propagationPolicy"
    assert ark.get("q1")


def test_grace_period_is_accepted_and_deletion_is_immediate(ark):
    ark.create(obj("q1"))
    assert _delete(ark, "q1", {"gracePeriodSeconds": 30}).json()["status"] == "Success"


def test_dry_run_delete_persists_nothing(ark):
    created = ark.create(obj("q1"))
    response = _delete(ark, "q1", {"dryRun": ["All"]})
    assert response.status_code == 200, response.text
    assert ark.get("q1") == created
    response = _delete(ark, "q1", None, dryRun="All")
    assert response.status_code == 200, response.text
    assert ark.get("q1") == created


def test_dry_run_delete_with_finalizers_leaves_the_object_unmarked(ark):
    created = ark.create(obj("q1", finalizers=["example.com/hold"]))
    response = _delete(ark, "q1", {"dryRun": ["All"]})
    assert response.status_code == 200, response.text
    assert "deletionTimestamp" in response.json()["metadata"]
    assert ark.get("q1") == created


def test_invalid_dry_run_on_delete_is_422(ark):
    ark.create(obj("q1"))
    assert_status(_delete(ark, "q1", {"dryRun": ["Some"]}), 422, "Invalid")
    assert ark.get("q1")


def test_delete_as_the_metadata_client_sends_it(ark):
    ark.create(obj("q1"))
    response = ark.http.delete(ark.url("queries", "q1"), data=json.dumps({**DELETE_OPTIONS,
                                                                         "propagationPolicy": "Background"}),
                               headers={"Content-Type": "application/json",
                                        "Accept": "application/vnd.kubernetes.protobuf,application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Success"


def test_delete_collection_honours_the_label_selector(ark):
    for name, labels in (("a", {"app": "x"}), ("b", {"app": "x"}), ("c", {"app": "y"})):
        ark.create(obj(name, labels=labels))
    response = ark.http.delete(ark.url(), params={"labelSelector": "app=x"})
    assert response.status_code == 200, response.text
    deleted = response.json()
    assert deleted["kind"] == "QueryList" and deleted["apiVersion"] == "ark.mckinsey.com/v1alpha1"
    assert sorted(i["metadata"]["name"] for i in deleted["items"]) == ["a", "b"]
    assert [i["metadata"]["name"] for i in ark.list()["items"]] == ["c"]


def test_delete_collection_honours_the_field_selector(ark):
    for name in ("a", "b"):
        ark.create(obj(name))
    response = ark.http.delete(ark.url(), params={"fieldSelector": "metadata.name=b"})
    assert [i["metadata"]["name"] for i in response.json()["items"]] == ["b"]
    assert [i["metadata"]["name"] for i in ark.list()["items"]] == ["a"]


def test_delete_collection_marks_objects_with_finalizers(ark):
    ark.create(obj("held", finalizers=["example.com/hold"]))
    ark.create(obj("free"))
    deleted = ark.http.delete(ark.url()).json()
    marked = {i["metadata"]["name"]: i for i in deleted["items"]}
    assert set(marked) == {"held", "free"}
    assert marked["held"]["metadata"]["deletionTimestamp"]
    assert [i["metadata"]["name"] for i in ark.list()["items"]] == ["held"]


def test_delete_collection_stays_in_its_namespace(ark, namespace):
    ark.create_namespace(f"{namespace}-other")
    other = ark.url(namespace=f"{namespace}-other")
    assert ark.http.post(other, json=obj("q1")).status_code == 201
    ark.create(obj("q1"))
    ark.http.delete(ark.url())
    assert ark.list()["items"] == []
    assert len(ark.list(namespace=f"{namespace}-other")["items"]) == 1


def test_delete_collection_dry_run_deletes_nothing(ark):
    ark.create(obj("q1"))
    response = ark.http.delete(ark.url(), params={"dryRun": "All"})
    assert response.status_code == 200, response.text
    assert [i["metadata"]["name"] for i in response.json()["items"]] == ["q1"]
    assert len(ark.list()["items"]) == 1


def test_delete_on_the_cluster_wide_collection_is_405(ark):
    assert_status(ark.http.delete(ark.url(namespace=None)), 405, "MethodNotAllowed")


def test_delete_on_status_is_405(ark):
    ark.create(obj("q1"))
    assert_status(ark.http.delete(ark.url("queries", "q1", subresource="status")), 405, "MethodNotAllowed")
    assert ark.get("q1")


def test_concurrent_deletes_give_one_success_and_404_for_the_rest(ark):
    ark.create(obj("q1"))

    def delete(_):
        with ark.session() as session:
            return session.delete(ark.url("queries", "q1"))

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(delete, range(6)))
    assert sorted(r.status_code for r in responses) == [200] + [404] * 5, [r.text for r in responses]


def test_delete_precondition_is_checked_on_a_terminating_object_too(ark):
    ark.create(obj("q1", finalizers=["example.com/hold"]))
    _delete(ark, "q1")
    assert_status(_delete(ark, "q1", {"preconditions": {"uid": "00000000-0000-4000-8000-000000000000"}}), 409,
                  "Conflict")
