"""Walks over an object guided by its structure: the set of fields it sets, merges, diffs, removals.

These follow structured-merge-diff's rules for custom resources:

* :func:`to_field_set` — every leaf, every map key and every item of a ``set``/``map`` list;
  a named field that holds an object is a path only through what is below it;
* :func:`merge` — the applied configuration over the live object: objects merge by key,
  ``set``/``map`` lists by item (kept in an order close to both), everything else is replaced;
* :func:`compare` — the paths added, modified and removed between two objects;
* :func:`prune` — what an apply takes away.

Nothing here copies a value it does not change: results share untouched subtrees with the
inputs, so callers treat inputs and results as read-only (or copy before mutating).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ark.machinery.managedfields.fieldpath import (
    FieldSet,
    Key,
    Path,
    PathElement,
    SetValue,
    go_value_string,
    path_string,
)
from ark.machinery.managedfields.structure import ATOMIC, MAP, SCALAR, UNTYPED, List, Map, Struct, Structure

_MISSING: Any = object()  # a key or item absent on one side
_EMPTIED: Any = object()  # a map or list whose every entry was pruned: its key goes too

_SCALARS = (str, int, float, bool, type(None))  # exact types: a leaf whatever the structure says
_UNTYPED_MAP = Map(UNTYPED)
_UNTYPED_LIST = List(UNTYPED, ATOMIC)


class ShapeError(ValueError):
    """A value that does not fit its structure in a way SSA cannot ignore (a bad list item)."""


def _resolve(structure: Structure, value: Any) -> Structure:
    """The structure of an untyped value is read from the value: objects granular, lists atomic."""
    if structure is UNTYPED:
        if isinstance(value, dict):
            return _UNTYPED_MAP
        if isinstance(value, list):
            return _UNTYPED_LIST
        return SCALAR
    return structure


def _field(structure: Struct | Map, key: str) -> Structure:
    if isinstance(structure, Struct):
        return structure.fields.get(key, UNTYPED)
    return structure.element


def _granular_object(structure: Structure) -> bool:
    return isinstance(structure, (Struct, Map)) and not structure.atomic


def _granular_list(structure: Structure) -> bool:
    return isinstance(structure, List) and structure.list_type != ATOMIC


def item_element(structure: List, item: Any, where: Path = ()) -> PathElement:
    """The path element that identifies ``item`` in a ``set`` or ``map`` list."""
    if structure.list_type == MAP:
        if not isinstance(item, dict):
            raise ShapeError(f"{path_string(where)}: the items of a list of type map must be objects")
        present = [(name, item[name]) for name in structure.keys if name in item]
        if not present:
            keys = ",".join(go_value_string(name) for name in structure.keys)
            raise ShapeError(f"{path_string(where)}: associative list with keys has an element that omits all "
                             f"key fields [{keys}]")
        return Key(present)
    if item is None or isinstance(item, (dict, list)):
        raise ShapeError(f"{path_string(where)}: the items of a list of type set must be strings, numbers or "
                         "booleans")
    return SetValue(item)


def _items(structure: List, items: list[Any], where: Path) -> list[PathElement]:
    return [item_element(structure, item, where) for item in items]


# --- the set of fields a value sets ---------------------------------------------------------


def to_field_set(structure: Structure, value: Any, allow_duplicates: bool = True) -> FieldSet:
    """The paths set by ``value`` (a whole object or configuration).

    A stored object may hold duplicated items in a ``set``/``map`` list (they are owned
    whole); an applied configuration may not (``allow_duplicates=False`` raises ShapeError).
    """
    out = FieldSet()
    _fill(structure, value, out, (), allow_duplicates)
    return out


def _fill(structure: Structure, value: Any, node: FieldSet, where: Path, allow_duplicates: bool) -> bool:
    """Add the paths below ``value`` to ``node``; True when ``value`` is itself a leaf."""
    structure = _resolve(structure, value)
    if isinstance(structure, (Struct, Map)):
        if structure.atomic or not isinstance(value, dict):
            return True
        fields = structure.fields if isinstance(structure, Struct) else None
        for key, item in value.items():
            if type(item) in _SCALARS:
                node.members.add(key)
                continue
            declared = fields is not None and key in fields
            child = FieldSet()
            leaf = _fill(_field(structure, key), item, child, (*where, key), allow_duplicates)
            if child:
                node.children[key] = child
            if leaf or not declared or (type(item) is dict and not item):
                node.members.add(key)
        return False
    if isinstance(structure, List):
        if structure.list_type == ATOMIC or not isinstance(value, list):
            return True
        elements = _items(structure, value, where)
        seen: set[PathElement] = set()
        duplicated: set[PathElement] = set()
        for element in elements:
            if element in seen and not allow_duplicates:
                raise ShapeError(f"{path_string(where)}: duplicate entries for key {path_string((element,))}")
            (duplicated if element in seen else seen).add(element)
        node.members.update(duplicated)  # duplicated items are owned whole
        for element, item in zip(elements, value, strict=True):
            if element in duplicated:
                continue
            child = FieldSet()
            _fill(structure.element, item, child, (*where, element), allow_duplicates)
            if child:
                node.children[element] = child
            node.members.add(element)
        return False
    return True


def ensure_named_fields(structure: Structure, fields: FieldSet) -> FieldSet:
    """``fields`` plus, as members, the named (declared) fields that have members below them."""
    if not fields.children:
        return fields
    struct = structure if isinstance(structure, Struct) else None
    members = set(fields.members)
    children = {}
    for element, child in fields.children.items():
        child_structure: Structure | None
        if isinstance(element, str):
            if struct is not None and element in struct.fields:
                members.add(element)
                child_structure = struct.fields[element]
            elif isinstance(structure, Map):
                child_structure = structure.element
            else:
                child_structure = UNTYPED
        elif isinstance(element, Key) and isinstance(structure, List):
            child_structure = structure.element
        else:
            child_structure = None
        children[element] = child if child_structure is None else ensure_named_fields(child_structure, child)
    return FieldSet(members, children)


def _in_field_set(structure: Structure, declared: bool, value: Any) -> bool:
    """Whether a key holding ``value`` is a path of the (named-field-completed) set of its object.

    Only a declared field holding an empty ``set``/``map`` list is not: it sets nothing.
    """
    return not (declared and type(value) is list and not value and _granular_list(structure))


# --- merge ----------------------------------------------------------------------------------


def merge(structure: Structure, live: Any, applied: Any) -> Any:
    """``applied`` merged over ``live``."""
    return _merge(structure, live, applied, ())


def _merge(structure: Structure, lhs: Any, rhs: Any, where: Path) -> Any:
    structure = _resolve(structure, lhs if rhs is None else rhs)
    if _granular_object(structure):
        assert isinstance(structure, (Struct, Map))
        if rhs is not None and not isinstance(rhs, dict):
            return rhs
        if not lhs and not rhs:
            return rhs
        if rhs is None or not isinstance(lhs, dict):
            return lhs if rhs is None else rhs
        out = dict(lhs)
        for key, value in rhs.items():
            current = lhs.get(key, _MISSING)
            if current is _MISSING or (value is not None and type(value) in _SCALARS):
                out[key] = value
            else:
                out[key] = _merge(_field(structure, key), current, value, (*where, key))
        return out
    if _granular_list(structure):
        assert isinstance(structure, List)
        if rhs is not None and not isinstance(rhs, list):
            return rhs
        if not lhs and not rhs:
            return rhs
        if rhs is None:
            return lhs
        return _merge_list(structure, lhs if isinstance(lhs, list) else [], rhs, where)
    return rhs


def _merge_list(structure: List, lhs: list[Any], rhs: list[Any], where: Path) -> list[Any]:
    """Items merged by identity; structured-merge-diff's order: shared items in ``rhs``'s order,
    ``lhs``-only items where they were, ``rhs``-only items where ``rhs`` has them."""
    rhs_elements = _items(structure, rhs, where)
    observed_rhs: dict[PathElement, Any] = {}
    for element, item in zip(rhs_elements, rhs, strict=True):
        if element in observed_rhs:
            raise ShapeError(f"{path_string(where)}: duplicate entries for key {path_string((element,))}")
        observed_rhs[element] = item
    lhs_elements = _items(structure, lhs, where)
    observed_lhs: dict[PathElement, Any] = {}
    for element, item in zip(lhs_elements, lhs, strict=True):
        # a duplicated live item is not merged with the applied one (it is replaced)
        observed_lhs[element] = None if element in observed_lhs else item

    shared = [element for element in rhs_elements if element in observed_lhs]
    shared.reverse()
    next_shared = shared.pop() if shared else None
    merged_rhs: set[PathElement] = set()
    out: list[Any] = []

    def merged(element: PathElement) -> Any:
        return _merge(structure.element, observed_lhs.get(element, _MISSING), observed_rhs[element],
                      (*where, element))

    li = ri = 0
    while li < len(lhs_elements) or ri < len(rhs_elements):
        if li < len(lhs_elements) and ri < len(rhs_elements):
            element = lhs_elements[li]
            if element == rhs_elements[ri]:
                merged_rhs.add(element)
                out.append(merged(element))
                li += 1
                ri += 1
                next_shared = shared.pop() if shared else None
                continue
            if element in observed_rhs and next_shared is not None and next_shared != element:
                li += 1  # a shared item, but not the one to place in this round
                continue
        if li < len(lhs_elements):
            element = lhs_elements[li]
            if element not in observed_rhs:
                out.append(lhs[li])
                li += 1
                continue
            if element in merged_rhs:
                li += 1
        if ri < len(rhs_elements):
            element = rhs_elements[ri]
            merged_rhs.add(element)
            out.append(merged(element))
            ri += 1
            if next_shared is not None and next_shared == element:
                next_shared = shared.pop() if shared else None
    return out


# --- compare --------------------------------------------------------------------------------


class Comparison:
    """Paths that ``rhs`` added, modified (leaves only) and removed relative to ``lhs``.

    ``reordered`` tells that items of a ``set`` or ``map`` list changed places, which no
    path records; ``same`` that the two objects are equal as JSON.
    """

    __slots__ = ("added", "modified", "removed", "reordered")

    def __init__(self, added: FieldSet | None = None, modified: FieldSet | None = None,
                 removed: FieldSet | None = None, reordered: bool = False) -> None:
        self.added = added if added is not None else FieldSet()
        self.modified = modified if modified is not None else FieldSet()
        self.removed = removed if removed is not None else FieldSet()
        self.reordered = reordered

    def __bool__(self) -> bool:
        return bool(self.added) or bool(self.modified) or bool(self.removed)

    @property
    def same(self) -> bool:
        return not self and not self.reordered

    def without(self, fields: FieldSet) -> Comparison:
        """The comparison with ``fields`` and everything below them left out."""
        if not fields:
            return self
        return Comparison(self.added.recursive_difference(fields), self.modified.recursive_difference(fields),
                          self.removed.recursive_difference(fields), self.reordered)


def compare(structure: Structure, lhs: Any, rhs: Any) -> Comparison:
    """What changed from ``lhs`` to ``rhs`` (two whole objects)."""
    out = Comparison()
    if lhs is not rhs:
        _compare_items(_resolve(structure, rhs), lhs, rhs, out, ())
    return out


_NULL, _OBJECT, _LIST, _LEAF = range(4)


def _shape(structure: Structure, value: Any) -> int:
    if value is None:
        return _NULL
    if _granular_object(structure) and isinstance(value, dict):
        return _OBJECT
    if _granular_list(structure) and isinstance(value, list):
        return _LIST
    return _LEAF


def _compare(structure: Structure, lhs: Any, rhs: Any, element: PathElement, parent: Comparison,
             where: Path) -> None:
    """Record the difference at ``element`` of the parent into ``parent``."""
    if lhs is rhs:
        return
    if type(lhs) is type(rhs) and type(lhs) in _SCALARS:
        if lhs != rhs:
            parent.modified.members.add(element)
        return
    left = _MISSING if lhs is _MISSING else _shape(_resolve(structure, lhs), lhs)
    right = _MISSING if rhs is _MISSING else _shape(_resolve(structure, rhs), rhs)
    kinds = {left, right} - {_MISSING, _NULL}
    if len(kinds) > 1:
        # An untyped value changed shape (an object became a string...): what was below is
        # removed, what is below now is added, and the value itself is modified.
        here = Comparison()
        if left in (_OBJECT, _LIST):
            _compare_items(_resolve(structure, lhs), lhs, _MISSING, here, where)
        if right in (_OBJECT, _LIST):
            _compare_items(_resolve(structure, rhs), _MISSING, rhs, here, where)
        parent.modified.members.add(element)
    else:
        kind = kinds.pop() if kinds else _LEAF
        if kind == _LEAF or not (_has_entries(lhs) or _has_entries(rhs)):  # empty or null: a leaf
            if lhs is _MISSING:
                parent.added.members.add(element)
            elif rhs is _MISSING:
                parent.removed.members.add(element)
            elif not json_equal(lhs, rhs):
                parent.modified.members.add(element)
            return
        here = Comparison()
        _compare_items(_resolve(structure, lhs if rhs is _MISSING or rhs is None else rhs), lhs, rhs, here, where)
        if lhs is _MISSING:
            parent.added.members.add(element)
        elif rhs is _MISSING:
            parent.removed.members.add(element)
    if here.added:
        parent.added.children[element] = here.added
    if here.modified:
        parent.modified.children[element] = here.modified
    if here.removed:
        parent.removed.children[element] = here.removed
    if here.reordered:
        parent.reordered = True


def _has_entries(value: Any) -> bool:
    return isinstance(value, (dict, list)) and bool(value)


def _compare_items(structure: Structure, lhs: Any, rhs: Any, out: Comparison, where: Path) -> None:
    if isinstance(structure, (Struct, Map)):
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        for key, value in left.items():
            _compare(_field(structure, key), value, right.get(key, _MISSING), key, out, (*where, key))
        for key, value in right.items():
            if key not in left:
                _compare(_field(structure, key), _MISSING, value, key, out, (*where, key))
        return
    assert isinstance(structure, List)
    by_element: dict[PathElement, tuple[list[Any], list[Any]]] = {}
    order: list[list[PathElement]] = [[], []]
    for side, items in ((0, lhs), (1, rhs)):
        if isinstance(items, list):
            for element, item in zip(_items(structure, items, where), items, strict=True):
                by_element.setdefault(element, ([], []))[side].append(item)
                order[side].append(element)
    if order[0] != order[1]:
        out.reordered = True
    for element, (left_items, right_items) in by_element.items():
        if len(left_items) <= 1 and len(right_items) <= 1:
            _compare(structure.element, left_items[0] if left_items else _MISSING,
                     right_items[0] if right_items else _MISSING, element, out, (*where, element))
        elif len(left_items) >= 2 and len(right_items) >= 2:
            if not json_equal(left_items, right_items):
                out.modified.members.add(element)
        elif len(left_items) >= 2:  # duplicates that are gone: the single item that is left is new
            if right_items:
                _compare(structure.element, _MISSING, right_items[0], element, out, (*where, element))
            out.removed.members.add(element)
        else:  # items that became duplicates
            if left_items:
                _compare(structure.element, left_items[0], _MISSING, element, out, (*where, element))
            out.added.members.add(element)


def json_equal(lhs: Any, rhs: Any) -> bool:
    """JSON equality: like ``==``, but ``true`` is not ``1``."""
    if type(lhs) is not type(rhs):
        numbers = (int, float)
        return (isinstance(lhs, numbers) and isinstance(rhs, numbers) and not isinstance(lhs, bool)
                and not isinstance(rhs, bool) and lhs == rhs)
    if type(lhs) is dict or type(lhs) is list:
        return bool(lhs == rhs) and _same_types(lhs, rhs)
    return bool(lhs == rhs)


def _same_types(lhs: Any, rhs: Any) -> bool:
    if type(lhs) is dict:
        return all(_same_types(value, rhs[key]) for key, value in lhs.items())
    if type(lhs) is list:
        return all(_same_types(a, b) for a, b in zip(lhs, rhs, strict=True))
    return (type(lhs) is bool) == (type(rhs) is bool)


# --- pruning --------------------------------------------------------------------------------


def prune(structure: Structure, merged: Any, last_applied: FieldSet, owned: FieldSet, applied: FieldSet) -> Any:
    """Remove from ``merged`` what the applier set last time, no longer sets, and nobody else owns.

    ``last_applied`` is the applier's previous set and ``owned`` the union of every manager's
    set (the applier's new one included), both completed by :func:`ensure_named_fields`;
    ``applied`` is the applier's new set.

    This is structured-merge-diff's three passes (remove the last applied fields, add back
    what anyone owns, then keep only removals of last applied fields) done in one walk: a node
    is removed when it was last applied and it, or an ancestor below the top of a last-applied
    subtree, is owned by nobody. So, as upstream, an updater owning a value deep inside an
    item that only the applier owned does not keep the item.

    A map or list left empty goes too (structured-merge-diff leaves ``null``, which a custom
    resource drops), unless the configuration itself sets it: ``target: {}`` stays ``{}``,
    where upstream drops it and the next apply adds it back.
    """
    out = _prune(structure, merged, _Sets(last_applied, owned, applied), False, False, ())
    return {} if out is _EMPTIED else out


class _Sets(NamedTuple):
    """The three sets pruning follows, at the same node of each."""

    last: FieldSet
    owned: FieldSet | None
    applied: FieldSet | None

    def below(self, element: PathElement) -> _Sets | None:
        last = self.last.children.get(element)
        if last is None:
            return None
        return _Sets(last, self.owned.children.get(element) if self.owned is not None else None,
                     self.applied.children.get(element) if self.applied is not None else None)


def _prune(structure: Structure, value: Any, sets: _Sets, in_last: bool, unowned: bool, where: Path) -> Any:
    structure = _resolve(structure, value)
    last = sets.last
    elements = last.members | last.children.keys() if last.children else last.members
    if _granular_object(structure) and isinstance(value, dict):
        assert isinstance(structure, (Struct, Map))
        fields = structure.fields if isinstance(structure, Struct) else None
        out = None
        for key in elements:
            if not isinstance(key, str) or key not in value:
                continue
            item = value[key]
            declared = fields is not None and key in fields
            new_item = _prune_entry(_field(structure, key), item, key, declared, sets, in_last, unowned,
                                    (*where, key))
            if new_item is not item:
                if out is None:
                    out = dict(value)
                if new_item is _EMPTIED:
                    del out[key]
                else:
                    out[key] = new_item
        if out is None:
            return value
        return out if out else _EMPTIED
    if _granular_list(structure) and isinstance(value, list):
        assert isinstance(structure, List)
        kept: list[Any] | None = None
        for index, (element, item) in enumerate(zip(_items(structure, value, where), value, strict=True)):
            new_item = item
            if element in elements:
                new_item = _prune_entry(structure.element, item, element, False, sets, in_last, unowned,
                                        (*where, element))
            if new_item is not item and kept is None:
                kept = list(value[:index])
            if kept is not None and new_item is not _EMPTIED:
                kept.append(new_item)
        if kept is None:
            return value
        return kept if kept else _EMPTIED
    return value


def _prune_entry(structure: Structure, item: Any, element: PathElement, declared: bool, sets: _Sets,
                 in_last: bool, unowned: bool, where: Path) -> Any:
    is_last = element in sets.last.members
    counted = _in_field_set(structure, declared, item)
    in_last = in_last or is_last
    unowned = unowned or (in_last and counted and not (sets.owned is not None and element in sets.owned.members))
    if unowned and is_last and counted:
        return _EMPTIED
    below = sets.below(element)
    if below is None:
        return item
    out = _prune(structure, item, below, in_last, unowned, where)
    if out is _EMPTIED and sets.applied is not None and element in sets.applied.members:
        return type(item)()  # the configuration sets it, empty
    return out
