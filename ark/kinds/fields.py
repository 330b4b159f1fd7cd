"""marshmallow fields with the typing rules of a CRD structural schema.

marshmallow's stock fields coerce (``"1"`` becomes ``1``, ``"yes"`` becomes ``True``); a
CRD never does, and what a client sends must be read back unchanged. These fields only
*check* a JSON value; they never convert it, so ``Schema.validate`` is all the server runs.
Their ``metadata`` feeds the OpenAPI generator (description, format, x-kubernetes-*).
"""
from __future__ import annotations

import re
from typing import Any, ClassVar

from marshmallow import fields, validate

_TYPE_ERROR = "Invalid value: {input}: must be of type {type}"


def _shown(value: Any) -> str:
    """Render a rejected value the way Kubernetes quotes it in messages."""
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, (dict, list)):
        return '"' + type(value).__name__ + '"'
    return repr(value).lower() if isinstance(value, bool) else repr(value)


class _Checked(fields.Field):
    """A field that accepts a value of one JSON type and returns it untouched."""

    json_type = "object"

    def _accepts(self, value: Any) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _deserialize(self, value, attr, data, **kwargs):
        if not self._accepts(value):
            raise self.make_error("type", input=_shown(value), type=self.json_type)
        return value

    default_error_messages: ClassVar[dict[str, str]] = {"type": _TYPE_ERROR}


class String(_Checked):
    json_type = "string"

    def _accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class Integer(_Checked):
    json_type = "integer"

    def _accepts(self, value: Any) -> bool:
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)


class Number(_Checked):
    json_type = "number"

    def _accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)


class Boolean(_Checked):
    json_type = "boolean"

    def _accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class IntOrString(_Checked):
    """``x-kubernetes-int-or-string``: an integer or a string."""

    json_type = "integer or string"

    def _accepts(self, value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class FreeForm(fields.Raw):
    """``x-kubernetes-preserve-unknown-fields``: any JSON, kept as sent."""


class FreeObject(_Checked):
    """``type: object`` with preserved unknown fields: any JSON object."""

    json_type = "object"

    def _accepts(self, value: Any) -> bool:
        return isinstance(value, dict)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class DateTime(String):
    """``format: date-time``: an RFC 3339 timestamp string."""

    default_error_messages: ClassVar[dict[str, str]] = {"format": 'Invalid value: {input}: must be an RFC 3339 date-time'}

    def _deserialize(self, value, attr, data, **kwargs):
        super()._deserialize(value, attr, data, **kwargs)
        if not _RFC3339.match(value):
            raise self.make_error("format", input=_shown(value))
        return value


# Validators, with the messages kube-apiserver gives for the same CRD constraints.

def enum(*values: str) -> validate.Validator:
    allowed = ", ".join(f'"{v}"' for v in values)
    return validate.OneOf(values, error='Unsupported value: "{input}": supported values: ' + allowed)


def pattern(regex: str) -> validate.Validator:
    return validate.Regexp(regex, error='Invalid value: "{input}": should match \'' + regex + "'")


class _Length(validate.Length):
    message_min = "Invalid value: should have at least {min} characters or items"
    message_max = "Too long: may not have more than {max} characters or items"
    message_all = "Invalid value: should have between {min} and {max} characters or items"


def length(minimum: int | None = None, maximum: int | None = None) -> validate.Validator:
    return _Length(min=minimum, max=maximum)


def bounds(minimum: float | None = None, maximum: float | None = None) -> validate.Validator:
    return validate.Range(
        min=minimum,
        max=maximum,
        error="Invalid value: {input}: should be in the range [{min}, {max}]",
    )
