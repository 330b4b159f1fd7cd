"""marshmallow fields with the typing rules of a CRD structural schema.

marshmallow's stock fields coerce (``"1"`` becomes ``1``, ``"yes"`` becomes ``True``); a
CRD never does, and what a client sends must be read back unchanged. These fields only
declare and *check* a JSON value; they never convert it. Their ``metadata`` feeds the OpenAPI
generator (description, format, x-kubernetes-*).
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import fields, validate


class CheckedField(fields.Field):
    """A field that accepts a value of one JSON type and returns it untouched.

    The server never deserializes through marshmallow: ``ark.kinds.validation`` walks the
    declared fields and asks each one whether a value has its type (``accepts``) and, for
    formats, what is wrong with it (``format_problem``).
    """

    json_type = "object"

    def accepts(self, value: Any) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def format_problem(self, value: Any) -> str | None:
        """Why ``value`` (already of the right type) is not in this field's format, if it isn't."""
        return None


class String(CheckedField):
    json_type = "string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class Integer(CheckedField):
    json_type = "integer"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)


class Number(CheckedField):
    json_type = "number"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)


class Boolean(CheckedField):
    json_type = "boolean"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class IntOrString(CheckedField):
    """``x-kubernetes-int-or-string``: an integer or a string."""

    json_type = "integer or string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class FreeForm(fields.Raw):
    """``x-kubernetes-preserve-unknown-fields``: any JSON, kept as sent."""


class FreeObject(CheckedField):
    """``type: object`` with preserved unknown fields: any JSON object."""

    json_type = "object"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class DateTime(String):
    """``format: date-time``: an RFC 3339 timestamp string."""

    def format_problem(self, value: Any) -> str | None:
        return None if _RFC3339.match(value) else "must be an RFC 3339 date-time"


# Validators: the CRD constraints, read by the OpenAPI generator and checked by ark.kinds.validation.

def enum(*values: str) -> validate.Validator:
    return validate.OneOf(values)


def pattern(regex: str) -> validate.Validator:
    return validate.Regexp(regex)


def length(minimum: int | None = None, maximum: int | None = None) -> validate.Validator:
    return validate.Length(min=minimum, max=maximum)


def bounds(minimum: float | None = None, maximum: float | None = None) -> validate.Validator:
    return validate.Range(min=minimum, max=maximum)
