"""What is particular to a kind when it is created, updated or validated: its strategy.

This is the pattern of Kubernetes' generic registry: the :class:`~ark.registry.store.ResourceStore`
runs every write the same way for every kind and asks the kind's strategy at fixed points:

1. ``prepare_for_create`` / ``prepare_for_update``: server-owned fields (uid, generation,
   status kept apart from the main resource...);
2. ``default``: the kind's own defaults and migrations (Ark's mutating admission);
3. ``validate`` / ``validate_update``: object metadata and the schema, then ``rules`` — the
   kind's own admission rules, which may read other objects through a read-only
   :class:`Lookup` (which also carries the server's :class:`AdmissionOptions`); a reference
   to an Ark object that does not exist is a :class:`MissingReference`, which the store turns
   into a warning when the server is told to;
4. ``warnings``: texts for ``Warning`` headers.

:class:`Strategy` is the behaviour every custom resource gets (a CRD with a status
subresource); a kind module overrides ``default``, ``rules`` and ``warnings`` for what is
special about it. :class:`StatusStrategy` serves the ``/status`` subresource: only ``.status``
changes there, and no admission rule runs.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ark.machinery import field, meta
from ark.machinery.field import ErrorType, FieldError, Path

if TYPE_CHECKING:
    from ark.kinds.registry import Kind

#: The fields every object has; the rest is the kind's (``spec``/``status``, or its body).
ENVELOPE = ("apiVersion", "kind", "metadata")


class CoreObjectsUnavailable(Exception):
    """The server has no source of core objects (Secrets, ConfigMaps, Services): a rule that
    needs one is skipped, as Ark's admission is when it cannot reach the cluster."""


class CoreObjects(Protocol):
    """Where core objects come from: the server's own store in standalone mode, the cluster's
    API in delegated mode."""

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The core object (``resource`` is a plural: ``secrets``, ``configmaps``...), or None."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AdmissionOptions:
    """The server's admission settings, as the rules read them (from ``--admission-*`` and
    ``--model-allowed-*``; docs/admission.md)."""

    #: A reference to a missing Ark object is a warning instead of a rejection (for tools that
    #: apply manifests in arbitrary order).
    warn_missing_references: bool = False
    #: Private networks a model's base URL may point into (loopback and link-local never).
    model_private_networks: tuple[IPNetwork, ...] = ()
    #: When set, a model's base URL must be on one of these domains (``*.example.com`` patterns).
    model_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class MissingReference(FieldError):
    """A reference to another Ark object that does not exist: a rejection by default, a warning
    with ``AdmissionOptions.warn_missing_references``. Build it with :func:`missing_reference`."""


def missing_reference(path: Path | str, name: str, detail: str) -> MissingReference:
    return MissingReference(ErrorType.NOT_FOUND, str(path), name, detail)


class Lookup(Protocol):
    """Read-only access to other objects, for admission rules (e.g. a Query's target)."""

    @property
    def options(self) -> AdmissionOptions:
        """The server's admission settings."""

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        """The object of ``kind`` named ``namespace/name`` as committed now, or None."""

    def core(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A core object (e.g. ``secrets``), or None; raises CoreObjectsUnavailable without a source."""


def being_deleted(obj: dict[str, Any] | None) -> bool:
    return bool(obj and (obj.get("metadata") or {}).get("deletionTimestamp"))


class Strategy:
    """The generic behaviour of a custom resource with a status subresource."""

    #: PUT must carry the resourceVersion it replaces (CRDs refuse unconditional updates).
    allow_unconditional_update = False
    #: The section of the object this strategy writes and validates against the schema.
    section = "spec"
    #: The kind's rules judge its spec: an object without one is refused rather than judged.
    #: (Ark's webhooks see an empty spec there, which each of those kinds' rules refuses.)
    rules_need_spec = False

    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    # Server-owned fields -------------------------------------------------------------------

    def prepare_for_create(self, obj: dict[str, Any]) -> None:
        meta.prepare_for_create(obj)

    def prepare_for_update(self, obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """The object to store when ``obj`` replaces ``old``."""
        return meta.prepare_for_update(old, obj, status_only=False)

    def convert(self, obj: dict[str, Any]) -> None:
        """What decoding a body changes for the kind, before field ownership is recorded (a
        Secret's stringData folded into data, as kube-apiserver's conversion does)."""

    # The kind's own admission: override these -----------------------------------------------

    def default(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Defaults and migrations applied to ``obj`` before validation (create and update)."""

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        """The kind's admission rules; ``old`` is None on create."""
        return []

    def warnings(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        """Warnings for a write that is accepted (or refused: they are sent with the error too)."""
        return []

    def for_status(self) -> Strategy:
        return StatusStrategy(self)

    def for_subresource(self, name: str) -> Strategy:
        """The strategy of a subresource other than ``/status`` (a Namespace's ``/finalize``)."""
        raise KeyError(name)

    # Deletion -------------------------------------------------------------------------------

    def finalizing(self, obj: dict[str, Any]) -> bool:
        """Whether the kind itself holds ``obj`` back from removal besides metadata.finalizers
        (a Namespace until its spec.finalizers are gone)."""
        return False

    def prepare_for_delete(self, obj: dict[str, Any]) -> None:
        """What marking ``obj`` terminating changes besides metadata (a Namespace's phase)."""

    # Validation -----------------------------------------------------------------------------

    def _schema_errors(self, obj: dict[str, Any]) -> list[FieldError]:
        # Imported here: the kind modules import this one, and ark.kinds.validation loads them all.
        from ark.kinds.validation import validate as validate_schema

        errors = meta.validate_object_meta(obj.get("metadata"), self.kind.namespaced)
        if self.kind.body is not None:
            errors.extend(validate_schema(self.kind.body, {k: v for k, v in obj.items() if k not in ENVELOPE}, ""))
        elif self.section in obj:
            schema = self.kind.spec if self.section == "spec" else self.kind.status
            errors.extend(validate_schema(schema, obj[self.section], self.section))
        return errors

    def validate(self, obj: dict[str, Any], lookup: Lookup) -> list[FieldError]:
        errors = self._schema_errors(obj)
        return errors or self._admission_rules(obj, None, lookup)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any], lookup: Lookup) -> list[FieldError]:
        errors = meta.validate_update(old, obj) + self._schema_errors(obj)
        if errors or being_deleted(old):  # finishing a deletion (removing finalizers) is never refused
            return errors
        return self._admission_rules(obj, old, lookup)

    def _admission_rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        if self.rules_need_spec and "spec" not in obj:
            return [field.required("spec")]
        return self.rules(obj, old, lookup)


class StatusStrategy(Strategy):
    """``/status``: only ``.status`` is taken from the request; no defaults, no rules."""

    section = "status"

    def __init__(self, main: Strategy) -> None:
        super().__init__(main.kind)

    def prepare_for_update(self, obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        return meta.prepare_for_update(old, obj, status_only=True)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any], lookup: Lookup) -> list[FieldError]:
        return meta.validate_update(old, obj) + self._schema_errors(obj)
