"""Typed field errors, the shape of apimachinery's ``field.Error``.

A rule reports *what kind* of problem a field has (required, invalid, not supported, ...), the
field's path, the offending value and a detail. Everything a client sees is derived from that in
one place: the cause ``reason`` (``FieldValueRequired``...), the cause ``message`` (``Invalid
value: "x": must be ...``) and the ``field: message`` text of the Status message. Nothing parses
message text to recover the kind of problem.

Paths are built with :class:`Path` so that every rule names fields the same way::

    Path("spec").child("members").index(2).child("name")   # spec.members[2].name
    Path("metadata").child("labels").key("app")            # metadata.labels[app]
"""
from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class ErrorType(enum.Enum):
    """The kinds of field problem, with the cause reason and message prefix Kubernetes uses."""

    REQUIRED = ("FieldValueRequired", "Required value")
    INVALID = ("FieldValueInvalid", "Invalid value")
    TYPE_INVALID = ("FieldValueTypeInvalid", "Invalid value")
    NOT_SUPPORTED = ("FieldValueNotSupported", "Unsupported value")
    FORBIDDEN = ("FieldValueForbidden", "Forbidden")
    TOO_LONG = ("FieldValueTooLong", "Too long")
    TOO_MANY = ("FieldValueTooMany", "Too many")
    DUPLICATE = ("FieldValueDuplicate", "Duplicate value")
    NOT_FOUND = ("FieldValueNotFound", "Not found")

    @property
    def reason(self) -> str:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


#: Types whose message never shows the bad value (apimachinery ``ErrorBody``).
_VALUELESS = frozenset((ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG))


class _Omitted:
    def __repr__(self) -> str:
        return "OMITTED"


#: The bad value is not part of the message (e.g. a rule about a whole object).
OMITTED: Any = _Omitted()


@dataclass(frozen=True)
class Path:
    """A field path, rendered as Kubernetes renders it: ``spec.members[2].name``."""

    text: str = ""

    def child(self, name: str, *more: str) -> Path:
        path = self
        for part in (name, *more):
            path = Path(f"{path.text}.{part}" if path.text else part)
        return path

    def index(self, i: int) -> Path:
        return Path(f"{self.text}[{i}]")

    def key(self, key: str) -> Path:
        return Path(f"{self.text}[{key}]")

    def __str__(self) -> str:
        return self.text


class Verbatim(str):
    """A bad value shown exactly as written, e.g. ``0x0`` where Go prints an unsigned zero."""


def _value_text(value: Any) -> str:
    """A bad value as Go's ``%q`` / ``%v`` print it in apimachinery messages."""
    if isinstance(value, Verbatim):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class FieldError:
    """One bad field: a ``details.causes[]`` entry of a 422 Invalid Status."""

    type: ErrorType
    field: str
    bad_value: Any = OMITTED
    detail: str = ""

    @property
    def reason(self) -> str:
        return self.type.reason

    @property
    def message(self) -> str:
        """The cause message (apimachinery ``ErrorBody``): type, bad value, detail."""
        text = self.type.text
        if self.type not in _VALUELESS and self.bad_value is not OMITTED:
            text = f"{text}: {_value_text(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def required(path: Path | str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, str(path), OMITTED, detail)


def invalid(path: Path | str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, str(path), value, detail)


def type_invalid(path: Path | str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.TYPE_INVALID, str(path), value, detail)


def not_supported(path: Path | str, value: Any, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(v) for v in supported) if supported else ""
    return FieldError(ErrorType.NOT_SUPPORTED, str(path), value, detail)


def forbidden(path: Path | str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, str(path), OMITTED, detail)


def too_long(path: Path | str, detail: str) -> FieldError:
    return FieldError(ErrorType.TOO_LONG, str(path), OMITTED, detail)


def too_many(path: Path | str, actual: int, detail: str) -> FieldError:
    return FieldError(ErrorType.TOO_MANY, str(path), actual, detail)


def duplicate(path: Path | str, value: Any) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, str(path), value)


def not_found(path: Path | str, value: Any, detail: str = "") -> FieldError:
    return FieldError(ErrorType.NOT_FOUND, str(path), value, detail)


def aggregate(errors: Iterable[FieldError]) -> str:
    """``field: message`` of one error, or ``[a, b]`` of several (apimachinery ``ToAggregate``,
    which also drops repeated messages)."""
    texts = list(dict.fromkeys(str(e) for e in errors))
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
