"""Server-side apply over HTTP on both databases: managedFields on every write, field ownership,
removal of what a manager stopped applying, conflicts and force, list types set and map, status
writes, and what clients may send as managedFields."""
from __future__ import annotations

import copy
import json

import pytest
from arkrest import ANY_AGENT, APPLY, MERGE, V1ALPHA1, assert_status, obj
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import dynamic


def apply(ark, config: dict, manager: str, **params: str):
    return ark.http.patch(ark.url("queries", config["metadata"]["name"]), data=json.dumps(config),
                          headers={"Content-Type": APPLY}, params={"fieldManager": manager, **params})


def config(name: str = "q1", **spec) -> dict:
    """A Query to apply; its selector makes it admissible (a named target would have to exist)."""
    return obj(name, spec={"input": "hello", "selector": ANY_AGENT, **spec})


def entries(stored: dict) -> dict[tuple[str, str, str], dict]:
    return {(e["manager"], e["operation"], e.get("subresource", "")): e for e in stored["metadata"]["managedFields"]}


def test_apply_creates_with_one_apply_entry(ark):
    created = apply(ark, config(timeout="7m"), "alice")
    assert created.status_code == 201, created.text
    (entry,) = created.json()["metadata"]["managedFields"]
    assert entry["manager"] == "alice" and entry["operation"] == "Apply"
    assert entry["apiVersion"] == V1ALPHA1 and entry["fieldsType"] == "FieldsV1"
    assert entry["time"].endswith("Z")
    assert entry["fieldsV1"] == {"f:spec": {"f:input": {}, "f:selector": {}, "f:timeout": {}}}


def test_applying_the_same_configuration_again_writes_nothing(ark):
    first = apply(ark, config(timeout="7m"), "alice").json()
    again = apply(ark, config(timeout="7m"), "alice")
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again.json()["metadata"]["managedFields"] == first["metadata"]["managedFields"]


def test_fields_a_manager_stops_applying_are_removed(ark):
    with_label = config(timeout="7m")
    with_label["metadata"]["labels"] = {"app": "demo", "tier": "one"}
    apply(ark, with_label, "alice")
    without = config()
    without["metadata"]["labels"] = {"app": "demo"}
    stored = apply(ark, without, "alice").json()
    assert stored["metadata"]["labels"] == {"app": "demo"}
    assert "timeout" not in stored["spec"] or stored["spec"]["timeout"] == "5m"  # back to the schema's default
    assert entries(stored)[("alice", "Apply", "")]["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:input": {}, "f:selector": {}}}


def test_a_field_another_manager_owns_with_another_value_is_a_conflict(ark):
    apply(ark, config(), "alice")
    response = apply(ark, config(input="changed"), "bob")
    status = assert_status(response, 409, "Conflict")
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "alice": .spec.input'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.input",
                                            "message": 'conflict with "alice"'}]
    assert ark.get("q1")["spec"]["input"] == "hello"


def test_force_takes_the_field_over(ark):
    apply(ark, config(), "alice")
    stored = apply(ark, config(input="changed"), "bob", force="true").json()
    assert stored["spec"]["input"] == "changed"
    owners = entries(stored)
    assert owners[("bob", "Apply", "")]["fieldsV1"] == {"f:spec": {"f:input": {}, "f:selector": {}}}
    # the input went to bob; the selector, applied by both with the same value, is shared
    assert owners[("alice", "Apply", "")]["fieldsV1"] == {"f:spec": {"f:selector": {}}}


def test_the_same_value_is_shared_without_a_conflict(ark):
    apply(ark, config(), "alice")
    stored = apply(ark, config(), "bob")
    assert stored.status_code == 200, stored.text
    owners = entries(stored.json())
    assert owners[("alice", "Apply", "")]["fieldsV1"] == owners[("bob", "Apply", "")]["fieldsV1"]
    # When alice stops applying it, bob still owns the field, so it stays.
    assert "timeout" in apply(ark, obj("q1", spec={"input": "hello"}), "alice").json()["spec"]


def test_updates_are_recorded_per_manager_and_take_fields_from_appliers(ark):
    apply(ark, config(), "alice")
    edited = ark.http.patch(ark.url("queries", "q1"), data=json.dumps({"spec": {"input": "edited"}}),
                            headers={"Content-Type": MERGE, "User-Agent": "kubectl-edit/v1.37.1 (linux/amd64)"})
    owners = entries(edited.json())
    assert owners[("kubectl-edit", "Update", "")]["fieldsV1"] == {"f:spec": {"f:input": {}}}
    assert owners[("kubectl-edit", "Update", "")]["apiVersion"] == V1ALPHA1
    assert owners[("alice", "Apply", "")]["fieldsV1"] == {"f:spec": {"f:selector": {}}}  # the input went
    # alice applying its old value now conflicts with the editor (an Update manager: "using" its version).
    status = assert_status(apply(ark, config(), "alice"), 409, "Conflict")
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-edit" using '
                                 "ark.mckinsey.com/v1alpha1: .spec.input")


def test_status_writes_record_the_status_subresource(ark):
    apply(ark, config(), "alice")
    written = ark.patch("q1", {"status": {"phase": "running"}}, subresource="status", fieldManager="controller")
    owners = entries(written.json())
    # The status did not exist before: the writer owns the status object itself (".") and its field.
    assert owners[("controller", "Update", "status")]["fieldsV1"] == {"f:status": {".": {}, "f:phase": {}}}
    status_config = {"apiVersion": V1ALPHA1, "kind": "Query", "metadata": {"name": "q1"},
                     "status": {"phase": "done"}}
    applied = ark.http.patch(ark.url("queries", "q1", subresource="status"), data=json.dumps(status_config),
                             headers={"Content-Type": APPLY}, params={"fieldManager": "controller", "force": "true"})
    assert applied.status_code == 200, applied.text
    owners = entries(applied.json())
    assert owners[("controller", "Apply", "status")]["fieldsV1"] == {"f:status": {"f:phase": {}}}
    assert applied.json()["status"]["phase"] == "done"


def test_finalizers_merge_as_a_set(ark):
    a = config()
    a["metadata"]["finalizers"] = ["example.com/a"]
    apply(ark, a, "alice")
    b = config()
    b["metadata"]["finalizers"] = ["example.com/b"]
    assert apply(ark, b, "bob").json()["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    stored = apply(ark, config(), "alice").json()  # alice no longer applies its finalizer
    assert stored["metadata"]["finalizers"] == ["example.com/b"]
    assert entries(stored)[("bob", "Apply", "")]["fieldsV1"]["f:metadata"] == {
        "f:finalizers": {'v:"example.com/b"': {}}}


def test_owner_references_merge_as_a_map_keyed_by_uid(ark):
    # The owners exist: the garbage collector deletes a dependent whose owners are all absent.
    uids = {name: ark.create(obj(name, "agents"), plural="agents")["metadata"]["uid"] for name in ("one", "two")}

    def owned(name: str) -> dict:
        with_owner = config()
        with_owner["metadata"]["ownerReferences"] = [{"apiVersion": V1ALPHA1, "kind": "Agent", "name": name,
                                                      "uid": uids[name]}]
        return with_owner

    apply(ark, owned("one"), "alice")
    stored = apply(ark, owned("two"), "bob").json()
    assert [o["name"] for o in stored["metadata"]["ownerReferences"]] == ["one", "two"]
    assert f'k:{{"uid":"{uids["two"]}"}}' in \
        entries(stored)[("bob", "Apply", "")]["fieldsV1"]["f:metadata"]["f:ownerReferences"]


def test_an_atomic_list_is_replaced_whole_and_owned_whole(ark):
    apply(ark, config(parameters=[{"name": "a", "value": "1"}]), "alice")
    assert_status(apply(ark, config(parameters=[{"name": "b", "value": "2"}]), "bob"), 409, "Conflict")


def test_an_empty_managed_fields_list_resets_ownership(ark):
    apply(ark, config(), "alice")
    current = ark.get("q1")
    current["metadata"]["managedFields"] = []
    current["spec"]["input"] = "reset"
    replaced = ark.http.put(ark.url("queries", "q1"), json=current, params={"fieldManager": "carol"})
    assert replaced.status_code == 200, replaced.text
    assert "managedFields" not in replaced.json()["metadata"]
    # An untracked object's first apply finds its fields owned by "before-first-apply".
    status = assert_status(apply(ark, config(input="taken"), "bob"), 409, "Conflict")
    assert 'conflict with "before-first-apply"' in status["message"]
    forced = apply(ark, config(input="taken"), "bob", force="true").json()
    assert forced["spec"]["input"] == "taken" and ("bob", "Apply", "") in entries(forced)


def test_managed_fields_that_do_not_decode_are_replaced_by_the_stored_ones(ark):
    stored = ark.create(obj("q1"), fieldManager="creator")["metadata"]["managedFields"]
    current = ark.get("q1")
    current["metadata"]["managedFields"] = [{"manager": "forger", "operation": "Sideways", "fieldsType": "FieldsV1",
                                             "fieldsV1": {}}]
    replaced = ark.http.put(ark.url("queries", "q1"), json=current, params={"fieldManager": "creator"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["metadata"]["managedFields"] == stored


def test_managed_fields_of_the_wrong_shape_are_422(ark):
    ark.create(obj("q1"))
    current = ark.get("q1")
    current["metadata"]["managedFields"] = ["not an entry"]
    status = assert_status(ark.http.put(ark.url("queries", "q1"), json=current), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.managedFields[0]"]


def test_creates_are_owned_by_their_manager(ark):
    created = ark.create(obj("q1"), fieldManager="kubectl-create")
    owners = entries(created)
    assert owners[("kubectl-create", "Update", "")]["fieldsV1"]["f:spec"]["f:input"] == {}


def test_the_python_clients_server_side_apply(ark, server):
    """A controller using the official client's dynamic server_side_apply, as controllers do."""
    api = k8s_config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        queries = dynamic.DynamicClient(api).resources.get(api_version=V1ALPHA1, kind="Query")
        body = copy.deepcopy(config(timeout="9m"))
        first = queries.server_side_apply(body=body, name="q1", namespace=ark.namespace, field_manager="ctrl")
        assert first.metadata.managedFields[0].manager == "ctrl"
        assert first.spec.timeout == "9m"
        with pytest.raises(k8s_client.ApiException) as raised:
            queries.server_side_apply(body=config(input="other"), name="q1", namespace=ark.namespace,
                                      field_manager="other-ctrl")
        assert raised.value.status == 409
        forced = queries.server_side_apply(body=config(input="other"), name="q1", namespace=ark.namespace,
                                           field_manager="other-ctrl", force_conflicts=True)
        assert forced.spec.input == "other"
    finally:
        api.close()
