"""From a decoded body to an object fit to store: pruning, defaulting and validation.

CRD order: prune unknown fields (reported per ``fieldValidation``), apply defaults, then
validate metadata and the schema. Unknown and duplicated fields become a strict decoding
error (400), or ``Warning`` headers, or nothing.
"""
from __future__ import annotations

from typing import Any

from flask import g

from ark.api.options import STRICT, WARN, WriteOptions, strict_decoding_error
from ark.kinds.registry import Kind
from ark.kinds.validation import FieldError, prune_and_default, validate
from ark.machinery.errors import invalid
from ark.machinery.meta import META_FIELDS, validate_object_meta

TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")


class Admission:
    """Admits the object(s) of one request; its warnings go to the request's Warning headers
    (``flask.g.warnings``, added to every response, errors included, by the app)."""

    def __init__(self, kind: Kind, options: WriteOptions, duplicates: list[str] | None = None) -> None:
        self.kind = kind
        self.options = options
        self.duplicates = list(duplicates or ())
        self.warnings: list[str] = g.setdefault("warnings", [])

    def normalize(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Prune and default ``obj`` in place of a CRD; report unknown/duplicate fields."""
        unknown: list[str] = []
        for key in list(obj):
            if key not in TOP_LEVEL:
                unknown.append(key)
                del obj[key]
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            for key in list(meta):
                if key not in META_FIELDS:
                    unknown.append(f"metadata.{key}")
                    del meta[key]
        for section, schema in (("spec", self.kind.spec), ("status", self.kind.status)):
            value = obj.get(section)
            if value is None:
                obj.pop(section, None)
            elif isinstance(value, dict):
                obj[section] = prune_and_default(schema, value, section, unknown)
        self._report([f'unknown field "{p}"' for p in unknown] + [f'duplicate field "{p}"' for p in self.duplicates])
        self.duplicates = []
        return obj

    def _report(self, problems: list[str]) -> None:
        if not problems:
            return
        if self.options.field_validation == STRICT:
            raise strict_decoding_error(self.kind, problems)
        if self.options.field_validation == WARN:
            self.warnings.extend(problems)

    def check(self, obj: dict[str, Any], sections: tuple[str, ...] = ("spec",), extra: list[FieldError] = ()) -> None:
        """422 Invalid with one cause per bad field, if any."""
        errors = list(extra) + validate_object_meta(obj.get("metadata"))
        for section in sections:
            if section in obj:
                schema = self.kind.spec if section == "spec" else self.kind.status
                errors.extend(validate(schema, obj[section], section))
        if errors:
            name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName") or ""
            raise invalid(self.kind, name, errors)


__all__ = ["STRICT", "WARN", "Admission"]
