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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, exists, false, func, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ark.machinery import selectors
from ark.machinery.codec import dumps, loads
from ark.storage.dialects import Dialect, dialect_of
from ark.storage.tables import changes, labels, objects, revision

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


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


@dataclass
class Store:
    engine: Engine
    #: The largest object body stored; every write path ends here, so the bound holds for all.
    max_object_bytes: int = 1_572_864
    on_commit: list[Callable[[int], None]] = field(default_factory=list)
    dialect: Dialect = field(init=False)

    def __post_init__(self) -> None:
        self.dialect = dialect_of(self.engine)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Database failures that are not bugs become StorageUnavailable (answered 503)."""
        try:
            yield
        except SQLAlchemyError as err:
            if self.dialect.unavailable(err):
                raise StorageUnavailable(" ".join(str(getattr(err, "orig", err) or err).split())[:200]) from err
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
        with self._translated(), self.engine.connect() as conn:
            row = conn.execute(
                select(objects.c.body, objects.c.resource_version).where(
                    _where_key(objects, resource, namespace, name))
            ).one_or_none()
        return None if row is None else Stored(row.body, row.resource_version)

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
        with self._translated(), self.dialect.write_connection(self.engine) as conn:
            try:
                with conn.begin():
                    result = self._commit(conn, resource, namespace, name, outcome, read)
            except IntegrityError as err:
                raise KeyExists(name) from err
        for callback in self.on_commit:
            callback(result.rv)
        return result

    def _commit(self, conn: Connection, resource: str, namespace: str, name: str, outcome: Outcome,
                read: Stored | None) -> Result:
        if read is None and isinstance(outcome, Delete):
            raise ValueError("nothing to delete: the object was not read")
        rv = conn.execute(
            update(revision).values(current=revision.c.current + 1).returning(revision.c.current)
        ).scalar_one()
        obj = outcome.obj
        obj["metadata"]["resourceVersion"] = str(rv)
        body = dumps(obj)
        if len(body) > self.max_object_bytes and not isinstance(outcome, Delete):
            size = len(body.encode())
            if size > self.max_object_bytes:
                raise ObjectTooLarge(size, self.max_object_bytes)
        key = {"resource": resource, "namespace": namespace, "name": name}
        where = _where_key(objects, resource, namespace, name)
        old_labels: dict = {}
        if read is not None:
            old_labels = loads(read.body)["metadata"].get("labels") or {}
            where = and_(where, objects.c.resource_version == read.rv)
        if isinstance(outcome, Delete):
            event = DELETED
            if conn.execute(delete(objects).where(where)).rowcount != 1:
                raise Stale(name)
            self._replace_labels(conn, key, None, had_labels=bool(old_labels))
        elif read is None:
            event = ADDED
            conn.execute(insert(objects).values(**key, uid=obj["metadata"]["uid"], resource_version=rv, body=body))
            self._replace_labels(conn, key, obj["metadata"].get("labels"), had_labels=False)
        else:
            event = MODIFIED
            written = conn.execute(update(objects).where(where).values(uid=obj["metadata"]["uid"],
                                                                        resource_version=rv, body=body))
            if written.rowcount != 1:
                raise Stale(name)
            new_labels = obj["metadata"].get("labels") or {}
            if old_labels != new_labels:
                self._replace_labels(conn, key, new_labels, had_labels=bool(old_labels))
        conn.execute(
            insert(changes).values(rv=rv, **key, type=event, body=body, prev_body=read.body if read else None,
                                   committed_at=int(time.time() * 1000))
        )
        self.dialect.notify(conn, rv)
        return Result(event, obj, body, rv)

    @staticmethod
    def _replace_labels(conn: Connection, key: dict, new: dict | None, had_labels: bool) -> None:
        if had_labels:
            conn.execute(delete(labels).where(_where_key(labels, key["resource"], key["namespace"], key["name"])))
        if new:
            conn.execute(
                insert(labels),
                [{**key, "key": k, "value": v, "num_value": selectors.label_number(v)} for k, v in new.items()],
            )

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
        with self.dialect.write_connection(self.engine) as conn, conn.begin():
            conn.execute(update(revision).where(revision.c.compacted < floor).values(compacted=floor))
        removed = 0
        while True:
            with self.dialect.write_connection(self.engine) as conn, conn.begin():
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
