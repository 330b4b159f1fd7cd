"""Field paths, sets of them, and their ``FieldsV1`` wire form.

A path names one field of an object, step by step. A step is one of four *path elements*:

=================  ====================  ========================================  ===================
element            Python                where it is used                          FieldsV1 key
=================  ====================  ========================================  ===================
field name         ``str``               a key of an object (struct or map)        ``f:name``
key                :class:`Key`          an item of a list of type ``map``         ``k:{"uid":"1"}``
value              :class:`SetValue`     an item of a list of type ``set``         ``v:"x"``
index              :class:`Index`        an item of an atomic list (decoding only) ``i:0``
=================  ====================  ========================================  ===================

A :class:`FieldSet` is a tree: ``members`` are the elements whose path is *in* the set,
``children`` the elements below which further members are. A node can be both (``"."`` in
FieldsV1). Sets are built once and never changed afterwards, so operations share unchanged
subtrees instead of copying them.

FieldsV1 is written exactly as kube-apiserver writes it: keys sorted as structured-merge-diff
orders path elements (names, then keys, then values, then indices), ``"."`` first in a node
that is also a member, and the JSON inside ``k:`` and ``v:`` keys escaped as Go escapes it.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, TypeAlias

_NUMBER, _STRING, _BOOL, _LIST, _MAP, _NULL = range(6)  # the order in which structured-merge-diff sorts values


def canonical(value: Any) -> tuple[Any, ...]:
    """A hashable, totally ordered stand-in for a JSON value.

    Orders as structured-merge-diff orders values (numbers, strings, booleans, lists, maps,
    null) and keeps ``True`` apart from ``1``, which Python alone would not.
    """
    if value is None:
        return (_NULL,)
    if isinstance(value, bool):
        return (_BOOL, value)
    if isinstance(value, (int, float)):
        return (_NUMBER, value)
    if isinstance(value, str):
        return (_STRING, value)
    if isinstance(value, list):
        return (_LIST, tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return (_MAP, tuple(sorted((key, canonical(item)) for key, item in value.items())))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


class _Identified:
    """An item of a ``set`` or ``map`` list, compared, hashed and ordered by its canonical value."""

    __slots__ = ("_canon", "_hash")
    _rank = 0  # place among the element kinds

    def __init__(self, canon: tuple[Any, ...]) -> None:
        self._canon = canon
        self._hash = hash((type(self), canon))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._canon == self._canon

    def __hash__(self) -> int:
        return self._hash

    @property
    def order(self) -> tuple[Any, ...]:
        return (self._rank, self._canon)


class Key(_Identified):
    """``k:{...}``: the item of a ``map`` list whose key fields have these values."""

    __slots__ = ("fields",)
    _rank = 1

    def __init__(self, fields: Iterable[tuple[str, Any]]) -> None:
        self.fields: tuple[tuple[str, Any], ...] = tuple(sorted(fields, key=lambda item: item[0]))
        super().__init__(tuple((name, canonical(value)) for name, value in self.fields))

    def __repr__(self) -> str:
        return f"Key({dict(self.fields)!r})"


class SetValue(_Identified):
    """``v:...``: the item of a ``set`` list with this value."""

    __slots__ = ("value",)
    _rank = 2

    def __init__(self, value: Any) -> None:
        self.value = value
        super().__init__(canonical(value))

    def __repr__(self) -> str:
        return f"SetValue({self.value!r})"


class Index:
    """``i:N``: an item of a list by position. Only read from FieldsV1; ownership of atomic lists is whole."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and other.index == self.index

    def __hash__(self) -> int:
        return hash((Index, self.index))

    def __repr__(self) -> str:
        return f"Index({self.index})"

    @property
    def order(self) -> tuple[Any, ...]:
        return (3, self.index)


PathElement: TypeAlias = "str | Key | SetValue | Index"
Path: TypeAlias = "tuple[PathElement, ...]"


def element_order(element: PathElement) -> tuple[Any, ...]:
    """Sort key: field names first, then keys, values and indices, each in their own order."""
    return (0, element) if isinstance(element, str) else element.order


def path_string(path: Path) -> str:
    """A path as kube-apiserver prints it in conflicts: ``.spec.tools[name="x"].type``."""
    parts = []
    for element in path:
        if isinstance(element, str):
            parts.append("." + element)
        elif isinstance(element, Key):
            parts.append("[" + ",".join(f"{name}={go_value_string(value)}" for name, value in element.fields) + "]")
        elif isinstance(element, SetValue):
            parts.append(f"[={go_value_string(element.value)}]")
        else:
            parts.append(f"[{element.index}]")
    return "".join(parts)


class FieldSet:
    """A set of field paths, as a tree. Treat instances as immutable once built."""

    __slots__ = ("children", "members")

    def __init__(self, members: set[PathElement] | None = None, children: dict[PathElement, FieldSet] | None = None
                 ) -> None:
        self.members: set[PathElement] = members if members is not None else set()
        # Invariant: no child set is empty, so emptiness is a shallow check.
        self.children: dict[PathElement, FieldSet] = children if children is not None else {}

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> FieldSet:
        out = cls()
        for path in paths:
            out._insert(path)
        return out

    def _insert(self, path: Path) -> None:
        """Add ``path`` (parents are not added). Only for sets still being built."""
        if not path:
            return
        node = self
        for element in path[:-1]:
            child = node.children.get(element)
            if child is None:
                child = node.children[element] = FieldSet()
            node = child
        node.members.add(path[-1])

    def __bool__(self) -> bool:
        return bool(self.members) or bool(self.children)

    @property
    def empty(self) -> bool:
        return not self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self.members == other.members and self.children == other.children

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.paths()) + ")"

    def size(self) -> int:
        """The number of paths in the set."""
        return len(self.members) + sum(child.size() for child in self.children.values())

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for element in path[:-1]:
            node = node.children.get(element) if node is not None else None
        return bool(path) and node is not None and path[-1] in node.members

    def with_prefix(self, element: PathElement) -> FieldSet:
        """The paths below ``element``, without it."""
        return self.children.get(element) or FieldSet()

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every path of the set: each node's members in order, then its children (as Go iterates)."""
        for element in sorted(self.members, key=element_order):
            yield (*prefix, element)
        for element in sorted(self.children, key=element_order):
            yield from self.children[element].paths((*prefix, element))

    def union(self, other: FieldSet) -> FieldSet:
        if not other:
            return self
        if not self:
            return other
        children = dict(self.children)
        for element, theirs in other.children.items():
            mine = children.get(element)
            children[element] = theirs if mine is None else mine.union(theirs)
        return FieldSet(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        small, large = (self, other) if len(self.children) <= len(other.children) else (other, self)
        children = {}
        for element, mine in small.children.items():
            theirs = large.children.get(element)
            if theirs is not None:
                common = mine.intersection(theirs)
                if common:
                    children[element] = common
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths of ``self`` not in ``other``; removing a parent path leaves its children.

        Returns ``self`` itself when nothing is removed, so callers can tell by identity.
        """
        return self._subtract(other, recursive=False)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a path of ``other`` takes everything below it too."""
        return self._subtract(other, recursive=True)

    def _subtract(self, other: FieldSet, recursive: bool) -> FieldSet:
        if not other or not self:
            return self
        members = self.members - other.members if other.members else self.members
        changed = len(members) != len(self.members)
        children = {}
        for element, mine in self.children.items():
            if recursive and element in other.members:
                changed = True
                continue
            theirs = other.children.get(element)
            rest = mine if theirs is None else mine._subtract(theirs, recursive)
            if rest is not mine:
                changed = True
            if rest:
                children[element] = rest
        return FieldSet(members, children) if changed else self


EMPTY = FieldSet()


# --- FieldsV1 ------------------------------------------------------------------------------


class FieldsV1Error(ValueError):
    """A ``fieldsV1`` value that is not a valid field set; the message says where and why."""


def encode_element(element: PathElement) -> str:
    """The FieldsV1 key of one path element."""
    if isinstance(element, str):
        return "f:" + element
    if isinstance(element, Key):
        return "k:{" + ",".join(go_string(name) + ":" + go_json(value) for name, value in element.fields) + "}"
    if isinstance(element, SetValue):
        return "v:" + go_json(element.value)
    return f"i:{element.index}"


def to_fields_v1(fields: FieldSet) -> dict[str, Any]:
    """The FieldsV1 object of a set, keys in kube-apiserver's order (serialize it without sorting)."""
    out: dict[str, Any] = {}
    _emit(fields, out)
    return out


def _emit(fields: FieldSet, out: dict[str, Any]) -> None:
    members, children = fields.members, fields.children
    elements = members | children.keys() if children else members
    for element in sorted(elements, key=element_order):
        child = children.get(element)
        if child is None:
            out[encode_element(element)] = {}
            continue
        inner: dict[str, Any] = {".": {}} if element in members else {}
        _emit(child, inner)
        out[encode_element(element)] = inner


_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_HINT = 'a path element is "f:<name>", "k:<JSON object>", "v:<JSON value>" or "i:<index>"'


def from_fields_v1(raw: Any) -> FieldSet:
    """Decode a FieldsV1 object (already parsed from JSON), as structured-merge-diff reads it.

    Keys of an unknown element type are dropped (a newer server may know them); a node whose
    children are all dropped, or that is ``{}``/``null``, is a member of its parent.
    """
    if not isinstance(raw, dict):
        raise FieldsV1Error(f"must be a JSON object of path elements, not {_json_type(raw)}")
    found, _ = _read(raw, "")
    return found or FieldSet()


def _read(node: dict[str, Any], where: str) -> tuple[FieldSet | None, bool]:
    """(the node's children, whether the node itself is a member)."""
    children: FieldSet | None = None
    member = False
    for key, sub in node.items():
        if key == ".":
            member = True
            continue
        if key[:2] == "f:" and type(sub) is dict:  # the common case, without the general checks
            element: PathElement | None = key[2:]
            grandchildren, is_member = _read(sub, f"{where}.{key}" if where else key) if sub else (None, True)
        else:
            here = f"{where}.{key}" if where else key
            element = decode_element(key, here)
            if sub is None:
                sub = {}
            elif not isinstance(sub, dict):
                raise FieldsV1Error(f"{here}: must be a JSON object, not {_json_type(sub)}")
            grandchildren, is_member = _read(sub, here)
        if element is None:
            continue
        if children is None:
            children = FieldSet()
        if is_member:
            children.members.add(element)
        if grandchildren is not None:
            known = children.children.get(element)
            children.children[element] = grandchildren if known is None else known.union(grandchildren)
    return children, member or children is None


def decode_element(key: str, where: str = "") -> PathElement | None:
    """One FieldsV1 key as a path element; ``None`` for an element type this server does not know."""
    where = where or key
    if len(key) < 2 or len(key.encode()) < 2 or key[1] != ":":
        raise FieldsV1Error(f"{where}: {_HINT}")
    kind, text = key[0], key[2:]
    if kind == "f":
        return text
    if kind == "i":
        if not _INTEGER.match(text):
            raise FieldsV1Error(f'{where}: the index after "i:" must be an integer')
        return Index(int(text))
    if kind in ("v", "k"):
        try:
            # Go reads every JSON number here as a float64, and so compares and writes it back.
            value = json.loads(text, parse_int=_float64, parse_float=_float64, parse_constant=_reject_constant)
        except ValueError:
            raise FieldsV1Error(f'{where}: the text after "{kind}:" is not valid JSON') from None
        if kind == "v":
            return SetValue(value)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise FieldsV1Error(f'{where}: the text after "k:" must be a JSON object of key fields')
        return Key(value.items())
    return None


def _float64(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is out of range")
    return number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


# --- Go's JSON and %v text, where the bytes must match kube-apiserver's ------------------------

_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _GO_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    return "\\ufffd" if 0xD800 <= code <= 0xDFFF else f"\\u{code:04x}"


def go_string(text: str) -> str:
    """A JSON string as Go writes it: ``<``, ``>``, ``&``, U+2028/9 escaped, lone surrogates replaced."""
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def go_float(number: float) -> str:
    """A float as Go's JSON encoder writes it (``1`` for 1.0, ``1e+21``, ``1e-7``)."""
    if number == 0:
        return "0"
    if 1e-6 <= abs(number) < 1e21:
        text = format(Decimal(repr(number)), "f")
        return text.removesuffix(".0")
    text = repr(number)
    return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)


def go_json(value: Any, sort_keys: bool = False) -> str:
    """Compact JSON as Go's encoder writes it; ``sort_keys`` as for a Go map."""
    parts: list[str] = []
    _go_encode(value, parts, sort_keys)
    return "".join(parts)


def _go_encode(value: Any, parts: list[str], sort_keys: bool) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(go_string(value))
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(go_float(value))
    elif isinstance(value, dict):
        parts.append("{")
        items = sorted(value.items()) if sort_keys else value.items()
        for i, (key, item) in enumerate(items):
            if i:
                parts.append(",")
            parts.append(go_string(key))
            parts.append(":")
            _go_encode(item, parts, sort_keys)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _go_encode(item, parts, sort_keys)
        parts.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


_QUOTE_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                '"': '\\"', "\\": "\\\\"}


def go_quote(text: str) -> str:
    """Go's ``%q``: printable characters as they are, the others escaped."""
    out = ['"']
    for char in text:
        short = _QUOTE_SHORT.get(char)
        if short is not None:
            out.append(short)
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_float_v(number: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 or from 1e6 up."""
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # position of the decimal point in the digit string
    magnitude = point - 1
    head = "-" if sign else ""
    if magnitude < -4 or magnitude >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{head}{mantissa}e{'-' if magnitude < 0 else '+'}{abs(magnitude):02d}"
    if point <= 0:
        return head + "0." + "0" * -point + text
    if point >= len(text):
        return head + text + "0" * (point - len(text))
    return head + text[:point] + "." + text[point:]


def go_value_string(value: Any) -> str:
    """A JSON value as structured-merge-diff prints it inside a path (strings quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float_v(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[" + ",".join(go_value_string(item) for item in value) + "]"
    return "".join(f"{key}={go_value_string(item)}" for key, item in value.items())
