"""Field paths, field sets and their FieldsV1 form, byte for byte as kube-apiserver writes it."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ark.machinery.managedfields.fieldpath import (
    FieldSet,
    FieldsV1Error,
    Index,
    Key,
    SetValue,
    from_fields_v1,
    go_json,
    path_string,
    to_fields_v1,
)


def compact(value: object) -> str:
    """How the server serializes fieldsV1: compact, keys in the order given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def paths(fields: FieldSet) -> set:
    return set(fields.paths())


# Literal FieldsV1 in the shapes kube-apiserver produces (our own values).
CREATE_ENTRY = (
    '{"f:metadata":{"f:annotations":{".":{},"f:note":{}},"f:finalizers":{".":{},"v:\\"ark.mckinsey.com/cleanup\\"":{}},'
    '"f:labels":{".":{},"f:app":{},"f:tier":{}},"f:ownerReferences":{".":{},"k:{\\"uid\\":\\"7f3c\\"}":{}}},'
    '"f:spec":{".":{},"f:input":{},"f:target":{".":{},"f:name":{},"f:type":{}},"f:timeout":{}}}'
)
APPLY_ENTRY = (
    '{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:input":{"f:messages":{},"f:options":{".":{},'
    '"f:temperature":{}}},"f:parameters":{},"f:target":{"f:name":{},"f:type":{}}}}'
)
EVERY_ELEMENT_KIND = (
    '{"f:alpha":{},"f:beta":{},"k:{\\"name\\":\\"first\\"}":{},"k:{\\"name\\":\\"second\\"}":{},'
    '"k:{\\"port\\":8080,\\"protocol\\":\\"TCP\\"}":{},"k:{\\"port\\":8080,\\"protocol\\":\\"UDP\\"}":{},'
    '"v:2":{},"v:10":{},"v:\\"a\\"":{},"v:\\"b\\"":{},"v:false":{},"v:true":{},"i:0":{},"i:3":{}}'
)
NESTED_UNICODE = (
    '{"f:spec":{".":{},"f:routes":{".":{},"k:{\\"name\\":\\"route 🚦\\"}":{".":{},"f:backends":{".":{},'
    '"k:{\\"host\\":\\"b-✅\\",\\"port\\":443}":{".":{},"f:weight":{}}},"f:name":{}}}}}'
)


@pytest.mark.parametrize("text", [CREATE_ENTRY, APPLY_ENTRY, EVERY_ELEMENT_KIND, NESTED_UNICODE],
                         ids=["create", "apply", "element-order", "unicode"])
def test_fields_v1_round_trips_byte_for_byte(text: str) -> None:
    assert compact(to_fields_v1(from_fields_v1(json.loads(text)))) == text


def test_dot_marks_a_member_that_also_has_children() -> None:
    fields = FieldSet.from_paths([("metadata", "labels"), ("metadata", "labels", "app"), ("spec", "input")])
    assert compact(to_fields_v1(fields)) == '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:input":{}}}'


def test_elements_sort_as_structured_merge_diff_orders_them() -> None:
    """Names before keys before values before indices; numbers before strings before booleans."""
    shuffled = {key: {} for key in reversed(list(json.loads(EVERY_ELEMENT_KIND)))}
    assert compact(to_fields_v1(from_fields_v1(shuffled))) == EVERY_ELEMENT_KIND


def test_non_normalized_fields_v1_is_normalized() -> None:
    loose = {'k:{ "protocol":"UDP", "port":8080}': {}, "v: 10": None, "f:b": {"f:x": {}, ".": {}}, "f:a": {}}
    expected = ('{"f:a":{},"f:b":{".":{},"f:x":{}},"k:{\\"port\\":8080,\\"protocol\\":\\"UDP\\"}":{},'
                '"v:10":{}}')
    assert compact(to_fields_v1(from_fields_v1(loose))) == expected


def test_json_inside_keys_is_escaped_as_go_escapes_it() -> None:
    fields = FieldSet.from_paths([("metadata", "finalizers", SetValue("a<b>&c")), ("list", Key([("k", "é\u2028")]))])
    keys = list(to_fields_v1(fields)["f:list"]) + list(to_fields_v1(fields)["f:metadata"]["f:finalizers"])
    assert keys == ['k:{"k":"é\\u2028"}', 'v:"a\\u003cb\\u003e\\u0026c"']


def test_numbers_in_keys_are_written_as_go_writes_them() -> None:
    assert go_json([1.0, 1.5, 1e21, 1e-7, -0.25, 10**20]) == "[1,1.5,1e+21,1e-7,-0.25,100000000000000000000]"
    assert compact(to_fields_v1(from_fields_v1({"v:1.0": {}, "v:2.50": {}}))) == '{"v:1":{},"v:2.5":{}}'


def test_unknown_element_types_are_dropped_and_their_parent_becomes_a_member() -> None:
    decoded = from_fields_v1({"f:spec": {"x:future": {"f:deep": {}}}, "y:other": {}})
    assert paths(decoded) == {("spec",)}


def test_null_node_is_a_member() -> None:
    assert paths(from_fields_v1({"f:spec": None})) == {("spec",)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{}", "must be a JSON object of path elements, not a string"),
        ({"f:spec": []}, "f:spec: must be a JSON object, not an array"),
        ({"f:spec": {"f:a": 1}}, "f:spec.f:a: must be a JSON object, not a number"),
        ({"x": {}}, 'x: a path element is "f:<name>"'),
        ({"fspec": {}}, 'fspec: a path element is "f:<name>"'),
        ({"v:{": {}}, 'v:{: the text after "v:" is not valid JSON'),
        ({"v:NaN": {}}, 'v:NaN: the text after "v:" is not valid JSON'),
        ({"v:1 2": {}}, 'v:1 2: the text after "v:" is not valid JSON'),
        ({"v:1e999": {}}, 'v:1e999: the text after "v:" is not valid JSON'),
        ({"k:[1]": {}}, 'k:[1]: the text after "k:" must be a JSON object of key fields'),
        ({"f:a": {"i:x": {}}}, 'f:a.i:x: the index after "i:" must be an integer'),
    ],
)
def test_malformed_fields_v1_is_rejected_with_a_clear_message(raw: object, message: str) -> None:
    with pytest.raises(FieldsV1Error) as err:
        from_fields_v1(raw)
    assert message in str(err.value)


def test_decoded_elements() -> None:
    decoded = from_fields_v1(json.loads(EVERY_ELEMENT_KIND))
    assert Key([("name", "first")]) in decoded.members
    assert Key([("protocol", "TCP"), ("port", 8080)]) in decoded.members  # key fields are sorted
    assert SetValue(2) in decoded.members and SetValue(2.0) in decoded.members
    assert SetValue(True) in decoded.members and SetValue(1) not in decoded.members
    assert Index(3) in decoded.members and "alpha" in decoded.members


def test_path_strings_as_conflict_messages_print_them() -> None:
    assert path_string(("spec", "input")) == ".spec.input"
    owner = ("metadata", "ownerReferences", Key([("uid", "7f3c")]))
    assert path_string(owner) == '.metadata.ownerReferences[uid="7f3c"]'
    assert path_string(("metadata", "finalizers", SetValue("a"))) == '.metadata.finalizers[="a"]'
    port = ("ports", Key([("protocol", "TCP"), ("port", 80)]), "name")
    assert path_string(port) == '.ports[port=80,protocol="TCP"].name'
    assert path_string(("list", Index(2))) == ".list[2]"
    assert path_string(("v", SetValue(2.5e6), SetValue(True))) == ".v[=2.5e+06][=true]"


def test_set_operations() -> None:
    a = FieldSet.from_paths([("spec", "a"), ("spec", "b"), ("metadata", "labels", "x"), ("spec",)])
    b = FieldSet.from_paths([("spec", "b"), ("spec", "c"), ("metadata", "labels", "x")])
    assert paths(a.union(b)) == paths(a) | paths(b)
    assert paths(a.intersection(b)) == {("spec", "b"), ("metadata", "labels", "x")}
    assert paths(a.difference(b)) == {("spec", "a"), ("spec",)}
    assert paths(a.recursive_difference(FieldSet.from_paths([("spec",)]))) == {("metadata", "labels", "x")}
    assert a.difference(FieldSet.from_paths([("other",)])) is a  # nothing removed: the same set
    assert not a.difference(a) and a.difference(a).empty
    assert a.has(("spec", "a")) and not a.has(("spec", "c")) and not a.has(()) and not a.has(("metadata", "labels"))
    assert a.size() == 4


def test_sets_compare_by_content() -> None:
    assert FieldSet.from_paths([("a", "b"), ("c",)]) == from_fields_v1({"f:c": {}, "f:a": {"f:b": {}}})
    assert FieldSet.from_paths([("a",)]) != FieldSet.from_paths([("a", "b")])


# --- properties --------------------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "spec", "f:x", "名", 'q"uote', "<tag>"])
_scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "<", "é"]), st.booleans(),
                     st.floats(allow_nan=False, allow_infinity=False, width=32))
_elements = st.one_of(
    _names,
    st.dictionaries(st.sampled_from(["name", "port", "uid"]), _scalars, min_size=1, max_size=2).map(
        lambda d: Key(d.items())),
    _scalars.map(SetValue),
    st.integers(0, 5).map(Index),
)
_paths = st.lists(_elements, min_size=1, max_size=4).map(tuple)
_sets = st.lists(_paths, max_size=12).map(FieldSet.from_paths)


@settings(max_examples=150, deadline=None)
@given(_sets)
def test_property_fields_v1_round_trips(fields: FieldSet) -> None:
    encoded = to_fields_v1(fields)
    assert from_fields_v1(json.loads(compact(encoded))) == fields
    assert compact(to_fields_v1(from_fields_v1(encoded))) == compact(encoded)


@settings(max_examples=150, deadline=None)
@given(_sets, _sets)
def test_property_set_operations_are_path_set_operations(a: FieldSet, b: FieldSet) -> None:
    assert paths(a.union(b)) == paths(a) | paths(b)
    assert paths(a.intersection(b)) == paths(a) & paths(b)
    assert paths(a.difference(b)) == paths(a) - paths(b)
    below = {p for p in paths(a) if not any(p[:i] in paths(b) for i in range(1, len(p) + 1))}
    assert paths(a.recursive_difference(b)) == below
    for result in (a.union(b), a.intersection(b), a.difference(b), a.recursive_difference(b)):
        assert result.empty == (not paths(result))
