"""``python -m ark import``: Ark objects from manifests or a cluster into the database.

The run has four steps, in this order:

1. **check** every document (:mod:`ark.adoption.documents`): one bad document and nothing is
   written; the caller reports each problem by file and index;
2. **write** each object through the registry (:meth:`ResourceStore.restore`: one atomic write
   per object, after the Namespaces they go into where those are missing; its uid,
   creationTimestamp, status and finalizers kept, a fresh resourceVersion);
   an object already stored exactly so is left alone, so a second run writes nothing;
3. **prune** (when asked): objects of the imported kinds and namespaces (within the label
   selector read with) that the source no longer has are deleted as a client's delete would
   (finalizers first mark them);
4. **admission, report-only**: each imported object is judged by its kind's admission rules
   against everything imported, so the order of the documents does not matter; what would be
   refused is listed with the reasons, and stays imported.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from ark.adoption.documents import Batch
from ark.adoption.progress import Progress
from ark.adoption.sources import Selection, database_lister
from ark.kinds.core import namespace as namespace_kind
from ark.kinds.registry import Kind
from ark.machinery.errors import ApiError
from ark.machinery.options import DeleteOptions
from ark.registry.store import CREATED, UNCHANGED, UPDATED, ResourceStore, WriteContext

MANAGER = "ark-import"
PRUNED = "pruned"


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    warnings: int = 0


@dataclass
class Report:
    """What an import did, per kind (plural), and what admission would have refused."""

    kinds: dict[str, Tally] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def tally(self, kind: Kind) -> Tally:
        return self.kinds.setdefault(kind.plural, Tally())

    def count(self, kind: Kind, outcome: str) -> None:
        tally = self.tally(kind)
        setattr(tally, outcome, getattr(tally, outcome) + 1)

    def summary(self) -> str:
        """A table: one row per kind, then the total."""
        columns = ("created", "updated", "unchanged", "pruned", "warnings")
        rows = [(plural, *(getattr(t, c) for c in columns)) for plural, t in sorted(self.kinds.items())
                if any(getattr(t, c) for c in columns)]  # kinds the run had nothing of are left out
        rows.append(("total", *(sum(getattr(t, c) for t in self.kinds.values()) for c in columns)))
        header = ("KIND", "CREATED", "UPDATED", "UNCHANGED", "PRUNED", "ADMISSION-WARNINGS")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                         for row in [header, *rows])


@dataclass(frozen=True)
class PruneScope:
    """What an import speaks for: per kind, the namespaces the source covered (None: all of
    them), and the label selector the source was read with (objects outside it are not its own)."""

    namespaces: Mapping[Kind, frozenset[str] | None]
    label_selector: str = ""


def prune_scope(batch: Batch, kinds: list[Kind], namespace: str | None, whole_source: bool,
                label_selector: str = "") -> PruneScope:
    """A cluster (``whole_source``) speaks for every namespace of every kind read; files only
    for the kinds and namespaces they contain."""
    if namespace is not None:
        return PruneScope({kind: frozenset((namespace,)) for kind in kinds}, label_selector)
    if whole_source:
        return PruneScope(dict.fromkeys(kinds), label_selector)
    scope: dict[Kind, set[str]] = {}
    for entry in batch.entries:
        scope.setdefault(entry.kind, set()).add(entry.namespace)
    return PruneScope({kind: frozenset(namespaces) for kind, namespaces in scope.items()}, label_selector)


class Importer:
    def __init__(self, resources: ResourceStore, stream: TextIO | None = None) -> None:
        self.resources = resources
        self.stream = stream

    def run(self, batch: Batch, prune: PruneScope | None = None) -> Report:
        """Steps 2 to 4 for a batch without problems (step 1 is the caller's)."""
        if batch.problems:
            raise ValueError("a batch with problems must not be imported")
        report = Report()
        self._namespaces(batch)
        progress = Progress("objects written", len(batch.entries), self.stream)
        for entry in batch.entries:
            outcome = self.resources.restore(entry.kind, entry.namespace, entry.obj, MANAGER)
            report.count(entry.kind, outcome)
            progress.advance()
        progress.finish()
        if prune:
            self._prune(batch, prune, report)
        progress = Progress("objects checked by admission", len(batch.entries), self.stream)
        for entry in batch.entries:
            problems = [f"{p} (pruned: the schema has no such field)" for p in entry.pruned]
            try:
                problems += self.resources.admission_problems(entry.kind, entry.obj)
            except ApiError as err:  # a rule could not look something up (the cluster is unreachable)
                problems.append(f"admission could not judge it: {err.message}")
            if problems:
                report.tally(entry.kind).warnings += 1
                report.warnings.append(f"{entry.kind.plural} {entry.namespace}/{entry.name} ({entry.where()}): "
                                       + "; ".join(problems))
            progress.advance()
        progress.finish()
        return report

    def _namespaces(self, batch: Batch) -> None:
        """The Namespaces the objects go into, where they are missing: a server in standalone mode
        creates nothing in a namespace that does not exist (in delegated mode they go unused)."""
        kind = namespace_kind.KIND
        for name in sorted({entry.namespace for entry in batch.entries if entry.namespace}):
            if self.resources.lookup.get(kind, "", name) is None:
                try:
                    self.resources.create(kind, "", namespace_kind.manifest(name), WriteContext())
                except ApiError as err:
                    if err.reason != "AlreadyExists":  # created meanwhile (a server, another import): fine
                        raise

    def _prune(self, batch: Batch, scope: PruneScope, report: Report) -> None:
        keep = {(e.kind.resource, e.namespace, e.name) for e in batch.entries}
        lister = database_lister(self.resources.store)
        for kind, namespaces in scope.namespaces.items():
            report.tally(kind)
            for namespace in sorted(namespaces) if namespaces is not None else [None]:
                for obj in list(lister(kind, Selection((kind,), namespace, scope.label_selector))):
                    metadata = obj["metadata"]
                    if (kind.resource, metadata["namespace"], metadata["name"]) in keep:
                        continue
                    try:
                        self.resources.delete(kind, metadata["namespace"], metadata["name"], DeleteOptions())
                    except ApiError as err:
                        if err.code != 404:  # deleted meanwhile: nothing left to prune
                            raise
                    report.count(kind, PRUNED)


__all__ = ["CREATED", "MANAGER", "UNCHANGED", "UPDATED", "Importer", "PruneScope", "Report", "prune_scope"]
