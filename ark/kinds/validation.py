"""Structural-schema semantics over a kind's marshmallow schemas.

Pruning, null-dropping and defaulting walk the declared fields (as a CRD's structural schema
does) and never coerce a value; ``validate`` then checks types and constraints and reports
typed field errors (``ark.machinery.field``). Both ``prune_and_default`` and ``validate`` take
the object's section (``spec`` or ``status``) and the path it lives at, so messages name fields
as kube-apiserver does (``spec.target.type``).
"""
from __future__ import annotations

import copy
import re
from typing import Any, cast

from marshmallow import Schema, fields
from marshmallow import validate as constraints
from marshmallow.utils import missing

from ark.kinds.fields import CheckedField
from ark.machinery import field
from ark.machinery.field import FieldError, Path

_DROP = object()


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


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, as schema messages name it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"


def _type_error(path: Path, value: Any, expected: str) -> FieldError:
    return field.type_invalid(path, json_type(value), f"must be of type {expected}")


def _check_validators(declared: fields.Field, value: Any, path: Path, out: list[FieldError]) -> None:
    """The CRD constraints of ``declared`` (enum, pattern, lengths, bounds) on ``value``."""
    for validator in declared.validators:
        if isinstance(validator, constraints.OneOf):
            if value not in validator.choices:
                out.append(field.not_supported(path, value, [str(c) for c in validator.choices]))
        elif isinstance(validator, constraints.Regexp):
            regex = cast("re.Pattern[str]", validator.regex)
            if isinstance(value, str) and not regex.search(value):
                out.append(field.invalid(path, value, f"should match '{regex.pattern}'"))
        elif isinstance(validator, constraints.Length):
            _check_length(validator, value, path, out)
        elif isinstance(validator, constraints.Range):
            if validator.min is not None and value < validator.min:
                out.append(field.invalid(path, value, f"should be greater than or equal to {validator.min}"))
            if validator.max is not None and value > validator.max:
                out.append(field.invalid(path, value, f"should be less than or equal to {validator.max}"))


def _check_length(validator: constraints.Length, value: Any, path: Path, out: list[FieldError]) -> None:
    size = len(value)
    unit = "chars long" if isinstance(value, str) else ("items" if isinstance(value, list) else "properties")
    if validator.min is not None and size < validator.min:
        at_least = f"should be at least {validator.min} {unit}" if isinstance(value, str) \
            else f"should have at least {validator.min} {unit}"
        out.append(field.invalid(path, value if isinstance(value, str) else size, at_least))
    if validator.max is not None and size > validator.max:
        if isinstance(value, str):
            out.append(field.too_long(path, f"may not be more than {validator.max} characters"))
        else:
            out.append(field.too_many(path, size, f"must have at most {validator.max} {unit}"))


def _check_value(declared: fields.Field, value: Any, path: Path, out: list[FieldError]) -> None:
    if value is None:
        if not declared.allow_none:
            out.append(field.invalid(path, None, "must not be null"))
        return
    if isinstance(declared, fields.Nested):
        if not isinstance(value, dict):
            out.append(_type_error(path, value, "object"))
            return
        _check_object(declared.schema, value, path, out)
    elif isinstance(declared, fields.List):
        if not isinstance(value, list):
            out.append(_type_error(path, value, "array"))
            return
        for i, item in enumerate(value):
            _check_value(declared.inner, item, path.index(i), out)
    elif isinstance(declared, fields.Dict):
        if not isinstance(value, dict):
            out.append(_type_error(path, value, "object"))
            return
        if declared.value_field is not None:
            for key, item in value.items():
                _check_value(declared.value_field, item, path.child(key), out)
    elif isinstance(declared, CheckedField):
        if not declared.accepts(value):
            out.append(_type_error(path, value, declared.json_type))
            return
        problem = declared.format_problem(value)
        if problem:
            out.append(field.invalid(path, value, problem))
            return
    _check_validators(declared, value, path, out)


def _check_object(schema: Schema, data: dict, path: Path, out: list[FieldError]) -> None:
    for key, declared in _declared(schema).items():
        if key in data:
            _check_value(declared, data[key], path.child(key), out)
        elif declared.required:
            out.append(field.required(path.child(key)))


def validate(schema: Schema, data: Any, path: str) -> list[FieldError]:
    """Check ``data`` against ``schema``; one FieldError per bad field, sorted by path."""
    root = Path(path)
    if not isinstance(data, dict):
        return [_type_error(root, data, "object")]
    out: list[FieldError] = []
    _check_object(schema, data, root, out)
    return sorted(out, key=lambda e: e.field)
