"""Namespace (core v1, cluster-scoped): where namespaced objects live.

A new namespace is ``Active`` and carries the ``kubernetes`` finalizer in ``spec.finalizers``.
Deleting it marks it ``Terminating``; the namespace controller (``ark.controllers.namespaces``)
then deletes everything in it and removes the finalizer through ``/finalize``, and the
namespace goes (kube-apiserver's namespace registry and NamespaceLifecycle admission).
"""
from __future__ import annotations

import copy
from typing import Any

from marshmallow import Schema, fields

from ark.kinds.core.common import CORE_VERSION, CoreStrategy
from ark.kinds.fields import DateTime, String, enum
from ark.kinds.registry import Kind, PrinterColumn
from ark.machinery import field, meta
from ark.machinery.field import FieldError
from ark.machinery.names import dns_label_error
from ark.registry.strategy import Lookup, Strategy

KUBERNETES_FINALIZER = "kubernetes"
ACTIVE, TERMINATING = "Active", "Terminating"


class NamespaceSpec(Schema):
    """What must happen before the namespace is removed."""

    finalizers = fields.List(String(), metadata={
        "description": "Finalizers is an opaque list of values that must be empty to permanently remove object "
                       "from storage.", "x-kubernetes-list-type": "atomic"})


class NamespaceCondition(Schema):
    """One aspect of the namespace's state (e.g. NamespaceContentRemaining)."""

    lastTransitionTime = DateTime(metadata={"description": "Last time the condition transitioned."})
    message = String(metadata={"description": "Human-readable detail."})
    reason = String(metadata={"description": "Machine-readable reason."})
    status = String(required=True, metadata={"description": "True, False or Unknown."})
    type = String(required=True, metadata={"description": "Type of namespace controller condition."})


class NamespaceStatus(Schema):
    """The namespace's lifecycle phase."""

    conditions = fields.List(fields.Nested(NamespaceCondition), metadata={
        "description": "Represents the latest available observations of a namespace's current state.",
        "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"})
    phase = String(validate=[enum(ACTIVE, TERMINATING)], metadata={
        "description": "Phase is the current lifecycle phase of the namespace: Active or Terminating."})


def manifest(name: str) -> dict[str, Any]:
    """A new Namespace as a client sends it."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def finalizers(obj: dict[str, Any]) -> list[str]:
    return list((obj.get("spec") or {}).get("finalizers") or ())


def terminating(obj: dict[str, Any] | None) -> bool:
    return bool(obj) and ((obj or {}).get("status") or {}).get("phase") == TERMINATING


class NamespaceStrategy(CoreStrategy):
    """A new namespace is Active with the ``kubernetes`` finalizer; spec.finalizers change only
    through ``/finalize``; a namespace waits for them before it is removed."""

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        meta.prepare_for_create(obj)
        obj["metadata"].pop("namespace", None)
        obj["spec"] = {"finalizers": [KUBERNETES_FINALIZER]}
        obj["status"] = {"phase": ACTIVE}

    def prepare_for_update(self, obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        new = super().prepare_for_update(obj, old)
        new["spec"] = copy.deepcopy(old.get("spec") or {})
        return new

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        name = obj["metadata"].get("name") or ""
        why = dns_label_error(name)
        return [field.invalid("metadata.name", name, why)] if why else []

    def finalizing(self, obj: dict[str, Any]) -> bool:
        return bool(finalizers(obj))

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        obj.setdefault("status", {})["phase"] = TERMINATING

    def for_subresource(self, name: str) -> Strategy:
        if name != "finalize":
            raise KeyError(name)
        return FinalizeStrategy(self.kind)


class FinalizeStrategy(NamespaceStrategy):
    """``/finalize``: only spec.finalizers is taken from the request (the namespace
    controller removes ``kubernetes`` there once the namespace is empty)."""

    def prepare_for_update(self, obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        new = copy.deepcopy(old)
        new["spec"] = {"finalizers": finalizers(obj)} if finalizers(obj) else {}
        new["metadata"]["resourceVersion"] = obj["metadata"].get("resourceVersion")
        return new


KIND = Kind(
    kind="Namespace",
    plural="namespaces",
    singular="namespace",
    version=CORE_VERSION,
    group="",
    description="Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    spec=NamespaceSpec(),
    status=NamespaceStatus(),
    strategy_class=NamespaceStrategy,
    namespaced=False,
    short_names=("ns",),
    subresources=("status", "finalize"),
    field_labels=("status.phase",),
    printer_columns=(
        PrinterColumn("Status", "string", ".status.phase", "The phase of the namespace"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
