"""The kind descriptor and the registry every API area reads.

A kind is described once, declaratively; discovery, OpenAPI, validation, defaulting and
Table output all derive from its :class:`Kind`, and its strategy says what is special about
writing it. Nothing here touches Flask or SQL.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from marshmallow import Schema, fields

if TYPE_CHECKING:
    from ark.registry.strategy import Strategy

GROUP = "ark.mckinsey.com"
#: Every Ark kind is in the ``ark`` category, so ``kubectl get ark`` lists them all (the
#: upstream CRDs define no category: a small step beyond them).
CATEGORIES = ("ark",)


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry of the kind's CRD."""

    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    """Everything that is particular to one Ark kind; the generic machinery does the rest."""

    kind: str
    plural: str
    singular: str
    version: str
    description: str
    spec: Schema
    status: Schema
    #: How objects of the kind are created, updated and validated (``ark.registry.strategy``).
    strategy_class: type[Strategy]
    printer_columns: tuple[PrinterColumn, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    spec_required: bool = False
    group: str = GROUP
    #: False for a cluster-scoped kind (core Namespaces): its objects are stored with namespace "".
    namespaced: bool = True
    #: The top-level fields besides apiVersion, kind and metadata, for a kind that has no
    #: spec and status (core Secrets, ConfigMaps, Events); None means ``spec`` and ``status``.
    body: Schema | None = None
    #: Subresources served besides the main resource (``status``: written by ``/status`` only).
    subresources: tuple[str, ...] = ("status",)
    #: Field selector labels beyond metadata.name and metadata.namespace (core Events'
    #: ``involvedObject.name``...), matched on the stored object.
    field_labels: tuple[str, ...] = ()

    @cached_property
    def strategy(self) -> Strategy:
        return self.strategy_class(self)

    @cached_property
    def status_strategy(self) -> Strategy:
        """The strategy of the ``/status`` subresource."""
        return self.strategy.for_status()

    @cached_property
    def top_level(self) -> Schema:
        """The object's fields besides apiVersion, kind and metadata, as one schema (what the
        codec prunes and defaults, and field ownership walks)."""
        if self.body is not None:
            return self.body
        return Schema.from_dict({"spec": fields.Nested(self.spec), "status": fields.Nested(self.status)},
                                name=f"{self.kind}TopLevel")()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def api_version(self) -> str:
        """``group/version``; just the version for the core group (``v1``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def resource(self) -> str:
        """``plural.group`` (``plural`` for the core group): the name Kubernetes messages use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Kind.group`` (``Kind`` for the core group): the name Invalid messages use."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def storage_version_hash(self) -> str:
        digest = hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    @property
    def table_columns(self) -> tuple[PrinterColumn, ...]:
        """Printer columns, with the default Age column a CRD without columns gets."""
        if self.printer_columns:
            return self.printer_columns
        return (PrinterColumn("Age", "date", ".metadata.creationTimestamp"),)


@dataclass
class Registry:
    """All served kinds, looked up by (version, plural) as the URL names them."""

    kinds: list[Kind] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_path = {(k.version, k.plural): k for k in self.kinds}

    def lookup(self, version: str, plural: str) -> Kind | None:
        return self._by_path.get((version, plural))

    def versions(self) -> list[str]:
        """Served versions, preferred first (v1alpha1 outranks v1prealpha1)."""
        seen: list[str] = []
        for kind in self.kinds:
            if kind.version not in seen:
                seen.append(kind.version)
        return sorted(seen, key=lambda v: (v != "v1alpha1", v))

    def in_version(self, version: str) -> list[Kind]:
        return sorted((k for k in self.kinds if k.version == version), key=lambda k: k.plural)

    def __iter__(self) -> Iterator[Kind]:
        return iter(self.kinds)
