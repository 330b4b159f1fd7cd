"""Request bodies: reading them within limits, decoding them as a kind, and the CRD codec's
pruning and defaulting with the request's ``fieldValidation``.

An object body must be JSON or YAML of the URL's kind (400 otherwise). Decoding prunes what the
schema does not declare and fills its defaults, as a CRD's structural schema does; unknown and
duplicated fields are then a strict decoding error (400) under ``Strict``, ``Warning`` headers
under ``Warn``, nothing under ``Ignore``.
"""
from __future__ import annotations

from typing import Any

from flask import request

from ark.api.negotiation import parse_media_type
from ark.kinds.registry import Kind
from ark.kinds.validation import prune_and_default
from ark.machinery import codec, protobuf
from ark.machinery.errors import ApiError, bad_request, request_entity_too_large, unsupported_media_type
from ark.machinery.meta import META_FIELDS
from ark.machinery.options import STRICT, WARN, WriteOptions
from ark.registry.strategy import ENVELOPE

BODY_TYPES = "application/json, application/yaml"
#: Protobuf is read for the few core kinds kubectl's typed clients send so (ark.machinery.protobuf).
_OBJECT_MEDIA_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", protobuf.MEDIA_TYPE)


def read_body(limit: int) -> bytes:
    """The request body, or 413 when it is larger than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise request_entity_too_large(limit)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise request_entity_too_large(limit)
    return body


def request_media_type() -> str:
    """The request's Content-Type without parameters (JSON when absent)."""
    return parse_media_type(request.content_type)[0] or "application/json"


def object_media_type() -> str:
    """The media type of a create/update body: JSON or YAML, else 415."""
    media = request_media_type()
    if media not in _OBJECT_MEDIA_TYPES:
        raise unsupported_media_type(BODY_TYPES)
    return media


def _cannot_handle(kind: Kind, why: str) -> ApiError:
    return bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: {why}')


def decode_object(kind: Kind, body: bytes, content_type: str,
                  max_object_bytes: int) -> tuple[dict[str, Any], list[str]]:
    """Decode a create/update body into an object of ``kind``; returns it and duplicated fields."""
    if not body.strip():
        raise bad_request("the request body is empty: send the object as JSON or YAML")
    obj, duplicates = codec.decode(body, content_type, max_object_bytes)
    if not isinstance(obj, dict):
        raise _cannot_handle(kind, "the body must be a JSON object")
    if not kind.group:  # a built-in kind's body may leave out what the URL says (kopf's Events do)
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
    api_version = obj.get("apiVersion")
    if api_version != kind.api_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({kind.api_version})")
    if obj.get("kind") != kind.kind:
        raise _cannot_handle(kind, f"the kind in the data ({obj.get('kind')}) does not match the expected kind "
                                   f"({kind.kind})")
    if not isinstance(obj.get("metadata", {}), dict):
        raise _cannot_handle(kind, "metadata must be an object")
    obj.setdefault("metadata", {})
    return obj, duplicates


class FieldPruner:
    """Prunes and defaults the object(s) of one request as the CRD codec does, and reports the
    unknown and duplicated fields per the request's ``fieldValidation`` into ``warnings``."""

    def __init__(self, kind: Kind, options: WriteOptions, warnings: list[str], duplicates: list[str] | None = None):
        self.kind = kind
        self.options = options
        self.warnings = warnings
        self.duplicates = list(duplicates or ())

    def normalize(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Prune and default ``obj`` in place; report unknown and duplicated fields."""
        unknown: list[str] = []
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            for key in list(meta):
                if key not in META_FIELDS:
                    unknown.append(f"metadata.{key}")
                    del meta[key]
        rest = {key: obj.pop(key) for key in list(obj) if key not in ENVELOPE}
        obj.update(prune_and_default(self.kind.top_level, rest, "", unknown))
        self.kind.strategy.convert(obj)
        self._report([f'unknown field "{p}"' for p in unknown] + [f'duplicate field "{p}"' for p in self.duplicates])
        self.duplicates = []
        return obj

    def _report(self, problems: list[str]) -> None:
        if not problems:
            return
        if self.options.field_validation == STRICT:
            raise _cannot_handle(self.kind, "strict decoding error: " + ", ".join(problems))
        if self.options.field_validation == WARN:
            self.warnings.extend(problems)
