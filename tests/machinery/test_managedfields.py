"""Field ownership on apply and update, as kube-apiserver keeps managedFields for custom resources."""
from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from marshmallow import Schema, fields

from ark.kinds import REGISTRY, Kind
from ark.kinds.fields import String
from ark.machinery.errors import ApiError
from ark.machinery.managedfields import (
    LAST_APPLIED,
    ApplyConflict,
    ManagedFieldsError,
    apply,
    from_fields_v1,
    manager_from_user_agent,
    manager_name,
    object_structure,
    path_string,
    to_field_set,
    to_fields_v1,
    update,
)
from ark.registry.strategy import Strategy

QUERY = REGISTRY.lookup("v1alpha1", "queries")
V1 = "ark.mckinsey.com/v1alpha1"
T1, T2, T3, T4 = (f"2026-03-01T10:0{i}:00Z" for i in range(1, 5))


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def config(spec: dict | None = None, **metadata: Any) -> dict:
    """An applied configuration of the Query ``q``."""
    out: dict[str, Any] = {"apiVersion": V1, "kind": "Query", "metadata": {"name": "q", "namespace": "ns", **metadata}}
    if spec is not None:
        out["spec"] = spec
    return out


def stored(obj: dict, rv: str = "1") -> dict:
    """``obj`` as the store would return it: with the server's metadata."""
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="0d6e", resourceVersion=rv, creationTimestamp=T1, generation=1)
    return obj


def created(obj: dict, manager: str = "kubectl-create", now: str = T1) -> dict:
    """``obj`` created through POST by ``manager``."""
    out = stored(obj)
    out["metadata"]["managedFields"] = update(QUERY, None, out, manager, now)
    return out


def updated(live: dict, change: Any, manager: str, now: str = T2, subresource: str = "") -> dict:
    """``live`` after ``change(new)`` was written by ``manager`` through an update."""
    new = copy.deepcopy(live)
    change(new)
    new["metadata"]["managedFields"] = update(QUERY, live, new, manager, now, subresource)
    if not new["metadata"]["managedFields"]:
        del new["metadata"]["managedFields"]
    return new


def entries(obj: dict) -> list[dict]:
    return obj["metadata"].get("managedFields", [])


def owned(obj: dict, manager: str, operation: str = "Apply", subresource: str = "") -> set[str]:
    """The paths ``manager`` owns, as strings; empty when it has no entry."""
    for entry in entries(obj):
        if (entry.get("manager"), entry["operation"], entry.get("subresource", "")) == (manager, operation,
                                                                                      subresource):
            return {path_string(p) for p in from_fields_v1(entry["fieldsV1"]).paths()}
    return set()


def managers(obj: dict) -> list[tuple[str, str]]:
    return [(e.get("manager", ""), e["operation"]) for e in entries(obj)]


SPEC = {"input": "hello", "timeout": "1m", "target": {"type": "agent", "name": "helper"}}
INPUT = {"f:spec": {"f:input": {}}}


# --- what a configuration sets ---------------------------------------------------------------


def test_field_set_of_a_configuration() -> None:
    obj = config(
        {"input": {"messages": [{"role": "user"}], "options": {"temperature": 0}}, "target": {"type": "agent"},
         "parameters": [{"name": "p", "value": "1"}], "selector": {"matchLabels": {"a": "b"}}},
        labels={"app": "x"}, finalizers=["ark.mckinsey.com/a"],
        ownerReferences=[{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u1"}],
    )
    fields = to_field_set(object_structure(QUERY), obj)
    assert compact(to_fields_v1(fields)) == (
        '{"f:apiVersion":{},"f:kind":{},"f:metadata":{"f:finalizers":{"v:\\"ark.mckinsey.com/a\\"":{}},'
        '"f:labels":{"f:app":{}},"f:name":{},"f:namespace":{},"f:ownerReferences":{"k:{\\"uid\\":\\"u1\\"}":{}}},'
        '"f:spec":{"f:input":{"f:messages":{},"f:options":{".":{},"f:temperature":{}}},"f:parameters":{},'
        '"f:selector":{},"f:target":{"f:type":{}}}}'
    )


def test_create_records_every_field_under_the_creator() -> None:
    obj = created(config(SPEC, labels={"app": "x", "tier": "web"}) | {"status": {"phase": "done"}})
    (entry,) = entries(obj)
    assert entry == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": V1, "time": T1, "fieldsType": "FieldsV1",
        "fieldsV1": json.loads('{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:tier":{}}},"f:spec":{".":{},'
                               '"f:input":{},"f:target":{".":{},"f:name":{},"f:type":{}},"f:timeout":{}}}'),
    }
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]


# --- apply ----------------------------------------------------------------------------------


def test_apply_creates_and_owns_exactly_its_configuration() -> None:
    result = apply(QUERY, None, config(SPEC, labels={"app": "x"}), "argocd", T1)
    assert result.changed
    assert result.object["spec"] == SPEC and result.object["metadata"]["labels"] == {"app": "x"}
    assert entries(result.object) == [{
        "manager": "argocd", "operation": "Apply", "apiVersion": V1, "time": T1, "fieldsType": "FieldsV1",
        "fieldsV1": json.loads('{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:input":{},'
                               '"f:target":{"f:name":{},"f:type":{}},"f:timeout":{}}}'),
    }]


def test_applying_the_same_configuration_again_changes_nothing() -> None:
    live = stored(apply(QUERY, None, config(SPEC, labels={"app": "x"}), "argocd", T1).object)
    again = apply(QUERY, live, config(SPEC, labels={"app": "x"}), "argocd", T2)
    assert not again.changed
    assert again.object == live
    assert entries(again.object)[0]["time"] == T1


def test_fields_left_out_of_the_configuration_are_removed() -> None:
    live = stored(apply(QUERY, None, config(SPEC, labels={"app": "x", "keep": "y"}), "argocd", T1).object)
    spec = {k: v for k, v in SPEC.items() if k != "timeout"}
    result = apply(QUERY, live, config(spec, labels={"keep": "y"}), "argocd", T2)
    assert result.changed
    assert result.object["metadata"]["labels"] == {"keep": "y"}
    assert result.object["spec"] == spec
    assert owned(result.object, "argocd") == {".metadata.labels.keep", ".spec.input", ".spec.target.name",
                                              ".spec.target.type"}
    assert entries(result.object)[0]["time"] == T2


def test_an_object_the_configuration_sets_empty_stays_empty() -> None:
    live = stored(apply(QUERY, None, config({"input": "x", "target": {"type": "agent"}}), "argocd", T1).object)
    result = apply(QUERY, live, config({"input": "x", "target": {}}), "argocd", T2)
    assert result.object["spec"]["target"] == {}
    assert owned(result.object, "argocd") == {".spec.input", ".spec.target"}
    assert not apply(QUERY, stored(result.object), config({"input": "x", "target": {}}), "argocd", T3).changed


def test_dropping_every_label_removes_the_labels_map() -> None:
    live = stored(apply(QUERY, None, config(SPEC, labels={"app": "x"}), "argocd", T1).object)
    result = apply(QUERY, live, config(SPEC), "argocd", T2)
    assert "labels" not in result.object["metadata"]


def test_a_dropped_field_stays_when_an_updater_owns_it() -> None:
    live = stored(apply(QUERY, None, config(SPEC, labels={"app": "x"}), "argocd", T1).object)
    live = updated(live, lambda o: o["metadata"]["labels"].update(app="edited"), "kubectl-edit")
    result = apply(QUERY, live, config(SPEC), "argocd", T3)
    assert result.object["metadata"]["labels"] == {"app": "edited"}
    assert owned(result.object, "kubectl-edit", "Update") == {".metadata.labels.app"}


def test_a_dropped_field_stays_when_another_applier_shares_it() -> None:
    live = stored(apply(QUERY, None, config(SPEC), "argocd", T1).object)
    live = stored(apply(QUERY, live, config({"timeout": "1m"}), "flux", T2).object)
    assert ".spec.timeout" in owned(live, "argocd") and ".spec.timeout" in owned(live, "flux")
    spec = {k: v for k, v in SPEC.items() if k != "timeout"}
    result = apply(QUERY, live, config(spec), "argocd", T3)
    assert result.object["spec"]["timeout"] == "1m"
    assert ".spec.timeout" not in owned(result.object, "argocd")
    assert owned(result.object, "flux") == {".spec.timeout"}


def test_a_different_value_owned_by_an_updater_is_a_conflict() -> None:
    live = created(config(SPEC), "kubectl-create")
    with pytest.raises(ApplyConflict) as err:
        apply(QUERY, live, config({"input": "other"}), "argocd", T2)
    assert err.value.code == 409 and err.value.reason == "Conflict"
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-create" using ark.mckinsey.com/v1alpha1: .spec.input')
    assert err.value.details == {"causes": [{
        "reason": "FieldManagerConflict", "field": ".spec.input",
        "message": 'conflict with "kubectl-create" using ark.mckinsey.com/v1alpha1'}]}
    assert err.value.status()["details"]["causes"][0]["field"] == ".spec.input"


def test_several_conflicts_are_listed_per_manager() -> None:
    live = stored(apply(QUERY, None, config(SPEC), "argocd", T1).object)
    live = updated(live, lambda o: o["spec"].update(timeout="2m"), "kubectl-edit")
    with pytest.raises(ApplyConflict) as err:
        apply(QUERY, live, config({"input": "x", "timeout": "3m", "target": {"type": "team", "name": "helper"}}),
              "flux", T3)
    assert err.value.message == (
        "Apply failed with 3 conflicts: conflicts with \"argocd\":\n- .spec.input\n- .spec.target.type\n"
        "conflicts with \"kubectl-edit\" using ark.mckinsey.com/v1alpha1:\n- .spec.timeout")
    assert [c["field"] for c in err.value.details["causes"]] == [".spec.input", ".spec.target.type", ".spec.timeout"]
    assert [c["message"] for c in err.value.details["causes"]][1:] == [
        'conflict with "argocd"', 'conflict with "kubectl-edit" using ark.mckinsey.com/v1alpha1']


def test_the_same_value_is_shared_without_conflict() -> None:
    live = created(config(SPEC), "kubectl-create")
    result = apply(QUERY, live, config({"input": "hello"}), "argocd", T2)
    assert result.object["spec"] == live["spec"]
    assert owned(result.object, "argocd") == {".spec.input"}
    assert ".spec.input" in owned(result.object, "kubectl-create", "Update")
    assert result.changed  # a new entry, though the object itself is the same
    assert "time" not in next(e for e in entries(result.object) if e["manager"] == "argocd")


def test_force_takes_the_fields_from_their_owners() -> None:
    live = created(config(SPEC), "kubectl-create")
    result = apply(QUERY, live, config({"input": "other"}), "argocd", T2, force=True)
    assert result.object["spec"]["input"] == "other"
    assert owned(result.object, "argocd") == {".spec.input"}
    assert ".spec.input" not in owned(result.object, "kubectl-create", "Update")


def test_updates_take_fields_from_appliers_and_then_conflict_with_them() -> None:
    live = stored(apply(QUERY, None, config(SPEC), "argocd", T1).object)
    live = updated(live, lambda o: o["spec"].update(input="edited"), "kubectl-edit")
    assert ".spec.input" not in owned(live, "argocd")
    assert owned(live, "kubectl-edit", "Update") == {".spec.input"}
    with pytest.raises(ApplyConflict, match=re.escape('"kubectl-edit" using ark.mckinsey.com/v1alpha1: .spec.input')):
        apply(QUERY, live, config(SPEC), "argocd", T3)


def test_an_update_that_removes_a_field_removes_it_from_every_owner() -> None:
    live = stored(apply(QUERY, None, config(SPEC), "argocd", T1).object)
    live = updated(live, lambda o: o["spec"].pop("timeout"), "kubectl-edit")
    assert ".spec.timeout" not in owned(live, "argocd")
    assert managers(live) == [("argocd", "Apply")]  # the editor changed nothing it could own


def test_update_entries_are_merged_per_manager() -> None:
    live = created(config(SPEC), "kubectl-create")
    live = updated(live, lambda o: o["spec"].update(input="a"), "controller", T2)
    live = updated(live, lambda o: o["spec"].update(timeout="9m"), "controller", T3)
    assert managers(live) == [("kubectl-create", "Update"), ("controller", "Update")]
    assert owned(live, "controller", "Update") == {".spec.input", ".spec.timeout"}
    assert [e.get("time") for e in entries(live)] == [T1, T3]


def test_an_update_that_changes_nothing_keeps_the_entries_as_they_are() -> None:
    live = created(config(SPEC), "kubectl-create")
    assert update(QUERY, live, copy.deepcopy(live), "kubectl-edit", T2) == entries(live)


def test_empty_entries_are_dropped() -> None:
    live = stored(apply(QUERY, None, config({"input": "a"}), "argocd", T1).object)
    live = updated(live, lambda o: o["spec"].update(input="b"), "kubectl-edit")
    assert managers(live) == [("kubectl-edit", "Update")]


def test_managers_are_identified_by_operation_subresource_and_update_version() -> None:
    live = stored(apply(QUERY, None, config(SPEC), "ctl", T1).object)
    live = updated(live, lambda o: o["spec"].update(input="u"), "ctl", T2)
    live = updated(live, lambda o: o.setdefault("status", {}).update(phase="done"), "ctl", T3, subresource="status")
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in entries(live)] == [
        ("ctl", "Apply", None), ("ctl", "Update", None), ("ctl", "Update", "status")]


# --- status -------------------------------------------------------------------------------


def test_status_writes_own_only_status_under_the_status_subresource() -> None:
    live = created(config(SPEC))

    def change(obj: dict) -> None:
        obj["status"] = {"phase": "running", "duration": "1s"}
        obj["spec"]["input"] = "ignored by /status"
        obj["metadata"]["labels"] = {"ignored": "too"}

    live = updated(live, change, "ark-controller", T2, subresource="status")
    status_entry = entries(live)[-1]
    assert (status_entry["manager"], status_entry["subresource"]) == ("ark-controller", "status")
    assert owned(live, "ark-controller", "Update", "status") == {".status", ".status.duration", ".status.phase"}
    assert ".spec.input" in owned(live, "kubectl-create", "Update")


def test_status_through_the_main_resource_is_not_owned() -> None:
    live = created(config(SPEC))
    live = updated(live, lambda o: o.update(status={"phase": "done"}), "kubectl-edit", T2)
    assert managers(live) == [("kubectl-create", "Update")]


def test_status_apply() -> None:
    live = created(config(SPEC))
    applied = config() | {"status": {"phase": "done"}}
    result = apply(QUERY, live, applied, "ark-controller", T2, subresource="status")
    assert owned(result.object, "ark-controller", "Apply", "status") == {".status.phase"}
    assert result.object["status"] == {"phase": "done"}


def test_the_main_resource_apply_does_not_own_status() -> None:
    result = apply(QUERY, None, config(SPEC) | {"status": {"phase": "done"}}, "argocd", T1)
    assert not any(path.startswith(".status") for path in owned(result.object, "argocd"))


# --- the cap on update managers -----------------------------------------------------------


def test_at_most_ten_update_managers_are_kept() -> None:
    live = created(config({"input": "x"}), "creator", "2026-03-01T09:00:00Z")
    for i in range(11):
        live = updated(live, lambda o, i=i: o["metadata"].setdefault("labels", {}).update({f"l{i}": "v"}),
                       f"writer-{i:02d}", f"2026-03-01T10:{i:02d}:00Z")
    names = [e["manager"] for e in entries(live)]
    assert len(names) == 10
    assert names == ["ancient-changes"] + [f"writer-{i:02d}" for i in range(2, 11)]
    ancient = entries(live)[0]
    assert ancient["operation"] == "Update" and ancient["time"] == "2026-03-01T10:01:00Z"
    assert owned(live, "ancient-changes", "Update") == {".metadata.labels", ".metadata.labels.l0",
                                                        ".metadata.labels.l1", ".spec", ".spec.input"}


def test_appliers_do_not_count_against_the_cap() -> None:
    live = stored(apply(QUERY, None, config({"input": "x"}), "applier", T1).object)
    for i in range(10):
        live = updated(live, lambda o, i=i: o["metadata"].setdefault("labels", {}).update({f"l{i}": "v"}),
                       f"writer-{i}", f"2026-03-01T10:{i:02d}:00Z")
    assert len(entries(live)) == 11 and "ancient-changes" not in [m for m, _ in managers(live)]


# --- list types -----------------------------------------------------------------------------


def test_finalizers_merge_as_a_set() -> None:
    live = created(config(SPEC, finalizers=["a.io/one", "a.io/two"]), "controller")
    result = apply(QUERY, live, config(SPEC, finalizers=["a.io/three", "a.io/two"]), "argocd", T2)
    assert result.object["metadata"]["finalizers"] == ["a.io/one", "a.io/three", "a.io/two"]
    assert {p for p in owned(result.object, "argocd") if "finalizers" in p} == {
        '.metadata.finalizers[="a.io/three"]', '.metadata.finalizers[="a.io/two"]'}
    live = stored(result.object)
    result = apply(QUERY, live, config(SPEC, finalizers=["a.io/two"]), "argocd", T3)
    assert result.object["metadata"]["finalizers"] == ["a.io/one", "a.io/two"]  # two is shared, three was argocd's


def test_reordering_a_set_is_a_change() -> None:
    live = stored(apply(QUERY, None, config(SPEC, finalizers=["a.io/one", "a.io/two"]), "argocd", T1).object)
    result = apply(QUERY, live, config(SPEC, finalizers=["a.io/two", "a.io/one"]), "argocd", T2)
    assert result.changed and result.object["metadata"]["finalizers"] == ["a.io/two", "a.io/one"]
    assert entries(result.object)[0]["time"] == T2


def test_owner_references_merge_by_uid_and_each_is_owned_whole() -> None:
    first = {"apiVersion": "v1", "kind": "ConfigMap", "name": "one", "uid": "u1"}
    second = {"apiVersion": "v1", "kind": "ConfigMap", "name": "two", "uid": "u2"}
    live = created(config(SPEC, ownerReferences=[first]), "controller")
    result = apply(QUERY, live, config(SPEC, ownerReferences=[second]), "argocd", T2)
    assert result.object["metadata"]["ownerReferences"] == [first, second]
    assert '.metadata.ownerReferences[uid="u2"]' in owned(result.object, "argocd")
    assert not any(p.startswith('.metadata.ownerReferences[uid="u2"].') for p in owned(result.object, "argocd"))
    with pytest.raises(ApplyConflict) as err:
        apply(QUERY, stored(result.object), config(SPEC, ownerReferences=[{**first, "name": "renamed"}]), "argocd", T3)
    assert [c["field"] for c in err.value.details["causes"]] == ['.metadata.ownerReferences[uid="u1"]']


def test_an_atomic_list_is_replaced_and_owned_whole() -> None:
    params = [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]
    live = stored(apply(QUERY, None, config({**SPEC, "parameters": params}), "argocd", T1).object)
    assert ".spec.parameters" in owned(live, "argocd")
    result = apply(QUERY, live, config({**SPEC, "parameters": [{"name": "c"}]}), "argocd", T2)
    assert result.object["spec"]["parameters"] == [{"name": "c"}]
    live = updated(live, lambda o: o["spec"]["parameters"][1].update(value="3"), "kubectl-edit", T3)
    assert ".spec.parameters" in owned(live, "kubectl-edit", "Update")
    with pytest.raises(ApplyConflict, match=r"\.spec\.parameters$"):
        apply(QUERY, live, config({**SPEC, "parameters": params}), "argocd", T4)


def test_an_atomic_object_is_replaced_whole() -> None:
    live = stored(apply(QUERY, None, config({**SPEC, "selector": {"matchLabels": {"a": "1", "b": "2"}}}),
                        "argocd", T1).object)
    result = apply(QUERY, live, config({**SPEC, "selector": {"matchLabels": {"c": "3"}}}), "argocd", T2)
    assert result.object["spec"]["selector"] == {"matchLabels": {"c": "3"}}


class Port(Schema):
    port = fields.Integer(required=True)
    protocol = String()
    name = String()


class Group(Schema):
    name = String(required=True)
    members = fields.List(String(), metadata={"x-kubernetes-list-type": "set"})


class WidgetSpec(Schema):
    ports = fields.List(fields.Nested(Port), metadata={"x-kubernetes-list-type": "map",
                                                       "x-kubernetes-list-map-keys": ["port", "protocol"]})
    tags = fields.List(String(), metadata={"x-kubernetes-list-type": "set"})
    groups = fields.List(fields.Nested(Group), metadata={"x-kubernetes-list-type": "map",
                                                         "x-kubernetes-list-map-keys": ["name"]})


WIDGET = Kind(kind="Widget", plural="widgets", singular="widget", version="v1", description="for tests",
              spec=WidgetSpec(), status=Schema.from_dict({})(), strategy_class=Strategy, group="example.test")


def widget(spec: dict) -> dict:
    return {"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_map_lists_merge_items_by_their_keys_in_a_stable_order() -> None:
    live = stored(apply(WIDGET, None, widget({"ports": [{"port": 80, "protocol": "TCP", "name": "http"},
                                                        {"port": 53, "protocol": "UDP"}]}), "a", T1).object)
    mine = widget({"ports": [{"port": 443, "protocol": "TCP"}, {"port": 80, "protocol": "TCP", "name": "web"}]})
    with pytest.raises(ApplyConflict, match=r'\.spec\.ports\[port=80,protocol="TCP"\]\.name'):
        apply(WIDGET, live, mine, "b", T2)
    result = apply(WIDGET, live, mine, "b", T2, force=True)
    assert result.object["spec"]["ports"] == [{"port": 443, "protocol": "TCP"},
                                              {"port": 80, "protocol": "TCP", "name": "web"},
                                              {"port": 53, "protocol": "UDP"}]
    assert owned(result.object, "b", "Apply") == {
        '.spec.ports[port=443,protocol="TCP"]', '.spec.ports[port=443,protocol="TCP"].port',
        '.spec.ports[port=443,protocol="TCP"].protocol', '.spec.ports[port=80,protocol="TCP"]',
        '.spec.ports[port=80,protocol="TCP"].name', '.spec.ports[port=80,protocol="TCP"].port',
        '.spec.ports[port=80,protocol="TCP"].protocol'}


def test_set_lists_keep_live_items_in_place() -> None:
    live = stored(apply(WIDGET, None, widget({"tags": ["a", "b", "c"]}), "x", T1).object)
    result = apply(WIDGET, live, widget({"tags": ["d", "b"]}), "y", T2)
    assert result.object["spec"]["tags"] == ["a", "d", "b", "c"]


def widget_updated(live: dict, spec: dict, manager: str, now: str) -> dict:
    new = copy.deepcopy(live)
    new["spec"] = spec
    new["metadata"]["managedFields"] = update(WIDGET, live, new, manager, now)
    return stored(new)


def test_set_order_follows_the_applied_configuration_around_other_items() -> None:
    """The orders structured-merge-diff gives (its set tests' shapes)."""
    live = stored(apply(WIDGET, None, widget({"tags": ["p", "r"]}), "mine", T1).object)
    live = widget_updated(live, {"tags": ["p", "q", "r", "s"]}, "controller", T2)
    result = apply(WIDGET, live, widget({"tags": ["p", "pp", "r", "rr"]}), "mine", T3).object
    assert result["spec"]["tags"] == ["p", "q", "pp", "r", "s", "rr"]
    assert owned(result, "mine") == {'.spec.tags[="p"]', '.spec.tags[="pp"]', '.spec.tags[="r"]', '.spec.tags[="rr"]'}
    assert owned(result, "controller", "Update") == {'.spec.tags[="q"]', '.spec.tags[="s"]'}

    live = stored(apply(WIDGET, None, widget({"tags": ["p", "q", "r", "s"]}), "mine", T1).object)
    assert apply(WIDGET, live, widget({"tags": ["p", "s", "r", "q"]}), "mine", T2).object["spec"]["tags"] == [
        "p", "s", "r", "q"]
    reordered = widget_updated(live, {"tags": ["p", "s", "r", "q"]}, "controller", T2)
    assert managers(reordered) == [("mine", "Apply")]  # a reorder changes no field
    assert apply(WIDGET, reordered, widget({"tags": ["p", "q", "r", "s"]}), "mine", T3).object["spec"]["tags"] == [
        "p", "q", "r", "s"]


def test_an_item_another_applier_owns_stays_without_what_only_i_set_in_it() -> None:
    live = stored(apply(WIDGET, None, widget({"groups": [{"name": "a"}, {"name": "b", "members": ["m1"]}]}),
                        "one", T1).object)
    live = stored(apply(WIDGET, live, widget({"groups": [{"name": "b", "members": ["m2"]}]}), "two", T2).object)
    live = widget_updated(live, {"groups": [{"name": "a"}, {"name": "b", "members": ["m1", "m2", "m3"]}]},
                          "controller", T3)
    result = apply(WIDGET, live, widget({"groups": [{"name": "a"}]}), "one", T4).object
    assert result["spec"]["groups"] == [{"name": "a"}, {"name": "b", "members": ["m2", "m3"]}]
    assert owned(result, "controller", "Update") == {'.spec.groups[name="b"].members[="m3"]'}


def test_an_item_only_i_applied_goes_with_what_an_updater_added_to_it() -> None:
    """An updater owning a value inside an item does not keep the item alive (as upstream)."""
    live = stored(apply(WIDGET, None, widget({"groups": [{"name": "a"}, {"name": "b", "members": ["m1"]}]}),
                        "one", T1).object)
    live = stored(apply(WIDGET, live, widget({"groups": [{"name": "a", "members": ["m0"]}]}), "two", T2).object)
    live = widget_updated(live, {"groups": [{"name": "a", "members": ["m0"]}, {"name": "b", "members": ["m1", "m9"]}]},
                          "controller", T3)
    result = apply(WIDGET, live, widget({"groups": [{"name": "a"}]}), "one", T4).object
    assert result["spec"]["groups"] == [{"name": "a", "members": ["m0"]}]
    assert managers(result) == [("two", "Apply"), ("one", "Apply")]  # sorted by time; the controller lost all


def test_a_configuration_with_duplicated_items_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as err:
        apply(QUERY, None, config(SPEC, finalizers=["a.io/x", "a.io/x"]), "argocd", T1)
    assert err.value.code == 400
    assert 'duplicate entries for key [="a.io/x"]' in err.value.message


# --- bad applied configurations ------------------------------------------------------------


@pytest.mark.parametrize(
    ("applied", "message"),
    [
        ({"apiVersion": V1, "kind": "Agent", "metadata": {"name": "q"}},
         "invalid object type: ark.mckinsey.com/v1alpha1, Kind=Agent"),
        ({"apiVersion": "v1", "kind": "Query", "metadata": {"name": "q"}}, "invalid object type: /v1, Kind=Query"),
        ({"metadata": {"name": "q"}}, "invalid object type: /, Kind="),
        (config(managedFields=[]), "metadata.managedFields must be nil"),
    ],
)
def test_bad_configurations_are_bad_requests(applied: dict, message: str) -> None:
    with pytest.raises(ApiError) as err:
        apply(QUERY, None, applied, "argocd", T1)
    assert (err.value.code, err.value.message) == (400, message)


# --- managedFields sent by clients ----------------------------------------------------------


def test_sent_managed_fields_that_decode_replace_the_stored_ones() -> None:
    live = created(config(SPEC), "kubectl-create")
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "migrated", "operation": "Apply", "apiVersion": V1,
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:input": {}}}}]
    result = update(QUERY, live, new, "kubectl", T2)
    assert [(e["manager"], e["operation"]) for e in result] == [("migrated", "Apply")]


def test_a_create_takes_every_field_from_sent_entries() -> None:
    """Sent entries are decoded on create too, but the creator takes every field the object sets."""
    new = stored(config(SPEC))
    new["metadata"]["managedFields"] = [{"manager": "exported", "operation": "Apply", "apiVersion": V1,
                                         "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:spec": {"f:input": {}, "f:ttl": {}}}}]
    result = update(QUERY, None, new, "kubectl-create", T2)
    assert [(e["manager"], e["operation"]) for e in result] == [("exported", "Apply"), ("kubectl-create", "Update")]
    assert result[0]["fieldsV1"] == {"f:spec": {"f:ttl": {}}}


def test_an_empty_list_resets_ownership() -> None:
    live = created(config(SPEC))
    for reset in ([], [{}]):
        new = copy.deepcopy(live)
        new["metadata"]["managedFields"] = reset
        new["spec"]["input"] = "changed"
        assert update(QUERY, live, new, "kubectl-edit", T2) == []


def test_an_untracked_object_stays_untracked_until_applied() -> None:
    live = stored(config(SPEC, labels={"app": "x"}))  # no managedFields: written before tracking
    assert update(QUERY, live, copy.deepcopy(live) | {"spec": {"input": "b"}}, "kubectl-edit", T2) == []
    result = apply(QUERY, live, config({"input": "hello"}), "argocd", T2)
    assert managers(result.object) == [("argocd", "Apply"), ("before-first-apply", "Update")]
    assert owned(result.object, "before-first-apply", "Update") == {
        ".metadata.labels", ".metadata.labels.app", ".spec", ".spec.input", ".spec.target", ".spec.target.name",
        ".spec.target.type", ".spec.timeout"}


def test_sent_managed_fields_that_do_not_decode_are_ignored() -> None:
    live = created(config(SPEC))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "x", "operation": "Patch", "apiVersion": V1,
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    new["spec"]["input"] = "changed"
    result = update(QUERY, live, new, "kubectl-edit", T2)
    assert [(e["manager"], e["operation"]) for e in result] == [("kubectl-create", "Update"),
                                                                ("kubectl-edit", "Update")]


@pytest.mark.parametrize(
    ("sent", "field", "message"),
    [
        ("all", "metadata.managedFields", 'Invalid value: "all": must be a list of managed fields entries'),
        ([7], "metadata.managedFields[0]", "Invalid value: 7: must be an object"),
        ([{"manager": 5, "operation": "Apply"}], "metadata.managedFields[0].manager",
         "Invalid value: 5: must be of type string"),
        ([{"time": "yesterday"}], "metadata.managedFields[0].time",
         'Invalid value: "yesterday": must be an RFC 3339 date-time'),
        ([{"manager": "m" * 129, "operation": "Apply", "apiVersion": V1, "fieldsType": "FieldsV1", "fieldsV1": INPUT}],
         "metadata.managedFields[0].manager", "Too long: may not be more than 128 bytes"),
        ([{"manager": "a\x07b", "operation": "Apply", "apiVersion": V1, "fieldsType": "FieldsV1", "fieldsV1": INPUT}],
         "metadata.managedFields[0].manager", 'Invalid value: "a\\u0007b": invalid character U+0007 (at position 1)'),
    ],
)
def test_malformed_sent_managed_fields_are_invalid(sent: Any, field: str, message: str) -> None:
    live = created(config(SPEC))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = sent
    with pytest.raises(ManagedFieldsError) as err:
        update(QUERY, live, new, "kubectl-edit", T2)
    assert [(e.field, e.message) for e in err.value.errors] == [(field, message)]


def test_sent_times_are_normalized() -> None:
    live = created(config(SPEC))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "m", "operation": "Update", "apiVersion": V1,
                                         "time": "2026-03-01T12:30:00.5+02:00", "fieldsType": "FieldsV1",
                                         "fieldsV1": {"f:spec": {"f:input": {}}}}]
    assert update(QUERY, live, new, "m", T2)[0]["time"] == "2026-03-01T10:30:00Z"


def test_status_writes_ignore_sent_managed_fields() -> None:
    live = created(config(SPEC))
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = []
    new["status"] = {"phase": "done"}
    result = update(QUERY, live, new, "ark-controller", T2, "status")
    assert [(e["manager"], e.get("subresource")) for e in result] == [("kubectl-create", None),
                                                                      ("ark-controller", "status")]


def test_entries_of_another_api_version_are_dropped() -> None:
    live = created(config(SPEC))
    live["metadata"]["managedFields"].append({"manager": "old", "operation": "Update",
                                              "apiVersion": "ark.mckinsey.com/v1", "fieldsType": "FieldsV1",
                                              "fieldsV1": {"f:spec": {"f:ttl": {}}}})
    result = update(QUERY, live, copy.deepcopy(live) | {"spec": {**SPEC, "input": "b"}}, "kubectl-edit", T2)
    assert [e["manager"] for e in result] == ["kubectl-create", "kubectl-edit"]


def test_stored_entries_that_cannot_be_read_stop_an_apply() -> None:
    live = created(config(SPEC))
    live["metadata"]["managedFields"] = [{"manager": "x", "operation": "Apply", "apiVersion": V1,
                                          "fieldsType": "FieldsV1", "fieldsV1": {"nonsense": {}}}]
    with pytest.raises(ManagedFieldsError) as err:
        apply(QUERY, live, config(SPEC), "argocd", T2)
    assert err.value.errors[0].field == "metadata.managedFields[0].fieldsV1"


# --- the manager's name ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("kubectl/v1.37.1 (linux/amd64) kubernetes/6b5c1e0", "kubectl"),
        ("kubectl-edit/v1.32.0 (linux/amd64) kubernetes/a", "kubectl-edit"),
        ("kopf/1.45.2", "kopf"),
        ("", ""),
        ("tab\there/1.0", "tabhere"),
        ("é" * 70, "é" * 64),  # 128 bytes, never half a character
        ("x" * 200, "x" * 128),
    ],
)
def test_manager_from_user_agent(user_agent: str, expected: str) -> None:
    assert manager_from_user_agent(user_agent) == expected


def test_field_manager_wins_over_the_user_agent() -> None:
    assert manager_name("argocd-controller", "argocd/v2.14") == "argocd-controller"
    assert manager_name("", "Go-http-client/2.0") == "Go-http-client"
    assert entries(apply(QUERY, None, config(SPEC), "", T1).object)[0]["manager"] == "unknown"


# --- kubectl's client-side to server-side migration ----------------------------------------------


def client_side_apply(spec: dict, live: dict | None = None, now: str = T1) -> dict:
    """What ``kubectl apply`` (client-side) leaves: the object with its last-applied annotation."""
    applied = config(spec)
    annotation = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
    new = copy.deepcopy(live) if live else stored(applied)
    new["spec"] = copy.deepcopy(spec)
    new["metadata"].setdefault("annotations", {})[LAST_APPLIED] = annotation
    new["metadata"]["managedFields"] = update(QUERY, live, new, "kubectl-client-side-apply", now)
    return new


def test_kubectl_server_side_apply_takes_over_what_it_applied_client_side() -> None:
    live = client_side_apply(SPEC)
    changed_spec = {**SPEC, "input": "server-side now"}
    with pytest.raises(ApplyConflict):  # another manager name gets the conflict
        apply(QUERY, live, config(changed_spec), "someone-else", T2)
    result = apply(QUERY, live, config(changed_spec), "kubectl", T2)
    assert result.object["spec"]["input"] == "server-side now"
    assert ".spec.input" in owned(result.object, "kubectl")
    assert ".spec.input" not in owned(result.object, "kubectl-client-side-apply", "Update")
    annotation = result.object["metadata"]["annotations"][LAST_APPLIED]
    assert annotation.endswith("\n") and json.loads(annotation) == config(changed_spec)
    assert annotation == json.dumps(config(changed_spec), sort_keys=True, separators=(",", ":")) + "\n"


def test_fields_changed_since_the_client_side_apply_still_conflict() -> None:
    live = client_side_apply(SPEC)
    live = updated(live, lambda o: o["spec"].update(timeout="7m"), "kubectl-client-side-apply", T2)  # annotation stale
    with pytest.raises(ApplyConflict) as err:
        apply(QUERY, live, config({**SPEC, "input": "new", "timeout": "8m"}), "kubectl", T3)
    assert [c["field"] for c in err.value.details["causes"]] == [".spec.timeout"]


def test_the_annotation_is_kept_by_the_last_applied_manager() -> None:
    """kubectl applies the annotation alone as ``kubectl-last-applied``, so a later apply keeps it."""
    live = client_side_apply(SPEC)
    annotation = live["metadata"]["annotations"][LAST_APPLIED]
    live = stored(apply(QUERY, live, config(annotations={LAST_APPLIED: annotation}), "kubectl-last-applied", T2).object)
    assert owned(live, "kubectl-last-applied") == {f".metadata.annotations.{LAST_APPLIED}"}
    result = apply(QUERY, live, config(SPEC), "kubectl", T3)
    assert LAST_APPLIED in result.object["metadata"]["annotations"]
    assert json.loads(result.object["metadata"]["annotations"][LAST_APPLIED]) == config(SPEC)


def test_an_annotation_in_kubectls_configuration_is_rewritten_too() -> None:
    live = client_side_apply(SPEC)
    applied = config(SPEC, annotations={LAST_APPLIED: "stale", "note": "kept"})
    result = apply(QUERY, live, applied, "kubectl", T2, force=True)
    annotations = result.object["metadata"]["annotations"]
    assert annotations["note"] == "kept"
    assert json.loads(annotations[LAST_APPLIED]) == config(SPEC, annotations={"note": "kept"})


def test_other_managers_leave_the_annotation_alone() -> None:
    live = client_side_apply(SPEC)
    before = live["metadata"]["annotations"][LAST_APPLIED]
    result = apply(QUERY, live, config({"input": "hello", "ttl": "1h"}), "argocd", T2)
    assert result.object["metadata"]["annotations"][LAST_APPLIED] == before


def test_no_annotation_is_added_where_there_was_none() -> None:
    result = apply(QUERY, None, config(SPEC), "kubectl", T1)
    assert "annotations" not in result.object["metadata"]


def test_an_oversized_annotation_is_dropped() -> None:
    live = client_side_apply(SPEC)
    huge = {**SPEC, "input": "x" * (256 * 1024)}
    result = apply(QUERY, live, config(huge), "kubectl", T2, force=True)
    assert LAST_APPLIED not in result.object["metadata"].get("annotations", {})


def test_results_do_not_change_their_inputs() -> None:
    live = client_side_apply(SPEC, now=T1)
    applied = config({**SPEC, "input": "z"}, labels={"a": "b"})
    before = (copy.deepcopy(live), copy.deepcopy(applied))
    apply(QUERY, live, applied, "kubectl", T2)
    new = copy.deepcopy(live)
    new["spec"]["input"] = "q"
    update(QUERY, live, new, "m", T2)
    assert (live, applied) == before
