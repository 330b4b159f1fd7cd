"""Invariants of field ownership, checked on generated objects and sequences of writes."""
from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ark.kinds import REGISTRY
from ark.machinery.managedfields import ApplyConflict, FieldSet, apply, from_fields_v1, object_structure, update
from ark.machinery.managedfields.manager import SERVER_OWNED
from ark.machinery.managedfields.structure import UNTYPED, List, Map, Struct, Structure
from ark.machinery.managedfields.typed import (
    compare,
    ensure_named_fields,
    item_element,
    prune,
    to_field_set,
)

QUERY = REGISTRY.lookup("v1alpha1", "queries")
STRUCTURE = object_structure(QUERY)
V1 = "ark.mckinsey.com/v1alpha1"
BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_keys = st.sampled_from(["a", "b", "c"])
_json = st.recursive(
    st.one_of(st.booleans(), st.integers(0, 2), st.sampled_from(["s", "t"])),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=2), st.dictionaries(_keys, inner, min_size=1,
                                                                                      max_size=2)),
    max_leaves=5,
)
_specs = st.fixed_dictionaries(
    {"input": _json},
    optional={
        "timeout": st.sampled_from(["1m", "2m"]),
        "target": st.fixed_dictionaries({}, optional={"type": st.sampled_from(["agent", "team"]),
                                                      "name": st.sampled_from(["x", "y"])}),
        "parameters": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["p", "q"])},
                                                     optional={"value": st.sampled_from(["1", "2"])}),
                               min_size=1, max_size=2),
    },
)
_owner = st.builds(lambda uid, name: {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid},
                   st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["n1", "n2"]))
_metadata = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.dictionaries(st.sampled_from(["app", "tier", "env"]), st.sampled_from(["x", "y"]), min_size=1,
                                  max_size=3),
        "finalizers": st.lists(st.sampled_from(["f.io/a", "f.io/b", "f.io/c"]), unique=True, min_size=1, max_size=3),
        "ownerReferences": st.lists(_owner, unique_by=lambda r: r["uid"], min_size=1, max_size=3),
    },
)
_configs = st.builds(lambda spec, meta: {"apiVersion": V1, "kind": "Query",
                                         "metadata": {"name": "q", "namespace": "ns", **meta}, "spec": spec},
                     _specs, _metadata)
_appliers = st.sampled_from(["argocd", "flux", "kubectl"])
_editors = st.sampled_from(["kubectl-edit", "controller"])
_writes = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), _appliers, _configs, st.booleans()),
        st.tuples(st.just("update"), _editors, _configs, st.just(False)),
    ),
    max_size=5,
)


def stored(obj: dict, rv: int) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"].update(uid="u", resourceVersion=str(rv), creationTimestamp="2026-03-01T00:00:00Z")
    return obj


def run(first: dict, writes: list[tuple[str, str, dict, bool]]) -> dict:
    """The object after creating it by apply and then each write (conflicting applies are refused)."""
    live = stored(apply(QUERY, None, first, "creator", "2026-03-01T00:00:00Z").object, 1)
    for step, (kind, manager, config, force) in enumerate(writes, start=2):
        now = f"2026-03-01T00:{step:02d}:00Z"
        if kind == "apply":
            try:
                live = stored(apply(QUERY, live, config, manager, now, force).object, step)
            except ApplyConflict:
                continue
        else:
            new = copy.deepcopy(live)
            new["spec"] = copy.deepcopy(config["spec"])
            new["metadata"]["labels"] = dict(config["metadata"].get("labels", {}))
            new["metadata"]["managedFields"] = update(QUERY, live, new, manager, now)
            live = stored(new, step)
    return live


def owned_sets(obj: dict) -> dict[tuple[str, str], FieldSet]:
    return {(e.get("manager", ""), e["operation"]): from_fields_v1(e["fieldsV1"])
            for e in obj["metadata"].get("managedFields", [])}


@BOUNDED
@given(_configs, _writes, _appliers, _configs)
def test_applying_the_same_configuration_twice_is_idempotent(first, writes, manager, config) -> None:
    live = run(first, writes)
    once = stored(apply(QUERY, live, config, manager, "2026-03-02T00:00:00Z", force=True).object, 100)
    twice = apply(QUERY, once, config, manager, "2026-03-02T01:00:00Z", force=False)
    assert not twice.changed
    assert twice.object == once


def _value_at(obj: Any, path: tuple) -> Any:
    for element in path:
        if isinstance(element, str):
            obj = obj[element]
        else:
            obj = next(item for item in obj if _element(item, element) == element)
    return obj


def _element(item: Any, like: Any) -> Any:
    keys = tuple(name for name, _ in getattr(like, "fields", ()))
    return item_element(List(UNTYPED, "map", keys) if keys else List(UNTYPED, "set"), item)


@BOUNDED
@given(_configs, _writes)
def test_every_field_set_on_the_object_has_an_owner(first, writes) -> None:
    """Leaves of the object are owned by someone: nothing changes without being recorded.

    An object or list that a write emptied is owned by nobody (kube-apiserver records
    removals, not the empty container left behind), so empty containers are left out; and an
    object left with no entries at all is not tracked until its next apply, as upstream.
    """
    live = run(first, writes)
    sets = owned_sets(live)
    union = FieldSet()
    for fields in sets.values():
        union = union.union(fields)
    present = to_field_set(STRUCTURE, live).difference(SERVER_OWNED).recursive_difference(
        FieldSet.from_paths([("status",)]))
    leaves = {p for p in present.paths() if not _has_children(present, p)}
    unowned = {p for p in leaves if not union.has(p) and _value_at(live, p) not in ({}, [])}
    assert not unowned or not sets, unowned


def _has_children(fields: FieldSet, path: tuple) -> bool:
    node = fields
    for element in path:
        node = node.children.get(element)
        if node is None:
            return False
    return bool(node)


@BOUNDED
@given(_configs, _writes, _appliers, _configs)
def test_a_forced_apply_leaves_nobody_else_owning_the_conflicting_fields(first, writes, manager, config) -> None:
    live = run(first, writes)
    try:
        apply(QUERY, live, config, manager, "2026-03-02T00:00:00Z")
        conflicts = []
    except ApplyConflict as err:
        conflicts = [path for _, path in err.conflicts]
    forced = apply(QUERY, live, config, manager, "2026-03-02T00:00:00Z", force=True).object
    for (owner, operation), fields in owned_sets(forced).items():
        if (owner, operation) != (manager, "Apply"):
            assert not any(fields.has(path) for path in conflicts), (owner, conflicts)


# --- the one-walk prune against structured-merge-diff's three passes -----------------------------


def _resolve(structure: Structure, value: Any) -> Structure:
    if structure is UNTYPED:
        return Map(UNTYPED) if isinstance(value, dict) else List(UNTYPED) if isinstance(value, list) else structure
    return structure


def smd_remove(structure: Structure, value: Any, fields: FieldSet) -> Any:
    """RemoveItems as structured-merge-diff does it: an emptied map or list becomes null."""
    structure = _resolve(structure, value)
    if isinstance(structure, (Struct, Map)) and not structure.atomic and isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            if key in fields.members:
                continue
            below = fields.children.get(key)
            child = structure.fields.get(key, UNTYPED) if isinstance(structure, Struct) else structure.element
            out[key] = smd_remove(child, item, below) if below else item
        return out or None
    if isinstance(structure, List) and structure.list_type != "atomic" and isinstance(value, list) and value:
        kept = []
        for item in value:
            element = item_element(structure, item)
            if element in fields.members:
                continue
            below = fields.children.get(element)
            kept.append(smd_remove(structure.element, item, below) if below else item)
        return kept or None
    return value


def three_pass_prune(merged: dict, last: FieldSet, owned: FieldSet) -> Any:
    def named(fields: FieldSet) -> FieldSet:
        return ensure_named_fields(STRUCTURE, fields)

    def fields_of(value: Any) -> FieldSet:
        return named(to_field_set(STRUCTURE, value))

    last, owned = named(last), named(owned)
    pruned = smd_remove(STRUCTURE, merged, last)
    pruned = smd_remove(STRUCTURE, merged, fields_of(merged).difference(fields_of(pruned).union(owned)))
    return smd_remove(STRUCTURE, merged, fields_of(merged).difference(fields_of(pruned)).intersection(last))


def without_nulls(value: Any) -> Any:
    """Drop nulls and the empty containers they leave (the generated objects have neither)."""
    if isinstance(value, dict):
        out = {k: without_nulls(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(value, list):
        out = [without_nulls(v) for v in value if v is not None]
        return [v for v in out if v not in ({}, [])]
    return value


@settings(max_examples=200, deadline=None)
@given(_configs, _configs, _configs, _configs, _configs)
def test_prune_in_one_walk_matches_the_three_passes(merged, last, other, before, after) -> None:
    last_fields = to_field_set(STRUCTURE, last)
    changed = compare(STRUCTURE, before, after)  # an update entry: leaves only, no parents
    owned = to_field_set(STRUCTURE, other).union(changed.modified).union(changed.added)
    applied = to_field_set(STRUCTURE, other)
    ours = prune(STRUCTURE, merged, ensure_named_fields(STRUCTURE, last_fields), ensure_named_fields(STRUCTURE, owned),
                 applied)
    assert without_nulls(ours) == without_nulls(three_pass_prune(merged, last_fields, owned))
