"""Durations as Ark writes them: Go's ``time.ParseDuration`` syntax (``300ms``, ``1.5h``,
``2h45m``; units ns, us, µs, ms, s, m, h; a lone ``0`` needs no unit).

Ark decodes these fields into Go durations before its rules run, so a string Go cannot parse
never gets in where Ark has a webhook; here it is a field error instead.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ark.machinery import field
from ark.machinery.field import FieldError, Path

_NANOSECONDS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                "h": 3600 * 10**9}
_MAX = 2**63 - 1  # a Go Duration is an int64 of nanoseconds
_UNITS = "ns|us|µs|μs|ms|s|m|h"  # "ms" before "m": the unit is everything up to the next number
_PART = re.compile(rf"([0-9]*)(?:\.([0-9]*))?({_UNITS})")
_DURATION = re.compile(rf"([-+]?)(0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:{_UNITS}))+)")
EXAMPLES = "must be a duration such as 30s, 5m or 1h30m (units ns, us, ms, s, m, h)"


def nanoseconds(text: str) -> int | None:
    """The duration ``text`` stands for, or None when Go would refuse it."""
    matched = _DURATION.fullmatch(text)
    if matched is None:
        return None
    sign, body = matched.groups()
    total = Fraction(0)
    for whole, fraction, unit in _PART.findall(body):
        amount = int(whole or "0") + (Fraction(int(fraction), 10 ** len(fraction)) if fraction else 0)
        total += amount * _NANOSECONDS[unit]
    if total > _MAX + (sign == "-"):
        return None
    return -int(total) if sign == "-" else int(total)


def duration_errors(spec: dict[str, Any], path: Path, names: Sequence[str], *,
                    non_negative: bool = False) -> list[FieldError]:
    """The duration fields ``names`` of ``spec`` that are set parse (and are not negative)."""
    problems: list[FieldError] = []
    for name in names:
        text = spec.get(name)
        if not isinstance(text, str):
            continue
        value = nanoseconds(text)
        if value is None:
            problems.append(field.invalid(path.child(name), text, EXAMPLES))
        elif non_negative and value < 0:
            problems.append(field.invalid(path.child(name), text, f"{name} cannot be negative"))
    return problems
