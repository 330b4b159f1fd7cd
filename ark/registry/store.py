"""The generic resource store: every verb, the same way for every kind (Kubernetes' generic
registry store is the model).

It sits between the views and :class:`~ark.storage.store.Store` and owns what a write means:
the kind's strategy at the right points, dry-run (everything runs, nothing is written), the
write outcomes (created, updated, unchanged, deleted) and the translation of storage failures
into Kubernetes Status errors.

Updates and deletes run an **optimistic loop**: read the object and its resourceVersion, work
out the new object outside any transaction (the transform and admission may read other
objects), then commit only if the row still has that resourceVersion. A lost race is retried
from a fresh read. A client that sent a resourceVersion gets 409 Conflict when it is not the
current one — on the first attempt or on a retry, so no update is ever lost or applied to a
state the client did not see.
"""
from __future__ import annotations

import builtins
import copy
import dataclasses
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ark.kinds.registry import Kind
from ark.machinery import codec, errors, managedfields, meta, pagination, selectors
from ark.machinery import field as fe
from ark.machinery.errors import ApiError
from ark.machinery.options import EXACT, DeleteOptions, ListOptions, parse_resource_version
from ark.registry.strategy import AdmissionOptions, CoreObjects, CoreObjectsUnavailable, MissingReference, Strategy
from ark.storage.store import (
    DELETED,
    Compacted,
    Delete,
    KeyExists,
    ListQuery,
    ObjectTooLarge,
    Outcome,
    Page,
    Stale,
    StorageUnavailable,
    Store,
    Stored,
    Write,
)

MAX_ATTEMPTS = 64  # lost races retried before answering 409; each retry means another writer won
GENERATE_NAME_ATTEMPTS = 8
MAX_PAGE = 1_000_000  # a larger limit means "everything" in practice, and keeps SQL LIMIT in range
TOO_NEW_WAIT_SECONDS = 3.0  # "not older than" a revision not reached yet: kube-apiserver's cache waits 3 s

#: What an update does to the current object: returns the object the client wants stored.
Transform = Callable[[dict[str, Any]], dict[str, Any]]


CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def _comparable(obj: dict[str, Any], keep_managed: bool) -> dict[str, Any]:
    """``obj`` without what a copy never carries over (its resourceVersion; managedFields
    unless the copy brings its own)."""
    metadata = {k: v for k, v in obj["metadata"].items()
                if k != "resourceVersion" and (keep_managed or k != "managedFields")}
    return {**obj, "metadata": metadata}


def _with_identity(obj: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``obj`` with the uid, creationTimestamp and generation it lacks (a manifest that
    never was stored): the stored object's, its generation moved on if the spec changed, else new."""
    new = copy.deepcopy(obj)
    metadata = new["metadata"]
    if current is None:
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", meta.now())
        metadata.setdefault("generation", 1)
        return new
    stored = current["metadata"]
    metadata.setdefault("uid", stored["uid"])
    metadata.setdefault("creationTimestamp", stored["creationTimestamp"])
    if "generation" not in metadata:
        metadata["generation"] = stored.get("generation", 1) + (new.get("spec") != current.get("spec"))
    return new


def _attempts() -> Iterator[int]:
    """The attempts of an optimistic loop: after two lost races, wait a random moment (at most
    20 ms, growing) before reading again, so that writers hammering one object take turns."""
    for attempt in range(MAX_ATTEMPTS):
        if attempt >= 2:
            time.sleep(random.uniform(0, min(0.02, 0.001 * 2**attempt)))  # gevent's sleep in the workers
        yield attempt


@contextmanager
def storage_errors() -> Iterator[None]:
    """An unreachable or busy database becomes 503 ServiceUnavailable with Retry-After."""
    try:
        yield
    except StorageUnavailable as err:
        raise errors.service_unavailable(f"the storage is unavailable, please retry: {err}") from None


@dataclass
class WriteContext:
    """One request's view of a write: dry-run, and where its warnings go."""

    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """The outcome of a write, for the response."""

    obj: dict[str, Any]
    body: str
    created: bool = False  # answered 201
    deleted: bool = False  # the object is gone (answered with a Status)


class StoreLookup:
    """The :class:`~ark.registry.strategy.Lookup` admission rules read other objects through."""

    def __init__(self, store: Store, core: CoreObjects | None = None,
                 options: AdmissionOptions | None = None) -> None:
        self.store = store
        self.core_objects = core
        self.options = options or AdmissionOptions()

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        with storage_errors():
            stored = self.store.read(kind.resource, namespace, name)
        return None if stored is None else stored.obj()

    def core(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        if self.core_objects is None:
            raise CoreObjectsUnavailable(resource)
        return self.core_objects.get(resource, namespace, name)


class NamespaceTerminating(Exception):
    """Raised by a NamespaceLifecycle for a namespace being deleted: the store answers with
    kube-apiserver's 403 for the object being created, which only it knows."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.namespace = namespace


class NamespaceLifecycle(Protocol):
    """Whether objects may be created in a namespace (kube-apiserver's NamespaceLifecycle)."""

    def check_create(self, namespace: str) -> None:
        """Raise when nothing may be created in ``namespace``: the ApiError kube-apiserver
        answers for a missing one (``errors.namespace_not_found``, 404), NamespaceTerminating
        for one being deleted (the store makes it the 403 naming the object)."""


class ResourceStore:
    def __init__(self, store: Store, core: CoreObjects | None = None,
                 namespaces: NamespaceLifecycle | None = None, admission: AdmissionOptions | None = None) -> None:
        self.store = store
        self.lookup = StoreLookup(store, core, admission)
        self.namespaces = namespaces

    # Reads ----------------------------------------------------------------------------------

    def current_revision(self) -> int:
        with storage_errors():
            return self.store.revisions()[0]

    def wait_not_older_than(self, wanted: int) -> int:
        """"Not older than N" with N ahead of the store: wait at most 3 s, then 504 Timeout.
        Returns the store's revision."""
        with storage_errors():
            current = self.store.wait_for_revision(wanted, TOO_NEW_WAIT_SECONDS)
        if current < wanted:
            raise errors.too_large_resource_version(wanted, current)
        return current

    def get(self, kind: Kind, namespace: str, name: str, resource_version: str = "") -> str:
        """The stored JSON text of one object (404 when there is none)."""
        if resource_version and resource_version != "0":
            self.wait_not_older_than(parse_resource_version(resource_version))
        with storage_errors():
            body = self.store.get(kind.resource, namespace, name)
        if body is None:
            raise errors.not_found(kind, name)
        return body

    def list(self, kind: Kind, namespace: str | None, options: ListOptions) -> Page:
        """One page, with Kubernetes' resourceVersion, limit and continue semantics."""
        at, after = None, None
        limit = min(options.limit, MAX_PAGE) if options.limit > 0 else None  # zero or negative: no limit
        if options.continue_token:
            if options.resource_version not in ("", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            at, after = pagination.decode(options.continue_token)
        elif options.resource_version not in ("", "0"):
            wanted = parse_resource_version(options.resource_version)
            current = self.wait_not_older_than(wanted)
            match = options.resource_version_match
            if match == EXACT or (not match and limit is not None):
                at = wanted if wanted != current else None
        keyed, other = selectors.split_fields(options.field_selector)
        query = ListQuery(kind.resource, namespace, options.label_selector, keyed, limit, at, after)
        try:
            with storage_errors():
                return self._filtered(query, other) if other else self.store.list(query)
        except Compacted as err:
            if options.continue_token:
                raise errors.expired("The provided continue parameter is too old to display a consistent list "
                                     "result. You can start a new list without the continue parameter.") from None
            raise errors.expired(f"too old resource version: {err.requested} ({err.floor})") from None

    def _filtered(self, query: ListQuery, fields: tuple[selectors.FieldRequirement, ...]) -> Page:
        """A page of the objects that also match field labels SQL does not hold (an Event's
        ``involvedObject.name``): pages of the store read at one revision and filtered, until
        the limit is filled, so limit and continue keep their meaning."""
        items: builtins.list[str] = []
        while True:
            page = self.store.list(query)
            for body in page.items:
                if selectors.object_matches_fields(fields, codec.loads(body)):
                    items.append(body)
            if page.next_key is None or (query.limit is not None and len(items) >= query.limit):
                break
            query = dataclasses.replace(query, at_revision=page.rv, after=page.next_key)
        next_key = page.next_key
        if query.limit is not None and len(items) > query.limit:
            items = items[: query.limit]
            obj = codec.loads(items[-1])["metadata"]
            next_key = (obj.get("namespace") or "", obj["name"])
        return Page(items, page.rv, next_key)

    # Writes ---------------------------------------------------------------------------------

    def _commit(self, kind: Kind, namespace: str, name: str, outcome: Outcome, read: Stored | None) -> Written:
        try:
            with storage_errors():
                result = self.store.commit(kind.resource, namespace, name, outcome, read)
        except ObjectTooLarge as err:
            raise errors.object_too_large(err.size, err.limit) from None
        return Written(result.obj, result.body, created=read is None, deleted=result.event == DELETED)

    def create(self, kind: Kind, namespace: str, obj: dict[str, Any], ctx: WriteContext) -> Written:
        if self.namespaces is not None:
            try:
                self.namespaces.check_create(namespace)
            except NamespaceTerminating as err:
                raise errors.namespace_terminating(kind, obj["metadata"].get("name") or "", err.namespace) from None
        strategy = kind.strategy
        strategy.prepare_for_create(obj)
        metadata = obj["metadata"]
        generate = not metadata.get("name") and metadata.get("generateName")
        if generate:
            metadata["name"] = meta.generate_name(metadata["generateName"])
        strategy.default(obj, None)
        ctx.warnings.extend(strategy.warnings(obj, None))
        self._admit(kind, metadata.get("name") or metadata.get("generateName") or "",
                    strategy.validate(obj, self.lookup), ctx.warnings)
        if ctx.dry_run:  # as kube-apiserver's dry-run storage: everything but the write, the name check included
            with storage_errors():
                taken = self.store.read(kind.resource, namespace, metadata["name"]) is not None
            if taken:
                raise errors.already_exists(kind, metadata["name"])
            return Written(obj, codec.dumps(obj), created=True)
        for _attempt in range(GENERATE_NAME_ATTEMPTS if generate else 1):
            try:
                return self._commit(kind, namespace, metadata["name"], Write(obj), None)
            except KeyExists:
                if generate:
                    metadata["name"] = meta.generate_name(metadata["generateName"])
        raise errors.already_exists(kind, metadata["name"], generated=bool(generate))

    def update(self, kind: Kind, namespace: str, name: str, transform: Transform, ctx: WriteContext, *,
               status: bool = False, create: Callable[[], dict[str, Any]] | None = None,
               strategy: Strategy | None = None) -> Written:
        """Replace the object by ``transform(current)``; ``create`` makes the object when it is
        missing (server-side apply), else a missing object is 404. ``strategy`` is a
        subresource's other than ``/status`` (a Namespace's ``/finalize``)."""
        strategy = strategy or (kind.status_strategy if status else kind.strategy)
        warnings: list[str] = []
        try:
            for _attempt in _attempts():
                with storage_errors():
                    stored = self.store.read(kind.resource, namespace, name)
                if stored is None:
                    if create is None:
                        raise errors.not_found(kind, name)
                    try:
                        return self.create(kind, namespace, create(), ctx)
                    except ApiError as err:
                        if err.reason != "AlreadyExists":
                            raise
                        continue  # created meanwhile by someone else: update it
                current = stored.obj()
                new = self._replacement(strategy, stored, current, transform(stored.obj()))
                warnings = strategy.warnings(new, current)
                self._admit(kind, name, strategy.validate_update(new, current, self.lookup), warnings)
                if new == current:
                    return Written(current, stored.body)
                finished = meta.should_delete_on_update(new) and not kind.strategy.finalizing(new)
                outcome: Outcome = Delete(new) if finished else Write(new)
                if ctx.dry_run:
                    return Written(new, codec.dumps(new), deleted=isinstance(outcome, Delete))
                try:
                    return self._commit(kind, namespace, name, outcome, stored)
                except Stale:
                    continue
        finally:
            ctx.warnings.extend(warnings)
        raise errors.conflict(kind, name, errors.STALE_OBJECT)

    # Copies from elsewhere (ark.adoption) ----------------------------------------------------

    def restore(self, kind: Kind, namespace: str, obj: dict[str, Any], manager: str) -> str:
        """Store ``obj`` as copied from another server: uid, creationTimestamp, generation,
        status and finalizers as given, a fresh resourceVersion; managedFields as given, else
        recorded for ``manager`` as a write through the API would. Returns CREATED, UPDATED or
        UNCHANGED (the stored object already is ``obj``: nothing is written, no revision used).
        Admission does not run here: :meth:`admission_problems` reports on it."""
        name = obj["metadata"]["name"]
        for _attempt in _attempts():
            with storage_errors():
                stored = self.store.read(kind.resource, namespace, name)
            current = stored.obj() if stored is not None else None
            new = _with_identity(obj, current)
            if current is not None and _comparable(current, keep_managed="managedFields" in new["metadata"]) \
                    == _comparable(new, keep_managed=True):
                return UNCHANGED
            if "managedFields" not in new["metadata"]:
                entries = managedfields.update(kind, current, new, manager, meta.now())
                if entries:
                    new["metadata"]["managedFields"] = entries
            try:
                self._commit(kind, namespace, name, Write(new), stored)
            except (KeyExists, Stale):
                continue
            return CREATED if stored is None else UPDATED
        raise errors.conflict(kind, name, errors.STALE_OBJECT)

    def admission_problems(self, kind: Kind, obj: dict[str, Any]) -> builtins.list[str]:
        """What admission would refuse in ``obj`` were it created now, without refusing it:
        the kind's defaults and rules run on a copy, against the objects stored now."""
        candidate = copy.deepcopy(obj)
        kind.strategy.default(candidate, None)
        problems = kind.strategy.validate(candidate, self.lookup)
        return [str(problem) for problem in problems]

    def _admit(self, kind: Kind, name: str, problems: builtins.list[fe.FieldError],
               warnings: builtins.list[str]) -> None:
        """Refuse the write with one 422 listing every problem; references to missing Ark
        objects are warnings instead when the server is told so (``--admission-references warn``)."""
        if self.lookup.options.warn_missing_references:
            warnings.extend(str(p) for p in problems if isinstance(p, MissingReference))
            problems = [p for p in problems if not isinstance(p, MissingReference)]
        if problems:
            raise errors.invalid(kind, name, problems)

    @staticmethod
    def _replacement(strategy: Strategy, stored: Stored, current: dict[str, Any],
                     new: dict[str, Any]) -> dict[str, Any]:
        """``new`` made ready to replace ``current``: the resourceVersion precondition checked,
        server-owned fields and the kind's defaults applied."""
        kind, name = strategy.kind, current["metadata"]["name"]
        sent_rv = new["metadata"].get("resourceVersion")
        if sent_rv:
            if str(sent_rv) != str(stored.rv):
                raise errors.conflict(kind, name, errors.STALE_OBJECT)
        elif not strategy.allow_unconditional_update:
            raise errors.invalid(kind, name, [fe.invalid("metadata.resourceVersion", fe.Verbatim("0x0"),
                                                         "must be specified for an update")])
        new = strategy.prepare_for_update(new, current)
        strategy.default(new, current)
        new["metadata"]["resourceVersion"] = str(stored.rv)
        return new

    def delete(self, kind: Kind, namespace: str, name: str, options: DeleteOptions) -> Written:
        """Delete now, or mark the object terminating while finalizers remain."""
        for _attempt in _attempts():
            with storage_errors():
                stored = self.store.read(kind.resource, namespace, name)
            if stored is None:
                raise errors.not_found(kind, name)
            current = stored.obj()
            self._check_preconditions(kind, name, current, options)
            outcome: Outcome
            if current["metadata"].get("finalizers") or options.gc_finalizers or kind.strategy.finalizing(current):
                marked = stored.obj()
                changed = meta.mark_deleting(marked, options.gc_finalizers)
                kind.strategy.prepare_for_delete(marked)
                if options.dry_run or (not changed and marked == current):
                    return Written(marked, codec.dumps(marked))
                outcome = Write(marked)
            else:
                if options.dry_run:
                    return Written(current, stored.body, deleted=True)
                outcome = Delete(current)
            try:
                return self._commit(kind, namespace, name, outcome, stored)
            except Stale:
                continue
        raise errors.conflict(kind, name, errors.STALE_OBJECT)

    @staticmethod
    def _check_preconditions(kind: Kind, name: str, current: dict[str, Any], options: DeleteOptions) -> None:
        uid, rv = options.precondition_uid, options.precondition_resource_version
        actual_uid, actual_rv = current["metadata"]["uid"], current["metadata"]["resourceVersion"]
        if uid and uid != actual_uid:
            raise errors.conflict(kind, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                                              f"{actual_uid}")
        if rv and str(rv) != actual_rv:
            raise errors.conflict(kind, name, f"Precondition failed: ResourceVersion in precondition: {rv}, "
                                              f"ResourceVersion in object meta: {actual_rv}")

    def delete_collection(self, kind: Kind, namespace: str, selection: ListOptions,
                          options: DeleteOptions) -> tuple[builtins.list[dict[str, Any]], int]:
        """Delete every object the selectors match; returns them and the revision after."""
        page = self.list(kind, namespace, ListOptions(selection.label_selector, selection.field_selector))
        deleted = []
        for body in page.items:
            name = codec.loads(body)["metadata"]["name"]
            try:
                deleted.append(self.delete(kind, namespace, name, options).obj)
            except ApiError as err:
                if err.code != 404:  # a 404 was deleted meanwhile by someone else: nothing left to do
                    raise
        return deleted, self.current_revision()
