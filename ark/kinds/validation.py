"""Structural-schema semantics over a kind's marshmallow schemas.

Pruning, null-dropping and defaulting walk the declared fields (as a CRD's structural schema
does) and never coerce a value; marshmallow then only *validates* the result. Both
``prune_and_default`` and ``validate`` take the object's section (``spec`` or ``status``) and
the path it lives at, so messages name fields as kube-apiserver does (``spec.target.type``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields
from marshmallow.utils import missing

_DROP = object()
_REQUIRED_MESSAGE = "Missing data for required field."


@dataclass(frozen=True)
class FieldError:
    """One bad field: becomes a ``details.causes[]`` entry of a 422 Invalid Status."""

    field: str
    message: str

    @property
    def reason(self) -> str:
        if self.message.startswith("Required value"):
            return "FieldValueRequired"
        if self.message.startswith("Unsupported value"):
            return "FieldValueNotSupported"
        if self.message.startswith("Too long"):
            return "FieldValueTooLong"
        if self.message.startswith("Forbidden"):
            return "FieldValueForbidden"
        return "FieldValueInvalid"


def _declared(schema: Schema) -> dict[str, fields.Field]:
    """The schema's fields by their JSON name, computed once per schema instance."""
    cached = schema.__dict__.get("_ark_declared")
    if cached is None:
        cached = {(f.data_key or name): f for name, f in schema.fields.items()}
        schema.__dict__["_ark_declared"] = cached
    return cached


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _normalize(field: fields.Field, value: Any, path: str, unknown: list[str]) -> Any:
    if value is None:
        return None if field.allow_none else _DROP
    if isinstance(field, fields.Nested) and isinstance(value, dict):
        return prune_and_default(field.schema, value, path, unknown)
    if isinstance(field, fields.List) and isinstance(value, list):
        items = (_normalize(field.inner, item, f"{path}[{i}]", unknown) for i, item in enumerate(value))
        return [item for item in items if item is not _DROP]
    if isinstance(field, fields.Dict) and isinstance(value, dict) and field.value_field is not None:
        normalized = {k: _normalize(field.value_field, v, _join(path, k), unknown) for k, v in value.items()}
        return {k: v for k, v in normalized.items() if v is not _DROP}
    return value


def prune_and_default(schema: Schema, data: dict, path: str, unknown: list[str]) -> dict:
    """Return ``data`` without undeclared keys and nulls, with defaults filled in.

    Every pruned key's path is appended to ``unknown`` (for fieldValidation).
    """
    declared = _declared(schema)
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = declared.get(key)
        if field is None:
            unknown.append(_join(path, key))
            continue
        normalized = _normalize(field, value, _join(path, key), unknown)
        if normalized is not _DROP:
            out[key] = normalized
    for key, field in declared.items():
        if key not in out and field.load_default is not missing:
            default = field.load_default() if callable(field.load_default) else field.load_default
            out[key] = _normalize(field, copy.deepcopy(default), _join(path, key), unknown)
    return out


def _flatten(errors: Any, path: str, out: list[FieldError]) -> None:
    if isinstance(errors, dict):
        for key, sub in errors.items():
            if key == "_schema":  # a nested object that is not an object
                out.append(FieldError(path, "Invalid value: must be of type object"))
            elif key == "value" and isinstance(sub, (list, dict)) and path:
                _flatten(sub, path, out)  # marshmallow nests Dict value errors under "value"
            elif isinstance(key, int):
                _flatten(sub, f"{path}[{key}]", out)
            else:
                _flatten(sub, _join(path, str(key)), out)
    elif isinstance(errors, list):
        for message in errors:
            if isinstance(message, (dict, list)):
                _flatten(message, path, out)
            else:
                out.append(FieldError(path, "Required value" if message == _REQUIRED_MESSAGE else str(message)))
    else:
        out.append(FieldError(path, str(errors)))


def validate(schema: Schema, data: Any, path: str) -> list[FieldError]:
    """Check ``data`` against ``schema``; one FieldError per bad field, sorted by path."""
    if not isinstance(data, dict):
        return [FieldError(path, f'Invalid value: "{type(data).__name__}": must be of type object')]
    out: list[FieldError] = []
    _flatten(schema.validate(data), path, out)
    return sorted(out, key=lambda e: e.field)
