"""Server-owned object metadata: what create, update and delete do to ``metadata``.

Mirrors apiserver ``pkg/registry/rest/{create,update,delete}.go`` and the CRD strategies
(``apiextensions pkg/registry/customresource``): status is owned by ``/status``, generation
moves only on spec changes, and deletion with finalizers only marks the object.
"""
from __future__ import annotations

import copy
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from ark.machinery import field as fe
from ark.machinery.field import FieldError
from ark.machinery.names import dns_label_error, label_value_error, qualified_name_error, subdomain_error

SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")
META_FIELDS = frozenset(
    (
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    )
)
OWNER_REFERENCE_FIELDS = frozenset(("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"))
ANNOTATIONS_MAX_BYTES = 256 * 1024
GC_FINALIZERS = ("orphan", "foregroundDeletion")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """RFC 3339 in whole seconds, UTC, as Kubernetes stamps times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(base: str) -> str:
    return base[:58] + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def prepare_for_create(obj: dict[str, Any]) -> None:
    """Wipe client-sent system fields and fill the server's; drop status (it has its own endpoint)."""
    meta = obj["metadata"]
    for field in (*SYSTEM_FIELDS, "resourceVersion"):
        meta.pop(field, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    meta["generation"] = 1
    obj.pop("status", None)


def _outside_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_for_update(old: dict[str, Any], new: dict[str, Any], status_only: bool) -> dict[str, Any]:
    """The object to store for an update of ``old`` with client-sent ``new``.

    Main resource: status kept from storage, generation bumped when anything else changed.
    ``/status``: only ``.status`` is taken from the request, and the managedFields the write
    computed for it.
    """
    if status_only:
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        result["metadata"]["resourceVersion"] = new["metadata"].get("resourceVersion")
        if new["metadata"].get("managedFields"):
            result["metadata"]["managedFields"] = new["metadata"]["managedFields"]
        else:
            result["metadata"].pop("managedFields", None)
        return result
    old_meta, meta = old["metadata"], new["metadata"]
    if "status" in old:
        new["status"] = old["status"]
    else:
        new.pop("status", None)
    meta["generation"] = old_meta.get("generation", 1)
    if _outside_metadata(new) != _outside_metadata(old):
        meta["generation"] += 1
    if not meta.get("uid"):
        meta["uid"] = old_meta["uid"]
    meta["creationTimestamp"] = old_meta["creationTimestamp"]
    # An update can never remove or change these once set; setting them is refused by
    # validate_update (rest.BeforeUpdate, then ValidateObjectMetaUpdate).
    if old_meta.get("deletionTimestamp"):
        meta["deletionTimestamp"] = old_meta["deletionTimestamp"]
    if old_meta.get("deletionGracePeriodSeconds") is not None and meta.get("deletionGracePeriodSeconds") is None:
        meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
    return new


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    errors = []
    for field in ("name", "namespace", "uid", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if new["metadata"].get(field) != old["metadata"].get(field):
            errors.append(fe.invalid(f"metadata.{field}", new["metadata"].get(field), "field is immutable"))
    if old["metadata"].get("deletionTimestamp"):
        added = sorted(set(new["metadata"].get("finalizers") or ()) - set(old["metadata"].get("finalizers") or ()))
        if added:
            errors.append(fe.forbidden("metadata.finalizers", "no new finalizers can be added if the object is being "
                                       f"deleted, found new finalizers {json.dumps(added)}"))
    return errors


def mark_deleting(obj: dict[str, Any], extra_finalizers: tuple[str, ...] = ()) -> bool:
    """Set deletionTimestamp on an object that must wait for finalizers; False if already set."""
    meta = obj["metadata"]
    finalizers = list(meta.get("finalizers") or ())
    for finalizer in extra_finalizers:
        if finalizer not in finalizers:
            finalizers.append(finalizer)
    if finalizers != list(meta.get("finalizers") or ()):
        meta["finalizers"] = finalizers
    if meta.get("deletionTimestamp"):
        return False
    meta["deletionTimestamp"] = now()
    meta["deletionGracePeriodSeconds"] = 0
    meta["generation"] = meta.get("generation", 1) + 1
    return True


def should_delete_on_update(obj: dict[str, Any]) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")


def _mask_trailing_dash(prefix: str) -> str:
    """A generateName prefix is checked as a name (apimachinery ``maskTrailingDash``, quirk included)."""
    return prefix[:-2] + "a" if len(prefix) > 1 and prefix.endswith("-") else prefix


def validate_object_meta(meta: Any, namespaced: bool = True) -> list[FieldError]:
    """ObjectMeta rules of apimachinery ``ValidateObjectMeta`` (name, labels, annotations...)."""
    if not isinstance(meta, dict):
        return [fe.type_invalid("metadata", fe.OMITTED, "must be of type object")]
    errors: list[FieldError] = []

    def bad(field: str, value: Any, why: str) -> None:
        errors.append(fe.invalid(field, value, why))

    generate_name = meta.get("generateName")
    if generate_name:
        why = subdomain_error(_mask_trailing_dash(generate_name)) if isinstance(generate_name, str) \
            else "must be a string"
        if why:
            bad("metadata.generateName", generate_name, why)
    name = meta.get("name")
    if not name:
        errors.append(fe.required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        bad("metadata.name", name, "must be a string")
    else:
        why = subdomain_error(name)
        if why:
            bad("metadata.name", name, why)
    namespace = meta.get("namespace")
    if namespaced and isinstance(namespace, str):
        why = dns_label_error(namespace)
        if why:
            bad("metadata.namespace", namespace, why)
    for field, kind in (("labels", "label"), ("annotations", "annotation")):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.append(fe.type_invalid(f"metadata.{field}", fe.OMITTED,
                                          "must be a map of string keys to string values"))
            continue
        for key, item in value.items():
            why = qualified_name_error(key)
            if why:
                bad(f"metadata.{field}", key, why)
            elif kind == "label":
                why = label_value_error(item)
                if why:
                    bad("metadata.labels", item, why)
        if kind == "annotation" and sum(len(k) + len(v) for k, v in value.items()) > ANNOTATIONS_MAX_BYTES:
            errors.append(fe.too_long("metadata.annotations", f"must have at most {ANNOTATIONS_MAX_BYTES} bytes"))
    finalizers = meta.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
            errors.append(fe.type_invalid("metadata.finalizers", fe.OMITTED, "must be a list of strings"))
        else:
            for i, finalizer in enumerate(finalizers):
                why = qualified_name_error(finalizer)
                if why:
                    bad(f"metadata.finalizers[{i}]", finalizer, why)
            if all(f in finalizers for f in GC_FINALIZERS):
                errors.append(fe.invalid("metadata.finalizers", list(GC_FINALIZERS),
                                         "finalizer orphan and foregroundDeletion cannot be both set"))
    owners = meta.get("ownerReferences")
    if owners is not None:
        errors.extend(_owner_reference_errors(owners))
    return errors


def _owner_reference_errors(owners: Any) -> list[FieldError]:
    if not isinstance(owners, list):
        return [fe.type_invalid("metadata.ownerReferences", fe.OMITTED, "must be a list")]
    errors = []
    controllers = 0
    for i, owner in enumerate(owners):
        path = f"metadata.ownerReferences[{i}]"
        if not isinstance(owner, dict):
            errors.append(fe.type_invalid(path, fe.OMITTED, "must be an object"))
            continue
        for field in ("apiVersion", "kind", "name", "uid"):
            if not owner.get(field) or not isinstance(owner[field], str):
                errors.append(fe.required(f"{path}.{field}"))
        for field in ("controller", "blockOwnerDeletion"):
            if field in owner and not isinstance(owner[field], bool):
                errors.append(fe.type_invalid(f"{path}.{field}", owner[field], "must be of type boolean"))
        controllers += owner.get("controller") is True
    if controllers > 1:
        errors.append(fe.invalid("metadata.ownerReferences", fe.OMITTED, "Only one reference can have Controller set "
                                 "to true"))
    return errors
