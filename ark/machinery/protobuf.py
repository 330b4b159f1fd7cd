"""Kubernetes' protobuf request bodies, for the core kinds kubectl's typed clients send them for
(``kubectl create namespace``, ``create secret``, ``create configmap``, ``auth can-i``,
``auth whoami``): decoded into the JSON form, then handled like any JSON body.

A body is the ``k8s\\x00`` magic and a ``runtime.Unknown`` whose ``raw`` bytes are the object's
message (``k8s.io/api/.../generated.proto``). The decoder knows the field numbers of those
messages only; a field it does not know is skipped, as protobuf does, and an object of any
other kind is refused (415), so that nothing is ever half-read.
"""
from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from ark.machinery.errors import ApiError, bad_request, unsupported_media_type

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A schema maps a field number to (JSON name, type); a type is a scalar name, a nested schema
# (a dict), ("list", type) or ("map", value type).
Schema = dict[int, tuple[str, Any]]

TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}
UNKNOWN: Schema = {1: ("typeMeta", TYPE_META), 2: ("raw", "raw"), 3: ("contentEncoding", "string"),
                   4: ("contentType", "string")}
TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
OWNER_REFERENCE: Schema = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                           5: ("apiVersion", "string"), 6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
    6: ("resourceVersion", "string"), 7: ("generation", "int"), 8: ("creationTimestamp", "time"),
    11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("list", OWNER_REFERENCE)), 14: ("finalizers", ("list", "string")),
}
RESOURCE_ATTRIBUTES: Schema = {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                               4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                               7: ("name", "string")}
NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}

#: (apiVersion, kind) -> the schema of the object's message.
KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("list", "string"))})},
    ("v1", "Secret"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
                       4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    ("v1", "ConfigMap"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "string")),
                          3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("resourceAttributes", RESOURCE_ATTRIBUTES), 2: ("nonResourceAttributes",
                                                                          NON_RESOURCE_ATTRIBUTES)})},
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {1: ("metadata", OBJECT_META),
                                                            2: ("spec", {1: ("namespace", "string")})},
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", OBJECT_META)},
}


class _Malformed(Exception):
    pass


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: an int for varints, bytes for length-delimited fields."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _varint(data, i)
            if i + length > len(data):
                raise _Malformed("truncated field")
            out.append((number, data[i:i + length]))
            i += length
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4  # fixed64/fixed32: no field used here has them
        else:
            raise _Malformed(f"unsupported wire type {wire}")
    return out


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "int":
        if not isinstance(value, int):
            raise _Malformed("expected a varint")
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if not isinstance(value, bytes):
        raise _Malformed("expected bytes")
    if kind == "string":
        return value.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "time":
        stamp = _message(TIME, value)
        return datetime.fromtimestamp(stamp.get("seconds", 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value  # raw


def _value(kind: Any, value: int | bytes) -> Any:
    if isinstance(kind, dict):
        if not isinstance(value, bytes):
            raise _Malformed("expected a message")
        return _message(kind, value)
    return _scalar(kind, value)


def _message(schema: Schema, data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        known = schema.get(number)
        if known is None:
            continue
        name, kind = known
        if isinstance(kind, tuple) and kind[0] == "list":
            out.setdefault(name, []).append(_value(kind[1], value))
        elif isinstance(kind, tuple) and kind[0] == "map":
            if not isinstance(value, bytes):
                raise _Malformed("expected a map entry")
            entry = _message({1: ("key", "string"), 2: ("value", kind[1])}, value)
            out.setdefault(name, {})[entry.get("key", "")] = entry.get("value", "")
        else:
            out[name] = _value(kind, value)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; 415 for a kind this server cannot read so."""
    if not body.startswith(MAGIC):
        raise bad_request("the protobuf body does not start with the Kubernetes envelope (k8s\\x00)")
    try:
        unknown = _message(UNKNOWN, body[len(MAGIC):])
        type_meta = unknown.get("typeMeta") or {}
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        schema = KINDS.get((api_version, kind))
        if schema is None or unknown.get("contentEncoding"):
            raise unsupported_media_type("application/json, application/yaml")
        obj = _message(schema, unknown.get("raw") or b"")
    except (_Malformed, UnicodeDecodeError) as err:
        raise bad_request(f"the protobuf body cannot be decoded: {err}") from None
    except ApiError:
        raise
    return {"apiVersion": api_version, "kind": kind, **obj}
