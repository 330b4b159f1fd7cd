"""Query parameters converted as apimachinery converts them (``runtime.Convert_Slice_string_To_*``).

Clients spell booleans in many ways: kubectl sends ``watch=true``, Python clients ``watch=True``,
some ``watch=1`` or a bare ``watch``. Kubernetes reads the *first* value of a parameter, and a
boolean is false only when that value is ``0`` or, ignoring case, ``false``; anything else, even
an empty value, is true. An integer that does not parse as a signed 64-bit decimal is a 400
BadRequest. Every query option of the server is read through these functions, so all of them
follow the same rules.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from ark.machinery.errors import bad_request

_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class QueryArgs(Protocol):
    """What the conversions read: every value of a parameter (Werkzeug's ``MultiDict`` is one)."""

    def getlist(self, key: str) -> Sequence[str]: ...

    def __contains__(self, key: object) -> bool: ...


def string(args: QueryArgs, name: str) -> str:
    values = args.getlist(name)
    return values[0] if values else ""


def boolean(args: QueryArgs, name: str) -> bool:
    """Absent, ``0`` and ``false`` (any case) are false; every other value, empty included, is true."""
    values = args.getlist(name)
    return bool(values) and values[0] != "0" and values[0].lower() != "false"


def optional_boolean(args: QueryArgs, name: str) -> bool | None:
    """None when the parameter is absent, else as :func:`boolean`."""
    return boolean(args, name) if name in args else None


def _int64(name: str, text: str) -> int:
    if not _INT64.fullmatch(text) or not _INT64_MIN <= int(text) <= _INT64_MAX:
        raise bad_request(f'invalid value "{text}" for query parameter {name}: must be a 64-bit integer')
    return int(text)


def int64(args: QueryArgs, name: str) -> int:
    """0 when absent; a value that is not a 64-bit integer (empty included) is a 400."""
    values = args.getlist(name)
    return _int64(name, values[0]) if values else 0


def optional_int64(args: QueryArgs, name: str) -> int | None:
    values = args.getlist(name)
    return _int64(name, values[0]) if values else None
