"""Parameters, headers and overrides: the value-carrying lists several kinds share.

Ark treats an empty string as "not set", so ``value: ""`` beside a ``valueFrom`` is not
"both", and ``value: ""`` alone is "neither".
"""
from __future__ import annotations

from typing import Any

from ark.kinds.admission.references import key_reference_errors
from ark.machinery import field
from ark.machinery.field import OMITTED, FieldError, Path
from ark.registry.strategy import Lookup

PARAMETER_SOURCES = ("configMapKeyRef", "secretKeyRef", "serviceRef", "queryParameterRef")


def one_value_errors(holder: dict[str, Any], path: Path) -> list[FieldError]:
    """``holder`` (at ``path``) sets exactly one of ``value`` and ``valueFrom``."""
    has_value, has_value_from = bool(holder.get("value")), holder.get("valueFrom") is not None
    if has_value and has_value_from:
        return [field.forbidden(path.child("valueFrom"), "cannot specify both value and valueFrom")]
    if not has_value and not has_value_from:
        return [field.required(path.child("value"), "must specify either value or valueFrom")]
    return []


def parameter_errors(lookup: Lookup, namespace: str, parameters: list[dict[str, Any]] | None,
                     path: Path) -> list[FieldError]:
    """Each parameter has a value or exactly one source; the Secret and ConfigMap keys it
    names exist. A serviceRef is not resolved and a queryParameterRef not followed here."""
    problems: list[FieldError] = []
    for i, parameter in enumerate(parameters or ()):
        at = path.index(i)
        found = one_value_errors(parameter, at)
        value_from = parameter.get("valueFrom")
        if not found and value_from is not None:
            found = _parameter_source_errors(lookup, namespace, value_from, at.child("valueFrom"))
        problems += found
    return problems


def _parameter_source_errors(lookup: Lookup, namespace: str, value_from: dict[str, Any],
                             path: Path) -> list[FieldError]:
    if sum(value_from.get(source) is not None for source in PARAMETER_SOURCES) != 1:
        return [field.invalid(path, OMITTED, "must specify exactly one source: " + ", ".join(PARAMETER_SOURCES))]
    service = value_from.get("serviceRef")
    if service is not None and not service.get("name"):
        return [field.required(path.child("serviceRef", "name"), "serviceRef.name cannot be empty")]
    return key_reference_errors(lookup, namespace, value_from, path)


def header_errors(headers: list[dict[str, Any]] | None, path: Path) -> list[FieldError]:
    """Each header value is given inline or from exactly one of a Secret or a ConfigMap (not
    from a query parameter). The Secrets and ConfigMaps are not looked up."""
    problems: list[FieldError] = []
    for i, header in enumerate(headers or ()):
        at = path.index(i).child("value")
        value = header.get("value") or {}
        found = one_value_errors(value, at)
        value_from = value.get("valueFrom")
        if not found and value_from is not None:
            has_secret = value_from.get("secretKeyRef") is not None
            has_config_map = value_from.get("configMapKeyRef") is not None
            if has_secret and has_config_map:
                found = [field.forbidden(at.child("valueFrom"), "cannot specify both secretKeyRef and configMapKeyRef")]
            elif not has_secret and not has_config_map:
                found = [field.required(at.child("valueFrom"), "must specify either secretKeyRef or configMapKeyRef")]
        problems += found
    return problems


def override_errors(overrides: list[dict[str, Any]] | None, path: Path) -> list[FieldError]:
    """Each override adds at least one header, each of them valid. (``resourceType`` is one of
    the schema's values; ``labelSelector`` is not checked, as in Ark.)"""
    problems: list[FieldError] = []
    for i, override in enumerate(overrides or ()):
        at = path.index(i).child("headers")
        if not override.get("headers"):
            problems.append(field.required(at, "headers list cannot be empty"))
        problems += header_errors(override.get("headers"), at)
    return problems
