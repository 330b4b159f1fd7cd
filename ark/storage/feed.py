"""The change feed: one greenlet per process that reads the revision log and fans it out.

Truth is the ``changes`` table read by ``rv > cursor``; nothing else carries data. The feed
wakes on a commit in its own process, on a PostgreSQL NOTIFY or a SQLite peer's datagram
(``ark.storage.wakeup``), and on a timer (the SQLite poll interval, or a safety timer on
PostgreSQL), then delivers every new row, in revision order, to the subscribers whose route
(resource, namespace) it concerns. A wake-up carries the revision it announces: it is only
used to skip a read when every announced revision is already delivered (the writer's own
NOTIFY, after its commit woke this feed directly; wake-ups that arrived during a read that
already returned their rows), never to skip a row, and the timer reads regardless. Nothing here
blocks on a subscriber: each ``deliver`` only appends to that watcher's bounded queue.

The LISTEN connection is re-opened with backoff when it drops (``pg_terminate_backend``, a
restart, a network cut noticed by the periodic re-LISTEN); reconnecting wakes the reader,
and the cursor makes the catch-up exact, so subscribers never see a gap. If the feed itself
ever falls behind the compaction floor (a process stalled for longer than the retention),
every subscriber is expired (410) instead of silently skipping revisions.

The :class:`Compactor` greenlet trims the history in bounded batches on its own timer, so a
slow or failing compaction never delays event delivery.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import random
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import gevent
import gevent.event
import gevent.select

from ark.background import Background
from ark.machinery import codec
from ark.observability.metrics import metrics
from ark.storage.dialects import NOTIFY_CHANNEL
from ark.storage.store import Store, history_complete_after
from ark.storage.wakeup import Wakeups

log = logging.getLogger(__name__)
T = TypeVar("T")

APPLICATION_NAME = "ark-apiserver change feed"
BATCH = 1000
POSTGRES_SAFETY_INTERVAL = 1.0  # re-read the log this often even without a NOTIFY
LISTEN_CHECK_INTERVAL = 15.0  # re-issue LISTEN this often: notices a dead connection
LISTEN_CHECK_TIMEOUT = 10.0
BACKOFF_INITIAL, BACKOFF_MAX = 0.5, 10.0
FAILURE_PAUSE = 1.0
REWIND_CHECK_INTERVAL = 1.0  # when idle, check this often that the revision has not gone backwards

RELEASE_AFTER = 1000  # this many watchers gone (and half of them): give their memory back to the system
RELEASE_DELAY = 1.0

_FEEDS: weakref.WeakSet[ChangeFeed] = weakref.WeakSet()


def release_memory() -> None:
    """Collect cycles and return freed heap pages to the system (glibc's malloc_trim): without it
    a worker that once held thousands of watches keeps their memory for good."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def close_all_feeds() -> None:
    """End every watch of this process cleanly (call from a worker's graceful shutdown, in a
    greenlet): clients resume from their last revision on another worker or replica, and
    gunicorn need not wait its graceful timeout for streams that never end by themselves."""
    for feed in list(_FEEDS):
        feed.close_all()


class Change:
    """One row of the revision log, with what its subscribers derive from it, computed once.

    Every watcher of a process that receives this change shares the parsed labels and the
    rendered lines (``rendered``), so the cost of an event does not grow with the watchers.
    """

    __slots__ = ("_labels", "_lines", "_prev_labels", "body", "name", "namespace", "prev_body", "resource", "rv",
                 "type")

    def __init__(self, rv: int, resource: str, namespace: str, name: str, type: str, body: str,
                 prev_body: str | None) -> None:
        self.rv = rv
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.type = type
        self.body = body
        self.prev_body = prev_body
        self._labels: dict | None = None
        self._prev_labels: dict | None = None
        self._lines: dict[tuple, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> Change:
        return cls(row.rv, row.resource, row.namespace, row.name, row.type, row.body, row.prev_body)

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = codec.loads(self.body)["metadata"].get("labels") or {}
        return self._labels

    @property
    def prev_labels(self) -> dict[str, str]:
        if self._prev_labels is None:
            self._prev_labels = ({} if self.prev_body is None
                                 else codec.loads(self.prev_body)["metadata"].get("labels") or {})
        return self._prev_labels

    def rendered(self, key: tuple, render: Callable[[], T]) -> T:
        """``render()``'s result, computed once per ``key`` for every watcher of this change."""
        if self._lines is None:
            self._lines = {}
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = render()
        return line

    def __repr__(self) -> str:
        return f"Change({self.rv}, {self.type}, {self.resource}, {self.namespace}/{self.name})"


class Subscriber(Protocol):
    #: (resource, namespace) of the changes wanted; namespace None means every namespace.
    route: tuple[str, str | None]

    def deliver(self, change: Change) -> bool:
        """Take ``change`` (never blocks); False means "unsubscribe me" (e.g. overflowed)."""

    @property
    def busy(self) -> bool:
        """The subscriber's queue is filling up: let it run before delivering more."""

    def expire(self, message: str) -> None:
        """The feed cannot be exact any more (compacted past it, or the database went back): end with 410."""

    def close(self) -> None:
        """The process is shutting down: end cleanly (clients resume from their last revision)."""


class ChangeFeed:
    """Reads the change log after ``cursor`` and hands each change to the subscribers it concerns."""

    def __init__(self, store: Store, poll_interval: float, safety_interval: float = POSTGRES_SAFETY_INTERVAL,
                 batch: int = BATCH) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.safety_interval = safety_interval
        self.batch = batch
        self._cursor: int | None = None  # read from the database when first needed, not at construction
        self.routes: dict[tuple[str, str | None], set[Subscriber]] = {}
        self.listening = False
        self._count = 0
        self._peak = 0  # the most subscribers since memory was last given back
        self._rewind_checked = 0.0
        self._wake = gevent.event.Event()
        self._announced = 0  # the newest revision a commit, NOTIFY or peer announced
        self._force = False  # the next wake-up reads even if nothing new was announced
        self._greenlet: gevent.Greenlet | None = None
        self._listener: gevent.Greenlet | None = None
        self._wakeups: Wakeups | None = None
        store.on_commit.append(self._committed)
        _FEEDS.add(self)

    # Lifecycle -----------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """The newest revision delivered: starts at the database's revision when first asked."""
        if self._cursor is None:
            self._cursor = self.store.revisions()[0]
        return self._cursor

    @cursor.setter
    def cursor(self, rv: int) -> None:
        self._cursor = rv

    def start(self) -> None:
        if self._greenlet is None:
            self.cursor  # noqa: B018 - fix the starting point before the first subscriber arrives
            self._greenlet = gevent.spawn(self._run)
            if self.store.dialect.notifies:
                self._listener = gevent.spawn(self._listen)
            elif self.store.engine.url.database:
                self._listener = self._open_wakeups(self.store.engine.url.database)

    def stop(self) -> None:
        for greenlet in (self._greenlet, self._listener):
            if greenlet is not None:
                greenlet.kill(block=False)
        self._greenlet = self._listener = None
        if self._wakeups is not None:
            self._wakeups.close()
            self._wakeups = None

    def _committed(self, rv: int) -> None:
        self._announce(rv)
        if self._wakeups is not None:
            self._wakeups.send(rv)

    def _announce(self, rv: int) -> None:
        self._announced = max(self._announced, rv)
        if self._cursor is None or rv > self._cursor:
            self._wake.set()

    def _wake_to_read(self) -> None:
        """Read on the next wake-up whatever was announced (a reconnect may have missed some)."""
        self._force = True
        self._wake.set()

    # Subscribers ---------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> int:
        """Register ``subscriber``; returns the cursor at registration. Every change after it
        will be delivered; earlier ones are the subscriber's to read from the store."""
        subscribers = self.routes.setdefault(subscriber.route, set())
        if subscriber not in subscribers:
            subscribers.add(subscriber)
            self._count += 1
            self._peak = max(self._peak, self._count)
        return self.cursor

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self.routes.get(subscriber.route)
        if subscribers is not None and subscriber in subscribers:
            subscribers.discard(subscriber)
            self._count -= 1
            if not subscribers:
                del self.routes[subscriber.route]
            if self._peak - self._count >= RELEASE_AFTER and self._count <= self._peak // 2:
                self._peak = self._count
                gevent.spawn_later(RELEASE_DELAY, release_memory)

    def close_all(self) -> None:
        """End every subscriber cleanly (graceful shutdown: watch clients resume elsewhere)."""
        for subscribers in list(self.routes.values()):
            for subscriber in list(subscribers):
                subscriber.close()
        self._forget_all()

    def _forget_all(self) -> None:
        self.routes.clear()
        self._count = 0

    @property
    def subscriber_count(self) -> int:
        return self._count

    # Reading -------------------------------------------------------------------------------

    def _run(self) -> None:
        interval = self.safety_interval if self.store.dialect.notifies else self.poll_interval
        while True:
            woken = self._wake.wait(timeout=interval)
            self._wake.clear()
            if woken and not self._force and self._announced <= self.cursor:
                continue  # everything announced is delivered: the read would find nothing
            self._force = False
            try:
                self.catch_up()
            except Exception:  # the feed must outlive a database outage: log, pause, retry from the cursor
                log.exception("change feed: reading the change log after revision %d failed; retrying", self.cursor)
                gevent.sleep(FAILURE_PAUSE)

    def catch_up(self) -> None:
        """Deliver every committed change after the cursor, in revision order."""
        while True:
            rows = self.store.changes_after(self.cursor, self.batch)
            if rows and rows[0].rv > self.cursor + 1:
                self._check_gap(rows[0].rv)
            lag = metrics().feed_lag
            for row in rows:
                busy = self._dispatch(Change.from_row(row))
                self.cursor = row.rv  # before any yield: a watcher subscribing now reads history up to here
                lag.observe(max(0.0, time.time() - row.committed_at / 1000))
                if busy:
                    # A burst (a batch of rows read at once) must not overflow watchers that are
                    # merely waiting for their turn: let them drain. Only one stuck on a full
                    # socket stays busy, and it overflows (410) as it should.
                    gevent.sleep(0)
            if not rows:
                self._check_rewind()
            if len(rows) < self.batch:
                return
            gevent.sleep(0)  # a long catch-up lets the watchers drain their queues between batches

    def _check_rewind(self) -> None:
        """A database restored from a backup (or emptied) is behind the cursor: its new revisions
        would never be read. Expire every subscriber (410: clients relist) and follow it again."""
        now = time.monotonic()
        if now - self._rewind_checked < REWIND_CHECK_INTERVAL:
            return
        self._rewind_checked = now
        current, _ = self.store.revisions()
        if current >= self.cursor:
            return
        log.error("change feed: the database's revision %d is behind the feed's %d (restored or replaced?); "
                  "expiring %d watcher(s)", current, self.cursor, self.subscriber_count)
        for subscribers in list(self.routes.values()):
            for subscriber in list(subscribers):
                subscriber.expire(f"the server's revision went back to {current}; list again")
        self._forget_all()
        self.cursor = current

    def _dispatch(self, change: Change) -> bool:
        """Hand ``change`` to the subscribers of its route; True if one of them is getting full."""
        busy = False
        for route in ((change.resource, change.namespace), (change.resource, None)):
            subscribers = self.routes.get(route)
            if not subscribers:
                continue
            for subscriber in list(subscribers):
                try:
                    keep = subscriber.deliver(change)
                except Exception:  # one broken subscriber must not stop the others (or replay the row)
                    log.exception("change feed: a subscriber failed to take revision %d; dropping it", change.rv)
                    keep = False
                if not keep:
                    self.unsubscribe(subscriber)
                elif subscriber.busy:
                    busy = True
        return busy

    def _check_gap(self, first: int) -> None:
        """Revisions after the cursor are missing: if compaction took them, expire every subscriber."""
        _, floor = self.store.revisions()
        if history_complete_after(self.cursor, floor):
            return  # not compaction (revisions are never skipped by writes today; tolerate it if they are)
        log.warning("change feed: fell behind the compaction floor (cursor %d, floor %d, next %d); "
                    "expiring %d watcher(s)", self.cursor, floor, first, self.subscriber_count)
        for subscribers in list(self.routes.values()):
            for subscriber in list(subscribers):
                subscriber.expire(f"too old resource version: the server's change feed fell behind the "
                                  f"compaction floor ({floor}); list again")
        self._forget_all()

    # PostgreSQL LISTEN ---------------------------------------------------------------------

    def _listen(self) -> None:
        """Hold a LISTEN connection; each NOTIFY only wakes the reader."""
        backoff = BACKOFF_INITIAL
        lost_since: float | None = None
        while True:
            connection = None
            try:
                connection = self.store.engine.raw_connection()
                dbapi = connection.driver_connection
                assert dbapi is not None, "a fresh pool connection has its psycopg2 connection"
                dbapi.autocommit = True
                with dbapi.cursor() as cursor:
                    cursor.execute(f"SET application_name = '{APPLICATION_NAME}'")
                    cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
                self.listening = True
                if lost_since is None:
                    log.info("change feed: listening on PostgreSQL channel %s", NOTIFY_CHANNEL)
                else:
                    log.warning("change feed: LISTEN connection re-established after %.1fs; catching up from "
                                "revision %d", time.monotonic() - lost_since, self.cursor)
                lost_since = None
                self._wake_to_read()  # catch up on whatever was committed while not listening
                backoff = BACKOFF_INITIAL
                self._hold(dbapi)
            except gevent.GreenletExit:
                self._discard(connection)
                raise
            except Exception as err:  # noqa: BLE001 - lost: reconnect with backoff; the cursor covers the gap
                self.listening = False
                metrics().feed_reconnects.inc()
                if lost_since is None:
                    lost_since = time.monotonic()
                log.warning("change feed: LISTEN connection lost (%s); reconnecting in %.1fs",
                            " ".join(str(err).split()) or type(err).__name__, backoff)
                self._discard(connection)
                self._wake_to_read()  # the safety timer would too; read now in case the NOTIFY was missed
                gevent.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _hold(self, dbapi: Any) -> None:
        """Wait for notifications until the connection fails (raises)."""
        next_check = time.monotonic() + LISTEN_CHECK_INTERVAL
        while True:
            gevent.select.select([dbapi], [], [], max(0.0, next_check - time.monotonic()))
            dbapi.poll()  # raises OperationalError when the backend is gone
            if dbapi.notifies:
                payloads = [notify.payload for notify in dbapi.notifies]
                dbapi.notifies.clear()
                if all(payload.isdigit() for payload in payloads):
                    self._announce(max(int(payload) for payload in payloads))
                else:
                    self._wake_to_read()
            if time.monotonic() >= next_check:
                # A silently dead TCP connection never becomes readable: a round trip proves it is
                # alive. Re-LISTEN (a no-op) keeps the backend's last query recognisable.
                timeout = gevent.Timeout(LISTEN_CHECK_TIMEOUT, TimeoutError("LISTEN connection check timed out"))
                with timeout, dbapi.cursor() as cursor:
                    cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
                next_check = time.monotonic() + LISTEN_CHECK_INTERVAL

    # SQLite wake-ups ------------------------------------------------------------------------

    def _open_wakeups(self, database_path: str) -> gevent.Greenlet | None:
        wakeups = Wakeups(database_path)
        try:
            wakeups.open()
        except OSError as err:  # e.g. a read-only temporary directory: the poll still delivers
            log.warning("change feed: no wake-ups from other processes (%s); polling every %.3gs",
                        err, self.poll_interval)
            return None
        self._wakeups = wakeups
        return gevent.spawn(self._receive, wakeups)

    def _receive(self, wakeups: Wakeups) -> None:
        """Each datagram from another process's commit wakes the reader."""
        while True:
            try:
                rv = wakeups.receive()
            except OSError:  # closed under us (stop), or a transient error: the poll covers it
                gevent.sleep(self.poll_interval)
                continue
            if rv is None:
                self._wake_to_read()
            else:
                self._announce(rv)

    @staticmethod
    def _discard(connection: Any) -> None:
        if connection is None:
            return
        with contextlib.suppress(Exception):  # already broken: nothing more to release
            connection.invalidate()  # never back to the pool: it may be mid-query or broken


class Compactor(Background):
    """Trims the change log on a timer: older than ``retention`` seconds, never the newest
    ``keep`` revisions (``Store.compact`` works in bounded batches and raises the floor first).

    Every process runs one; a random first delay spreads them, and a run that finds nothing
    to do costs two small reads. Failures are logged and retried on the next tick.
    """

    def __init__(self, store: Store, retention: float, keep: int, interval: float) -> None:
        self.store = store
        self.retention = retention
        self.keep = keep
        self.interval = interval

    def _run(self) -> None:
        gevent.sleep(random.uniform(0, self.interval))
        while True:
            self.run_once()
            gevent.sleep(self.interval * random.uniform(0.9, 1.1))

    def run_once(self) -> int:
        try:
            removed = self.store.compact(self.retention, self.keep)
        except Exception as err:  # noqa: BLE001 - logged; the next tick retries
            metrics().compaction_runs.labels("failed").inc()
            log.warning("history compaction failed (%s); retrying in %.0fs",
                        " ".join(str(err).split())[:300] or type(err).__name__, self.interval)
            return 0
        metrics().compaction_runs.labels("ok").inc()
        if removed:
            metrics().compacted_rows.inc(removed)
            log.info("history compaction removed %d change(s); floor now %d", removed, self.store.revisions()[1])
        return removed
