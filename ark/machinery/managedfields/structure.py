"""The structure of a kind, as server-side apply needs to know it.

Ownership and merging depend on only a little of a schema: whether a value is a leaf
(a scalar, or anything atomic), an object with named fields, a map whose keys are data, or a
list and how its items are identified. This module keeps just that, as a small tree built
once per kind from its marshmallow schemas and the fixed shape of ObjectMeta.

Rules, as kube-apiserver applies them to custom resources:

* a list is ``atomic`` (owned and replaced whole) unless its field's metadata declares
  ``x-kubernetes-list-type: set`` (items are scalars, identified by value) or ``map``
  (items are objects, identified by the fields in ``x-kubernetes-list-map-keys``);
* an object (``Nested``) or a map (``Dict``) is granular unless it declares
  ``x-kubernetes-map-type: atomic``;
* preserve-unknown-fields values (``FreeForm``, ``FreeObject``, undeclared fields) are
  :data:`UNTYPED`: their shape is read from the value itself, maps granular and lists atomic.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, fields

from ark.kinds import fields as ark_fields

if TYPE_CHECKING:
    from ark.kinds.registry import Kind

ATOMIC, SET, MAP = "atomic", "set", "map"
LIST_TYPE = "x-kubernetes-list-type"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"
MAP_TYPE = "x-kubernetes-map-type"


class Structure:
    """A node of the tree; see the subclasses."""

    __slots__ = ()


class Scalar(Structure):
    """A string, number, boolean or null: always a leaf."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Scalar()"


class Untyped(Structure):
    """Anything: objects are granular maps of :data:`UNTYPED`, lists atomic, the rest scalars."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Untyped()"


SCALAR = Scalar()
UNTYPED = Untyped()


class Struct(Structure):
    """An object with named fields; undeclared keys are :data:`UNTYPED`."""

    __slots__ = ("atomic", "fields")

    def __init__(self, fields: dict[str, Structure] | None = None, atomic: bool = False) -> None:
        self.fields: dict[str, Structure] = fields if fields is not None else {}
        self.atomic = atomic

    def field(self, name: str) -> Structure:
        return self.fields.get(name, UNTYPED)

    def __repr__(self) -> str:
        return f"Struct({sorted(self.fields)}{', atomic' if self.atomic else ''})"


class Map(Structure):
    """An object whose keys are data (labels, a ``Dict`` field); every value has one structure."""

    __slots__ = ("atomic", "element")

    def __init__(self, element: Structure, atomic: bool = False) -> None:
        self.element = element
        self.atomic = atomic

    def __repr__(self) -> str:
        return f"Map({self.element!r}{', atomic' if self.atomic else ''})"


class List(Structure):
    """A list: ``atomic``, a ``set`` of scalars, or a ``map`` of objects keyed by ``keys``."""

    __slots__ = ("element", "keys", "list_type")

    def __init__(self, element: Structure, list_type: str = ATOMIC, keys: tuple[str, ...] = ()) -> None:
        if list_type not in (ATOMIC, SET, MAP):
            raise ValueError(f"unknown {LIST_TYPE} {list_type!r}")
        if (list_type == MAP) != bool(keys):
            raise ValueError(f"{LIST_MAP_KEYS} must be given exactly for {LIST_TYPE}: map")
        self.element = element
        self.list_type = list_type
        self.keys = keys

    def __repr__(self) -> str:
        keys = f", keys={list(self.keys)}" if self.keys else ""
        return f"List({self.element!r}, {self.list_type}{keys})"


# ObjectMeta as its Go type declares it: owner references are atomic objects in a map list
# keyed by uid, finalizers a set, labels and annotations granular maps.
OWNER_REFERENCE = Struct(
    dict.fromkeys(("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"), SCALAR),
    atomic=True,
)
OBJECT_META = Struct(
    {
        **dict.fromkeys(
            ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
             "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"),
            SCALAR,
        ),
        "labels": Map(SCALAR),
        "annotations": Map(SCALAR),
        "finalizers": List(SCALAR, SET),
        "ownerReferences": List(OWNER_REFERENCE, MAP, ("uid",)),
        "managedFields": List(UNTYPED, ATOMIC),
    }
)


_SCALARS = (ark_fields.String, ark_fields.Integer, ark_fields.Number, ark_fields.Boolean, ark_fields.IntOrString)


def schema_structure(schema: Schema, _building: dict[type, Struct] | None = None) -> Struct:
    """The structure of a marshmallow schema (its fields by JSON name)."""
    building = {} if _building is None else _building
    known = building.get(type(schema))
    if known is not None:  # built already, or a schema that contains itself
        return known
    struct = building[type(schema)] = Struct()
    for name, field in schema.fields.items():
        struct.fields[field.data_key or name] = field_structure(field, building)
    return struct


def field_structure(field: fields.Field[Any], _building: dict[type, Struct] | None = None) -> Structure:
    """The structure of one marshmallow field, its ``x-kubernetes-*`` metadata included."""
    building = {} if _building is None else _building
    declared: Mapping[str, Any] = field.metadata
    atomic_map = declared.get(MAP_TYPE) == ATOMIC
    if isinstance(field, fields.Nested):
        nested = schema_structure(field.schema, building)
        if field.many:
            return List(Struct(nested.fields, atomic_map))
        return Struct(nested.fields, atomic=True) if atomic_map else nested
    if isinstance(field, fields.List):
        list_type = declared.get(LIST_TYPE, ATOMIC)
        keys = tuple(declared.get(LIST_MAP_KEYS, ())) if list_type == MAP else ()
        return List(field_structure(field.inner, building), list_type, keys)
    if isinstance(field, fields.Dict):
        element = UNTYPED if field.value_field is None else field_structure(field.value_field, building)
        return Map(element, atomic_map)
    return SCALAR if isinstance(field, _SCALARS) else UNTYPED


_OBJECTS: dict[int, tuple[Kind, Struct]] = {}


def object_structure(kind: Kind) -> Struct:
    """The structure of a whole object of ``kind``; built on first use, then kept."""
    cached = _OBJECTS.get(id(kind))
    if cached is not None and cached[0] is kind:
        return cached[1]
    building: dict[type, Struct] = {}
    struct = Struct(
        {
            "apiVersion": SCALAR,
            "kind": SCALAR,
            "metadata": OBJECT_META,
            **schema_structure(kind.top_level, building).fields,
        }
    )
    _OBJECTS[id(kind)] = (kind, struct)
    return struct
