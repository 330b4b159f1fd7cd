"""The one JSON codec of the server, and request-body decoding (JSON or YAML).

Decoding reports duplicated keys (Python's parsers silently keep the last one) so that
``fieldValidation`` can reject or warn about them as kube-apiserver does.

Decoding is also where hostile bodies stop, before any recursive code sees them:

* nesting deeper than :data:`MAX_NESTING_DEPTH` is found by an iterative scan of the JSON text
  (or by the YAML composer's depth) and answered 400;
* what JSON cannot represent is refused with 400, so it is never stored: ``NaN``, ``Infinity``,
  numbers beyond float64 (``1e999``; the JSON RFC allows none of them), YAML's ``.nan``/``.inf``,
  lone UTF-16 surrogates (``"\\ud800"``, which UTF-8 cannot encode), YAML tags with no JSON
  counterpart (``!!binary``, ``!!set``);
* YAML aliases may add at most :data:`MAX_ALIAS_NODES` nodes ("billion laughs"), and a YAML
  document that expands past the object limit is refused before it is built;
* the decoded object must fit the stored-object limit (etcd's 1.5 MiB by default, the
  ``--max-object-bytes`` setting): 413.
"""
from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

import orjson
import yaml
from yaml._yaml import CParser

from ark.machinery import protobuf
from ark.machinery.errors import bad_request, object_too_large

#: Containers (objects and arrays) a body may nest. Kubernetes objects need a few dozen at most;
#: the bound keeps every recursive step after decoding (validation, copies, patches) far from
#: Python's recursion limit.
MAX_NESTING_DEPTH = 100
#: The largest object stored, as etcd's default ``--max-request-bytes`` (1.5 MiB).
MAX_OBJECT_BYTES = 1_572_864
#: Nodes that YAML aliases may add to a document when expanded.
MAX_ALIAS_NODES = 10_000
#: Digits of the longest integer accepted: larger ones are beyond float64, as for Go's decoder.
MAX_INTEGER_DIGITS = 309
#: A decoded JSON value is at most this many times the size of its text (``1e15`` becomes
#: ``1000000000000000.0``); smaller bodies cannot exceed the object limit and are not measured.
_JSON_GROWTH = 5


def dumps(obj: Any) -> str:
    """Compact JSON, as stored and as sent (orjson: the same text as the standard library's
    compact form, several times faster). Never NaN or Infinity: decoding keeps them out."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:  # an integer beyond 64 bits, which free-form fields may hold
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as stored (compact UTF-8 JSON)."""
    return len(dumps(value).encode("utf-8"))


def check_object_size(value: Any, limit: int = MAX_OBJECT_BYTES) -> None:
    """413 when ``value`` would be larger than ``limit`` bytes once stored."""
    size = encoded_size(value)
    if size > limit:
        raise object_too_large(size, limit)


def nesting_depth(value: Any) -> int:
    """How many objects/arrays nest in ``value`` (a scalar is 0), computed without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def loads(text: str | bytes) -> Any:
    """JSON the server wrote itself (stored bodies); request bodies go through :func:`decode`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # an integer beyond 64 bits (see dumps)
        return json.loads(text)


class _Decoded:
    """Collects duplicate keys by the id of the dict they were found in."""

    def __init__(self) -> None:
        self.duplicates: dict[int, list[str]] = {}

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        dups = []
        for key, value in pairs:
            if key in out:
                dups.append(key)
            out[key] = value
        if dups:
            self.duplicates[id(out)] = dups
        return out

    def paths(self, root: Any) -> list[str]:
        """Full paths (``spec.input``) of the duplicated keys found while decoding ``root``."""
        if not self.duplicates:
            return []
        found: list[str] = []

        def walk(node: Any, path: str) -> None:  # recursion is bounded: nesting was checked
            if isinstance(node, dict):
                for key in self.duplicates.get(id(node), ()):
                    found.append(f"{path}.{key}" if path else key)
                for key, value in node.items():
                    walk(value, f"{path}.{key}" if path else key)
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, f"{path}[{i}]")

        walk(root, "")
        return found


class _Refused(ValueError):
    """A value the body may not carry; the message says which and why."""


def _too_deep(kind: str) -> _Refused:
    return _Refused(f"exceeded max depth: the body nests objects and arrays more than {MAX_NESTING_DEPTH} "
                    f"levels deep ({kind})")


# JSON --------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\(?:u|U0000)[dD][89a-fA-F]")


def _check_json_nesting(text: str) -> None:
    """Bound the nesting of a JSON text by scanning it (strings removed), before parsing it."""
    if text.count("[") + text.count("{") <= MAX_NESTING_DEPTH:
        return
    structure = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if structure and max(accumulate(map(_BRACKET_STEP.__getitem__, structure))) > MAX_NESTING_DEPTH:
        raise _too_deep("JSON")


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number (RFC 8259): send a finite number, or a string")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"the number {text[:40]} is out of range: numbers must fit a 64-bit float")
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"the number {text[:40]}... ({len(text)} digits) is out of range: numbers must fit a 64-bit "
                       "float")
    return int(text)


def _parse_json(text: str, decoded: _Decoded) -> Any:
    _check_json_nesting(text)
    return json.loads(text, object_pairs_hook=decoded.pairs, parse_constant=_no_constant,
                      parse_float=_finite_float, parse_int=_bounded_int)


# YAML --------------------------------------------------------------------------------------

_YAML_TAG = "tag:yaml.org,2002:"
#: The YAML types that have a JSON counterpart; any other tag (binary, set, omap, python/...) is 400.
_YAML_TYPES = ("null", "bool", "int", "float", "str", "seq", "map")


class _StrictYamlLoader(yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor,
                        yaml.resolver.Resolver):
    """YAML as Kubernetes reads it: JSON types only (timestamps stay strings), duplicate keys
    reported, nesting and alias expansion bounded while composing.

    libyaml (``yaml.cyaml.CParser``, the pinned PyYAML wheel carries it) scans and parses: its parser
    keeps its own stack, so any nesting is safe there, and it is several times faster than
    PyYAML's pure-Python scanner, the largest cost of a YAML apply. The composer stays PyYAML's
    Python one, so the bounds below run before any recursion grows deep."""

    decoded: _Decoded
    depth = 0
    aliases = 0

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
        self.depth += 1
        try:
            if self.depth > MAX_NESTING_DEPTH + 1:  # +1: the composer counts scalars as a level
                raise _too_deep("YAML")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_StrictYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictYamlLoader.yaml_constructors = {
    tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag is None or tag in {_YAML_TAG + name for name in _YAML_TYPES}  # None: "no constructor", an error
}


def _construct_mapping(loader: _StrictYamlLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    pairs = [(loader.construct_object(k, deep=True), loader.construct_object(v, deep=True)) for k, v in node.value]
    return loader.decoded.pairs(pairs)


def _construct_float(loader: _StrictYamlLoader, node: yaml.ScalarNode) -> float:
    number = loader.construct_yaml_float(node)
    if not math.isfinite(number):
        raise _Refused(f"{node.value} is not representable in JSON: send a finite number, or a quoted string")
    return number


def _construct_int(loader: _StrictYamlLoader, node: yaml.ScalarNode) -> int:
    if len(node.value) > MAX_INTEGER_DIGITS:
        raise _Refused(f"the number {node.value[:40]}... ({len(node.value)} digits) is out of range: numbers must "
                       "fit a 64-bit float")
    return loader.construct_yaml_int(node)


_StrictYamlLoader.yaml_constructors.update({
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG: _construct_mapping,
    _YAML_TAG + "float": _construct_float,
    _YAML_TAG + "int": _construct_int,
})


def _expansion(root: yaml.Node) -> tuple[int, int, int]:
    """(nodes written, nodes once aliases are expanded, approximate JSON bytes once expanded).

    Iterative, over the composed graph, each node measured once; a node that contains itself
    (a recursive alias) is refused: JSON has no cycles.
    """
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and not children_done:
            continue
        children = _children(node)
        if not children_done:
            if key in open_nodes:
                raise _Refused("yaml: document contains a recursive alias, which JSON cannot represent")
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise _Refused("yaml: document contains a recursive alias, which JSON cannot represent")
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        count = 1 + sum(sizes[id(child)][0] for child in children)
        size = (len(node.value) + 3 if isinstance(node, yaml.ScalarNode) else 2) + sum(
            sizes[id(child)][1] + 1 for child in children)
        sizes[key] = (count, size)
    expanded, size = sizes[id(root)]
    return len(sizes), expanded, size


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _parse_yaml(text: str, decoded: _Decoded, max_object_bytes: int) -> Any:
    loader = _StrictYamlLoader(text)
    loader.decoded = decoded
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if loader.aliases:
            written, expanded, size = _expansion(node)
            if expanded - written > MAX_ALIAS_NODES:
                raise _Refused(f"yaml: document contains excessive aliasing: aliases expand it by {expanded - written} "
                               f"nodes, at most {MAX_ALIAS_NODES} are allowed")
            if size > max_object_bytes:
                raise object_too_large(size, max_object_bytes)
        return loader.construct_document(node)
    finally:
        loader.dispose()


# Both --------------------------------------------------------------------------------------

def _check_unicode(value: Any) -> None:
    """Strings decoded from ``\\ud800``-style escapes may hold lone surrogates: UTF-8 has no encoding for them."""
    try:
        dumps(value).encode("utf-8")
    except UnicodeEncodeError as err:
        raise _Refused(f'"\\u{ord(err.object[err.start]):04x}" is a lone UTF-16 surrogate, which has no UTF-8 '
                       "encoding: send a complete surrogate pair or the character itself") from None


def decode(body: bytes, content_type: str, max_object_bytes: int = MAX_OBJECT_BYTES) -> tuple[Any, list[str]]:
    """Decode a request body; returns the value and the paths of duplicated fields.

    JSON for ``application/json`` and the JSON patch types; YAML for ``application/yaml``
    and apply patches (JSON is valid YAML, but JSON is parsed as JSON for speed). A value
    larger than ``max_object_bytes`` once encoded is 413; anything undecodable is 400.
    """
    if content_type == protobuf.MEDIA_TYPE:  # the core kinds kubectl's typed clients send so
        value = protobuf.decode(body)
        check_object_size(value, max_object_bytes)
        return value, []
    decoded = _Decoded()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_request(f"the request body is not valid UTF-8: byte 0x{body[err.start]:02x} at offset {err.start} "
                          "cannot start or continue a character; send the body encoded as UTF-8") from None
    use_yaml = "yaml" in content_type
    if use_yaml and text.lstrip()[:1] in ("{", "["):
        use_yaml = False
    kind = "YAML" if use_yaml else "JSON"
    try:
        value = _parse_yaml(text, decoded, max_object_bytes) if use_yaml else _parse_json(text, decoded)
        if _SURROGATE_ESCAPE.search(text):
            _check_unicode(value)
    except (ValueError, yaml.YAMLError) as err:  # _Refused is a ValueError
        raise bad_request(f"error decoding {kind} request body: {err}") from None
    if len(body) * _JSON_GROWTH > max_object_bytes or (use_yaml and "*" in text):
        check_object_size(value, max_object_bytes)
    return value, decoded.paths(value)
