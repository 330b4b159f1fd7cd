"""The structure SSA sees in each kind agrees with the upstream CRDs and with ObjectMeta."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from marshmallow import Schema, fields

from ark.api import openapi
from ark.kinds import REGISTRY, Kind
from ark.kinds.fields import FreeForm, FreeObject, Integer, String
from ark.machinery.managedfields.structure import (
    ATOMIC,
    MAP,
    OBJECT_META,
    SCALAR,
    SET,
    UNTYPED,
    List,
    Map,
    Scalar,
    Struct,
    Structure,
    field_structure,
    object_structure,
    schema_structure,
)
from tests.conftest import shared_dir

KINDS = sorted(REGISTRY, key=lambda k: k.kind)


def crd_schema(kind: Kind) -> dict:
    path = shared_dir("ark-reference", "crds") / f"{kind.group}_{kind.plural}.yaml"
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("served")]
    return version["schema"]["openAPIV3Schema"]


def disagreements(node: dict, ours: Structure, path: str) -> list[str]:
    """Where the CRD's list and map types and ours differ (atomic is the default for lists)."""
    out: list[str] = []
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
        return [] if ours is UNTYPED else [f"{path}: preserves unknown fields, ours is {ours!r}"]
    atomic = node.get("x-kubernetes-map-type") == "atomic"
    if node.get("type") == "object" and "properties" in node:
        if not isinstance(ours, Struct) or ours.atomic != atomic:
            return [f"{path}: CRD object (atomic={atomic}), ours is {ours!r}"]
        for name, sub in node["properties"].items():
            out += disagreements(sub, ours.fields.get(name, UNTYPED), f"{path}.{name}")
    elif node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        if not isinstance(ours, Map) or ours.atomic != atomic:
            return [f"{path}: CRD map (atomic={atomic}), ours is {ours!r}"]
        out += disagreements(node["additionalProperties"], ours.element, f"{path}{{*}}")
    elif node.get("type") == "object":  # no properties: everything in it is pruned
        if not isinstance(ours, Struct) or ours.fields:
            return [f"{path}: CRD object without properties, ours is {ours!r}"]
    elif node.get("type") == "array":
        expected = (node.get("x-kubernetes-list-type", ATOMIC), tuple(node.get("x-kubernetes-list-map-keys", ())))
        if not isinstance(ours, List) or (ours.list_type, ours.keys) != expected:
            return [f"{path}: CRD list {expected}, ours is {ours!r}"]
        out += disagreements(node["items"], ours.element, f"{path}[]")
    elif not isinstance(ours, Scalar):
        out.append(f"{path}: CRD scalar, ours is {ours!r}")
    return out


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_list_and_map_types_match_the_crd(kind: Kind) -> None:
    top = crd_schema(kind)["properties"]
    structure = object_structure(kind)
    found = [line for section in ("spec", "status")
             for line in disagreements(top[section], structure.fields[section], section)]
    assert not found, "\n".join(found)


def test_the_crds_declare_atomic_lists_and_maps_that_we_honour() -> None:
    """The contract is not vacuous: atomic maps exist in ours exactly where the CRDs have them."""
    query = object_structure(REGISTRY.lookup("v1alpha1", "queries")).fields["spec"]
    assert isinstance(query, Struct)
    selector = query.fields["selector"]
    assert isinstance(selector, Struct) and selector.atomic
    evaluation = object_structure(REGISTRY.lookup("v1alpha1", "evaluations")).fields["spec"]
    assert isinstance(evaluation, Struct)
    config = evaluation.fields["config"]
    assert isinstance(config, Struct)
    query_selector = config.fields["querySelector"]
    assert isinstance(query_selector, Struct) and not query_selector.atomic


def test_object_meta_matches_the_published_object_meta() -> None:
    published = schema_structure(openapi.ObjectMeta())
    assert set(published.fields) <= set(OBJECT_META.fields)
    for name, theirs in published.fields.items():
        ours = OBJECT_META.fields[name]
        assert type(ours) is type(theirs), name
        if isinstance(ours, List):
            assert isinstance(theirs, List)
            assert (ours.list_type, ours.keys) == (theirs.list_type, theirs.keys), name
    owner = OBJECT_META.fields["ownerReferences"]
    assert isinstance(owner, List) and isinstance(owner.element, Struct)
    assert owner.element.atomic  # OwnerReference is +structType=atomic in its Go type
    assert set(owner.element.fields) == set(openapi.OwnerReference().fields)


class Port(Schema):
    port = Integer(required=True)
    protocol = String()
    name = String()


class Shape(Schema):
    tags = fields.List(String(), metadata={"x-kubernetes-list-type": "set"})
    ports = fields.List(fields.Nested(Port), metadata={"x-kubernetes-list-type": "map",
                                                       "x-kubernetes-list-map-keys": ["port", "protocol"]})
    steps = fields.List(String())
    ref = fields.Nested(Port, metadata={"x-kubernetes-map-type": "atomic"})
    plain = fields.Nested(Port)
    env = fields.Dict(keys=String(), values=String())
    frozen = fields.Dict(keys=String(), values=String(), metadata={"x-kubernetes-map-type": "atomic"})
    anything = FreeForm()
    document = FreeObject()
    raw = fields.Dict()
    count = Integer()


def test_schema_metadata_steers_the_structure() -> None:
    shape = schema_structure(Shape())
    f = shape.fields
    assert isinstance(f["tags"], List) and f["tags"].list_type == SET and f["tags"].element is SCALAR
    assert isinstance(f["ports"], List) and (f["ports"].list_type, f["ports"].keys) == (MAP, ("port", "protocol"))
    assert isinstance(f["steps"], List) and f["steps"].list_type == ATOMIC
    assert isinstance(f["ref"], Struct) and f["ref"].atomic and set(f["ref"].fields) == {"port", "protocol", "name"}
    assert isinstance(f["plain"], Struct) and not f["plain"].atomic
    assert isinstance(f["env"], Map) and not f["env"].atomic and f["env"].element is SCALAR
    assert isinstance(f["frozen"], Map) and f["frozen"].atomic
    assert f["anything"] is UNTYPED and f["document"] is UNTYPED
    assert isinstance(f["raw"], Map) and f["raw"].element is UNTYPED
    assert f["count"] is SCALAR


def test_bad_list_type_metadata_fails_loudly() -> None:
    with pytest.raises(ValueError, match="unknown x-kubernetes-list-type"):
        field_structure(fields.List(String(), metadata={"x-kubernetes-list-type": "bag"}))
    with pytest.raises(ValueError, match="x-kubernetes-list-map-keys must be given"):
        field_structure(fields.List(fields.Nested(Port), metadata={"x-kubernetes-list-type": "map"}))


class Tree(Schema):
    name = String()
    children = fields.List(fields.Nested(lambda: Tree()))


def test_a_schema_that_contains_itself_is_one_structure() -> None:
    tree = schema_structure(Tree())
    children = tree.fields["children"]
    assert isinstance(children, List) and children.element is tree


def test_structure_is_built_once_per_kind() -> None:
    kind = REGISTRY.lookup("v1alpha1", "agents")
    assert object_structure(kind) is object_structure(kind)
    top: Any = object_structure(kind)
    assert set(top.fields) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert top.fields["metadata"] is OBJECT_META
