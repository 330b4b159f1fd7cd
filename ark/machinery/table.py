"""``meta.k8s.io`` Table and PartialObjectMetadata renderings (what ``kubectl get`` asks for)."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath

from ark.kinds.registry import Kind, PrinterColumn
from ark.machinery.codec import dumps

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)


_MISSING = object()
_KEY_PATH = re.compile(r"^(\.[A-Za-z0-9_-]+)+$")


@cache
def _getter(json_path: str) -> Callable[[dict[str, Any]], Any]:
    """A column's value getter, made once per path: plain key lookups for the usual
    ``.spec.type``-like paths (every Ark column), a JSONPath evaluation otherwise."""
    if _KEY_PATH.match(json_path):
        keys = json_path[1:].split(".")

        def by_keys(obj: dict[str, Any]) -> Any:
            value: Any = obj
            for key in keys:
                if not isinstance(value, dict) or key not in value:
                    return _MISSING
                value = value[key]
            return _MISSING if value is None else value

        return by_keys
    try:
        compiled = parse_jsonpath("$" + json_path)
    except (JsonPathParserError, ValueError, TypeError):  # a bad column path prints <none>, as kubectl does
        return lambda obj: _MISSING

    def by_jsonpath(obj: dict[str, Any]) -> Any:
        found = compiled.find(obj)
        return found[0].value if found and found[0].value is not None else _MISSING

    return by_jsonpath


@lru_cache(maxsize=8192)
def _timestamp(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def column_definitions(kind: Kind) -> list[dict[str, Any]]:
    definitions = [
        {"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}
    ]
    for column in kind.table_columns:
        definitions.append(
            {
                "name": column.name,
                "type": column.type,
                "format": column.format,
                "description": column.description
                or f"Custom resource definition column (in JSONPath format): {column.json_path}",
                "priority": column.priority,
            }
        )
    return definitions


def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration``."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years = hours // 24 // 365
        days = hours // 24 % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def _cell(column: PrinterColumn, obj: dict[str, Any], now: datetime) -> Any:
    value = _getter(column.json_path)(obj)
    if value is _MISSING:
        return None
    if column.type == "date":
        stamp = _timestamp(str(value))
        if stamp is None:
            return "<unknown>"
        return human_duration((now - stamp).total_seconds())
    if column.type == "integer":
        return value if isinstance(value, int) else None
    if column.type == "number":
        return value if isinstance(value, (int, float)) else None
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, (dict, list)):
        return dumps(value)
    return str(value) if not isinstance(value, bool) else str(value).lower()


def partial_object_metadata(obj: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": obj["metadata"]}


def row(kind: Kind, obj: dict[str, Any], include_object: str, now: datetime, version: str = "v1") -> dict[str, Any]:
    cells = [obj["metadata"].get("name")] + [_cell(c, obj, now) for c in kind.table_columns]
    out: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = partial_object_metadata(obj, version)
    return out


def table(
    kind: Kind,
    objs: list[dict[str, Any]],
    list_meta: dict[str, Any],
    include_object: str = "Metadata",
    version: str = "v1",
    with_columns: bool = True,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta,
        "columnDefinitions": column_definitions(kind) if with_columns else None,
        "rows": [row(kind, obj, include_object, now, version) for obj in objs],
    }
