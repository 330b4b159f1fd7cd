"""The Store: every read and write of Ark objects, on SQLite or PostgreSQL.

Reads see committed state and take no lock. A write is one short transaction that commits one
outcome for one object *if the object is still what its caller read*: a create only if the name
is free (``KeyExists`` otherwise), an update or delete only if the row still has the
resourceVersion the caller read (``Stale`` otherwise). Deciding what to write happens outside the
transaction, in the registry layer's optimistic loop, so admission may read other objects and no
greenlet waits on the database while it holds the write lock.

Inside the transaction the global revision counter is bumped, and the object, its labels and its
change-log row are written together, so revision order is commit order.
"""
from __future__ import annotations

import builtins
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import and_, delete, exists, false, func, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ark.machinery import selectors
from ark.machinery.codec import dumps, loads
from ark.storage.dialects import Dialect, RowWrite, dialect_of
from ark.storage.tables import changes, labels, objects, revision

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
#: A body's size is checked before its revision is known: the revision counts as this many digits.
REVISION_DIGITS = 19
#: The most writes one group commit takes (the others wait for the next).
GROUP_LIMIT = 64
T = TypeVar("T")


class KeyExists(Exception):
    """A create found the name taken (possibly by a create that committed a moment earlier)."""


class Stale(Exception):
    """An update or delete found the object changed (or gone) since its caller read it."""


class ObjectTooLarge(Exception):
    """The encoded object is larger than the store takes (etcd's "request is too large")."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the object takes {size} bytes, limit is {limit}")
        self.size = size
        self.limit = limit


class StorageUnavailable(Exception):
    """The database cannot serve now (down, unreachable, or its write lock is held too long)."""


class Compacted(Exception):
    """The requested revision is older than the retained history."""

    def __init__(self, requested: int, floor: int) -> None:
        super().__init__(f"revision {requested} is compacted (floor {floor})")
        self.requested = requested
        self.floor = floor


def history_complete_after(rv: int, floor: int) -> bool:
    """Whether the change log still holds every change after revision ``rv``.

    Compaction removes the changes below ``floor``, so the changes after ``floor - 1`` are all
    kept. This is the one rule behind every 410 Expired (lists, watches, the feed).
    """
    return rv >= floor - 1


@dataclass(frozen=True)
class Stored:
    """An object as read: its stored JSON text and its resourceVersion."""

    body: str
    rv: int

    def obj(self) -> dict:
        """A fresh, mutable copy of the object."""
        return loads(self.body)


@dataclass(frozen=True)
class Write:
    """Store ``obj``: a create when nothing was read, else an update."""

    obj: dict


@dataclass(frozen=True)
class Delete:
    """Remove the row; ``obj`` is its final state, sent with the DELETED event."""

    obj: dict


Outcome = Write | Delete


@dataclass(frozen=True)
class Result:
    event: str  # ADDED, MODIFIED or DELETED
    obj: dict
    body: str
    rv: int


@dataclass(frozen=True)
class Page:
    items: list[str]  # JSON bodies, in key order
    rv: int  # the revision the page was read at
    next_key: tuple[str, str] | None  # (namespace, name) to continue after, or None when complete


@dataclass(frozen=True)
class ListQuery:
    resource: str
    namespace: str | None = None
    label_selector: tuple[selectors.Requirement, ...] = ()
    field_selector: tuple[selectors.FieldRequirement, ...] = ()
    limit: int | None = None
    at_revision: int | None = None  # a continue token's revision
    after: tuple[str, str] | None = None  # a continue token's last key


def _where_key(table: Any, resource: str, namespace: str, name: str) -> Any:
    return and_(table.c.resource == resource, table.c.namespace == namespace, table.c.name == name)


@dataclass(eq=False)
class _Queued:
    """A write waiting in its process's group commit, and then its outcome."""

    row: RowWrite
    done: bool = False
    rv: int | None = None
    error: BaseException | None = None


@dataclass
class Store:
    engine: Engine
    #: The largest object body stored; every write path ends here, so the bound holds for all.
    max_object_bytes: int = 1_572_864
    on_commit: list[Callable[[int], None]] = field(default_factory=list)
    dialect: Dialect = field(init=False)

    def __post_init__(self) -> None:
        self.dialect = dialect_of(self.engine)
        self._write_lock = self.dialect.write_lock()
        self._queue: deque[_Queued] = deque()  # writes waiting for the group commit (dialect.groups_writes)
        self._driver_errors: Any = self.engine.dialect.loaded_dbapi

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Database failures that are not bugs become StorageUnavailable (answered 503)."""
        try:
            yield
        except SQLAlchemyError as err:
            if self.dialect.unavailable(err):
                raise StorageUnavailable(" ".join(str(getattr(err, "orig", err) or err).split())[:200]) from err
            raise
        except self._driver_errors.Error as err:  # the driver's own, from a raw connection (or its checkout)
            if isinstance(err, (self._driver_errors.OperationalError, self._driver_errors.InterfaceError)):
                raise StorageUnavailable(" ".join(str(err).split())[:200]) from err
            raise

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(revision.c.current)).scalar_one()

    def revisions(self) -> tuple[int, int]:
        """(current revision, compaction floor)."""
        with self._translated(), self.engine.connect() as conn:
            row = conn.execute(select(revision.c.current, revision.c.compacted)).one()
        return row.current, row.compacted

    def object_counts(self) -> dict[str, int]:
        """resource -> number of live objects (for ``apiserver_storage_objects``)."""
        with self._translated(), self.engine.connect() as conn:
            rows = conn.execute(select(objects.c.resource, func.count()).group_by(objects.c.resource)).all()
        return {str(resource): int(count) for resource, count in rows}

    def history_size(self) -> int:
        """Rows in the change log."""
        with self._translated(), self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(changes)).scalar_one())

    def wait_for_revision(self, wanted: int, timeout: float) -> int:
        """The current revision, once it reaches ``wanted`` or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.revisions()[0]
            if current >= wanted or time.monotonic() >= deadline:
                return current
            time.sleep(0.05)  # gevent's sleep in the workers

    def read(self, resource: str, namespace: str, name: str) -> Stored | None:
        row = self._on_driver(lambda dbapi: self.dialect.read_row(dbapi, resource, namespace, name), retry=True)
        return None if row is None else Stored(row[0], row[1])

    def _on_driver(self, work: Callable[[Any], T], retry: bool) -> T:
        """``work`` on a pooled connection's own driver connection (prebuilt SQL, nothing built
        per call). A connection found dead while ``work`` ran is discarded; ``retry`` (only for
        what may safely run twice) runs it once more on another."""
        for attempt in range(2):
            with self._translated():
                proxy = self.engine.raw_connection()
                try:
                    return work(proxy.driver_connection)
                except self._driver_errors.Error as err:
                    if not self.engine.dialect.is_disconnect(err, proxy.driver_connection, None):
                        raise
                    proxy.invalidate(err)
                    if not retry or attempt == 1:
                        raise
                finally:
                    proxy.close()
        raise AssertionError("unreachable: the second attempt returns or raises")

    def get(self, resource: str, namespace: str, name: str) -> str | None:
        """The stored JSON text of one object, or None."""
        stored = self.read(resource, namespace, name)
        return None if stored is None else stored.body

    # Writes -------------------------------------------------------------------------------

    def commit(self, resource: str, namespace: str, name: str, outcome: Outcome, read: Stored | None) -> Result:
        """Commit ``outcome`` for the object that was ``read`` (None: it did not exist).

        Raises KeyExists when a create finds the name taken, Stale when the object is no
        longer at ``read.rv``; nothing is written then.
        """
        row = self._render(resource, namespace, name, outcome, read)
        rv = self._write_grouped(row) if self.dialect.groups_writes else self._write_one(row)
        if rv is None:
            raise KeyExists(name) if read is None else Stale(name)
        outcome.obj["metadata"]["resourceVersion"] = str(rv)
        result = Result(row.event, outcome.obj, row.body(rv), rv)
        for callback in self.on_commit:
            callback(result.rv)
        return result

    def _write_one(self, row: RowWrite) -> int | None:
        try:
            return self._on_driver(lambda dbapi: self.dialect.write_row(dbapi, row), retry=False)
        except self._driver_errors.IntegrityError:
            return None  # a create of a taken name

    def _write_grouped(self, row: RowWrite) -> int | None:
        """Group commit: the writes of this process that wait for the write lock at the same
        time are committed by whichever of them gets it first, in one transaction (one wait
        for another process's lock, one fsync), each in its own savepoint. A write is answered
        only once that transaction committed, so an acknowledged write is durable as before."""
        mine = _Queued(row)
        self._queue.append(mine)
        while not mine.done:
            with self._write_lock:
                if not mine.done:
                    self._commit_queued(mine)
        if mine.error is not None:
            raise mine.error
        return mine.rv

    def _commit_queued(self, mine: _Queued) -> None:
        taken: list[_Queued] = []

        def take() -> list[RowWrite]:
            while self._queue and len(taken) < GROUP_LIMIT:
                taken.append(self._queue.popleft())
            return [queued.row for queued in taken]

        try:
            results = self._on_driver(lambda dbapi: self.dialect.write_rows(dbapi, take), retry=False)
        except BaseException as err:
            if not taken:  # failed before the lock was held (e.g. its wait timed out): only this write fails
                self._queue.remove(mine)
                raise
            for queued in taken:  # nothing of theirs was committed
                queued.error, queued.done = err, True
            return
        for queued, rv in zip(taken, results, strict=True):
            queued.rv, queued.done = rv, True

    def _render(self, resource: str, namespace: str, name: str, outcome: Outcome, read: Stored | None) -> RowWrite:
        """Everything a write needs, computed before any lock: the body around its future
        revision (so encoding happens outside the write lock), the label rows, the event."""
        if read is None and isinstance(outcome, Delete):
            raise ValueError("nothing to delete: the object was not read")
        obj = outcome.obj
        metadata = obj["metadata"]
        while True:
            placeholder = f"ark-rv-{uuid.uuid4().hex}"
            metadata["resourceVersion"] = placeholder
            text = dumps(obj)
            if text.count(placeholder) == 1:  # a body quoting the placeholder gets another one
                break
        before, _, after = text.partition(placeholder)
        if not isinstance(outcome, Delete):
            size = len(before.encode()) + len(after.encode()) + REVISION_DIGITS
            if size > self.max_object_bytes:
                raise ObjectTooLarge(size, self.max_object_bytes)
        old_labels = (loads(read.body)["metadata"].get("labels") or {}) if read is not None else {}
        new_labels = {} if isinstance(outcome, Delete) else metadata.get("labels") or {}
        event = DELETED if isinstance(outcome, Delete) else ADDED if read is None else MODIFIED
        return RowWrite(event=event, resource=resource, namespace=namespace, name=name, uid=metadata["uid"],
                        before=before, after=after, read_rv=None if read is None else read.rv,
                        prev_body=None if read is None else read.body,
                        labels=[(k, v, selectors.label_number(v)) for k, v in new_labels.items()],
                        relabel=old_labels != new_labels, had_labels=bool(old_labels),
                        committed_at=int(time.time() * 1000))

    # Lists --------------------------------------------------------------------------------

    def list(self, query: ListQuery) -> Page:
        """One page of a list, read from one snapshot (or, for a continue token, from history)."""
        with self._translated(), self.dialect.snapshot_connection(self.engine) as conn, conn.begin():
            row = conn.execute(select(revision.c.current, revision.c.compacted)).one()
            at = query.at_revision if query.at_revision is not None else row.current
            if not history_complete_after(at, row.compacted):
                raise Compacted(at, row.compacted)
            fetch = None if query.limit is None else query.limit + 1
            live = [
                ((r.namespace, r.name), r.body)
                for r in conn.execute(self._live_query(query, at, fetch))
            ]
            if at < row.current:
                live = sorted(live + self._historic(conn, query, at, fetch))
        items = [body for _, body in live]
        next_key = None
        if query.limit is not None and len(items) > query.limit:
            items = items[: query.limit]
            next_key = live[query.limit - 1][0]
        return Page(items, at, next_key)

    def _live_query(self, query: ListQuery, at: int, fetch: int | None):
        stmt = select(objects.c.namespace, objects.c.name, objects.c.body).where(
            objects.c.resource == query.resource, objects.c.resource_version <= at
        )
        stmt = stmt.where(*_key_conditions(objects, query))
        stmt = stmt.where(*(_label_condition(r, query.resource) for r in query.label_selector))
        stmt = stmt.order_by(objects.c.namespace, objects.c.name)
        return stmt.limit(fetch) if fetch is not None else stmt

    def _historic(self, conn: Connection, query: ListQuery, at: int, fetch: int | None) -> builtins.list[Any]:
        """Objects changed since ``at``, as they were at ``at`` (the first later change's prev_body)."""
        later = changes.alias("later")
        first_after = (
            select(func.min(later.c.rv))
            .where(
                later.c.resource == changes.c.resource,
                later.c.namespace == changes.c.namespace,
                later.c.name == changes.c.name,
                later.c.rv > at,
            )
            .scalar_subquery()
        )
        stmt = (
            select(changes.c.namespace, changes.c.name, changes.c.prev_body)
            .where(changes.c.resource == query.resource, changes.c.rv > at, changes.c.rv == first_after)
            .where(changes.c.type != ADDED, *_key_conditions(changes, query))
            .order_by(changes.c.namespace, changes.c.name)
        )
        out = []
        for r in conn.execute(stmt):
            obj = loads(r.prev_body)
            if selectors.matches(query.label_selector, obj["metadata"].get("labels")):
                out.append(((r.namespace, r.name), r.prev_body))
                if fetch is not None and len(out) >= fetch:
                    break
        return out

    # Change log ---------------------------------------------------------------------------

    def changes_after(self, rv: int, limit: int = 1000, resource: str | None = None) -> builtins.list[Any]:
        """Change-log rows after ``rv`` in revision order: the feed's read (all resources), or
        a resuming watcher's (one ``resource``)."""
        query = select(changes.c.rv, changes.c.resource, changes.c.namespace, changes.c.name, changes.c.type,
                       changes.c.body, changes.c.prev_body, changes.c.committed_at).where(changes.c.rv > rv)
        if resource is not None:
            query = query.where(changes.c.resource == resource)
        with self._translated(), self.engine.connect() as conn:
            return list(conn.execute(query.order_by(changes.c.rv).limit(limit)))

    def compact(self, retention_seconds: float, keep_revisions: int, batch: int = 1000) -> int:
        """Drop change-log rows older than the retention window, never the newest ``keep_revisions``.

        The floor is raised first (requests below it get 410 Expired), then rows go in
        bounded batches, each its own short transaction; returns the rows removed.
        """
        cutoff = int((time.time() - retention_seconds) * 1000)
        with self.engine.connect() as conn:
            current, compacted = conn.execute(select(revision.c.current, revision.c.compacted)).one()
            oldest_kept = conn.execute(select(func.max(changes.c.rv)).where(changes.c.committed_at < cutoff)).scalar()
        if oldest_kept is None:
            return 0
        floor = min(oldest_kept, current - keep_revisions) + 1
        if floor <= compacted:
            return 0
        with self._write_lock, self.dialect.write_connection(self.engine) as conn, conn.begin():
            conn.execute(update(revision).where(revision.c.compacted < floor).values(compacted=floor))
        removed = 0
        while True:
            with self._write_lock, self.dialect.write_connection(self.engine) as conn, conn.begin():
                ids = [rv for (rv,) in conn.execute(
                    select(changes.c.rv).where(changes.c.rv < floor).order_by(changes.c.rv).limit(batch))]
                if ids:
                    conn.execute(delete(changes).where(changes.c.rv.in_(ids)))
            removed += len(ids)
            if len(ids) < batch:
                return removed
            time.sleep(0)  # under gevent: let requests run between batches (SQLite calls block the hub)


def _key_conditions(table, query: ListQuery) -> Iterable:
    if query.namespace is not None:
        yield table.c.namespace == query.namespace
    for requirement in query.field_selector:
        column = table.c.name if requirement.field == "metadata.name" else table.c.namespace
        yield column == requirement.value if requirement.equal else column != requirement.value
    if query.after is not None:
        after_namespace, after_name = query.after
        if query.namespace is not None:  # one namespace: a range of names, which stays an index range scan
            if after_namespace == query.namespace:
                yield table.c.name > after_name
            elif after_namespace > query.namespace:
                yield false()  # a token past this namespace: nothing is after it
        else:
            yield tuple_(table.c.namespace, table.c.name) > tuple_(after_namespace, after_name)


def _label_condition(requirement: selectors.Requirement, resource: str):
    """One label requirement as an EXISTS / NOT EXISTS over the labels table."""
    of_object = and_(
        labels.c.resource == resource,
        labels.c.namespace == objects.c.namespace,
        labels.c.name == objects.c.name,
        labels.c.key == requirement.key,
    )
    op = requirement.operator
    if op == selectors.EXISTS:
        return exists().where(of_object)
    if op == selectors.DOES_NOT_EXIST:
        return ~exists().where(of_object)
    if op in (selectors.EQUALS, selectors.IN):
        return exists().where(of_object, labels.c.value.in_(requirement.values))
    if op in (selectors.NOT_EQUALS, selectors.NOT_IN):
        return ~exists().where(of_object, labels.c.value.in_(requirement.values))
    bound = int(requirement.values[0])
    number = labels.c.num_value > bound if op == selectors.GREATER else labels.c.num_value < bound
    return exists().where(of_object, number)


__all__ = ["ADDED", "DELETED", "MODIFIED", "Compacted", "Delete", "KeyExists", "ListQuery", "Outcome", "Page",
           "Result", "Stale", "StorageUnavailable", "Store", "Stored", "Write", "history_complete_after"]
