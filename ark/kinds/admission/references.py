"""References from one object to another, and value sources resolved to their string.

* An **Ark object** a rule names (a Query's target, a Team's members...) must exist in the
  referring object's namespace unless the rule says otherwise; a missing one is a
  :class:`~ark.registry.strategy.MissingReference`, which ``--admission-references warn`` turns
  into a warning.
* **Secrets, ConfigMaps and Services** are read through the lookup's core-object source: the
  server's own store in standalone mode (Secrets and ConfigMaps), the cluster in delegated mode.
  A missing Secret or ConfigMap, or key, is a MissingReference too (``--admission-references
  warn`` applies); a check whose source is unavailable (Services in standalone mode) is
  skipped without error, as Ark's own admission does when it cannot reach the cluster.
* A value source is either only *reference-checked* (the Secret or ConfigMap key it names
  exists; used for credentials, whose values admission never needs) or *resolved* to the
  string it stands for (used for addresses, which must then be checked further).
"""
from __future__ import annotations

import base64
import binascii
import posixpath
from typing import TYPE_CHECKING, Any

from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import CoreObjectsUnavailable, Lookup, missing_reference

if TYPE_CHECKING:
    from ark.kinds.registry import Kind

#: The key references of a valueFrom: the core resource each reads, and its name in messages.
KEY_REFERENCES = {"secretKeyRef": ("secrets", "secret"), "configMapKeyRef": ("configmaps", "configMap")}

#: The outcome of resolving a value source: the string, or None when it cannot be known here
#: (a Secret, ConfigMap or Service the server cannot read), and the problems found.
Resolution = tuple[str | None, list[FieldError]]


def missing(kind: Kind, namespace: str, name: str, path: Path, context: str = "") -> FieldError:
    """The rejection of a reference to ``kind`` ``name`` that does not exist in ``namespace``;
    ``context`` says what refers to it (e.g. ``"target references "``)."""
    return missing_reference(path, name, f"{context}{kind.singular} '{name}' does not exist in namespace '{namespace}'")


def require(lookup: Lookup, kind: Kind, namespace: str, name: str, path: Path, context: str = "") -> list[FieldError]:
    """The referenced Ark object must exist (an empty name is not checked, as in Ark)."""
    if not name or lookup.get(kind, namespace, name) is not None:
        return []
    return [missing(kind, namespace, name, path, context)]


def _key_value(lookup: Lookup, namespace: str, ref_field: str, ref: dict[str, Any], path: Path, *,
               resolving: bool) -> Resolution:
    """The value behind a ``secretKeyRef`` / ``configMapKeyRef``. Only ``data`` counts (a
    ConfigMap's ``binaryData`` does not), and ``optional`` is ignored, as in Ark. A reference
    without a name or key is only refused when the value is needed (``resolving``)."""
    resource, noun = KEY_REFERENCES[ref_field]
    name, key = ref.get("name") or "", ref.get("key") or ""
    if not name and resolving:
        return None, [field.required(path.child("name"), f"{noun} name is required")]
    if not name or (not key and not resolving):
        return None, []
    try:
        found = lookup.core(resource, namespace, name)
    except CoreObjectsUnavailable:
        return None, []
    if found is None:
        return None, [missing_reference(path.child("name"), name,
                                        f"{noun} '{name}' does not exist in namespace '{namespace}'")]
    data = found.get("data") or {}
    if key not in data:
        return None, [missing_reference(path.child("key"), key,
                                        f"key '{key}' not found in {noun} '{name}' in namespace '{namespace}'")]
    return (_decoded(data[key]) if resource == "secrets" else str(data[key])), []


def _decoded(secret_value: Any) -> str | None:
    """A Secret's ``data`` value is base64 (None if it is not: then nothing can be said about it)."""
    try:
        return base64.b64decode(str(secret_value), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def key_reference_errors(lookup: Lookup, namespace: str, value_from: dict[str, Any] | None,
                         path: Path) -> list[FieldError]:
    """The Secret and ConfigMap keys a ``valueFrom`` names exist (``path`` is the valueFrom's)."""
    problems: list[FieldError] = []
    for ref_field in KEY_REFERENCES:
        ref = (value_from or {}).get(ref_field)
        if ref is not None:
            problems += _key_value(lookup, namespace, ref_field, ref, path.child(ref_field), resolving=False)[1]
    return problems


def value_source_errors(lookup: Lookup, namespace: str, source: dict[str, Any] | None,
                        path: Path) -> list[FieldError]:
    """Reference check of a value source: a plain ``value`` is not looked at, and ``value`` with
    ``valueFrom`` is not an error here (the value wins when it is used)."""
    if not source:
        return []
    return key_reference_errors(lookup, namespace, source.get("valueFrom"), path.child("valueFrom"))


def resolve(lookup: Lookup, namespace: str, source: dict[str, Any], path: Path) -> Resolution:
    """The string a value source stands for: its ``value`` if not empty, else the first of its
    ``secretKeyRef``, ``configMapKeyRef`` and ``serviceRef`` that is set."""
    if source.get("value"):
        return source["value"], []
    value_from = source.get("valueFrom")
    if value_from is None:
        return None, [field.required(path.child("value"), "must specify either value or valueFrom")]
    for ref_field in KEY_REFERENCES:
        if value_from.get(ref_field) is not None:
            return _key_value(lookup, namespace, ref_field, value_from[ref_field],
                              path.child("valueFrom", ref_field), resolving=True)
    if value_from.get("serviceRef") is not None:
        return _service_url(lookup, namespace, value_from["serviceRef"], path.child("valueFrom", "serviceRef"))
    return None, [field.required(path.child("valueFrom"),
                                 "no valid valueFrom source: set secretKeyRef, configMapKeyRef or serviceRef")]


def _service_url(lookup: Lookup, namespace: str, ref: dict[str, Any], path: Path) -> Resolution:
    """``http://<service>.<namespace>.svc.cluster.local:<port><path>``. The Service must exist;
    ``port`` names one of its ports (the first one when unset)."""
    name = ref.get("name") or ""
    service_namespace = ref.get("namespace") or namespace
    if not name:
        return None, [field.required(path.child("name"), "service name is required")]
    try:
        service = lookup.core("services", service_namespace, name)
    except CoreObjectsUnavailable:
        return None, []
    if service is None:
        return None, [field.not_found(path.child("name"), name,
                                      f"service '{name}' does not exist in namespace '{service_namespace}'")]
    ports = (service.get("spec") or {}).get("ports") or []
    wanted = ref.get("port") or ""
    chosen = next((p for p in ports if p.get("name") == wanted), None) if wanted else (ports[0] if ports else None)
    if chosen is None:
        if wanted:
            return None, [field.not_found(path.child("port"), wanted, f"port '{wanted}' not found in service "
                                                                      f"'{name}' in namespace '{service_namespace}'")]
        return None, [field.invalid(path.child("name"), name,
                                    f"service '{name}' in namespace '{service_namespace}' has no ports")]
    url = f"http://{name}.{service_namespace}.svc.cluster.local:{chosen.get('port')}"
    suffix = ref.get("path") or ""
    return (url + "/" + posixpath.normpath("/" + suffix).lstrip("/") if suffix else url), []
