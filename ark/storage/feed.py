"""The change feed: one greenlet per process that reads the revision log and fans it out.

Truth is the ``changes`` table read by ``rv > cursor``; nothing else carries data. The feed
wakes on a commit in its own process, on a PostgreSQL NOTIFY (a wake-up only), and on a
timer (the SQLite poll interval, or a safety timer on PostgreSQL), then delivers every new
row, in revision order, to the watchers registered with it. A LISTEN connection that
drops is re-opened with backoff; the cursor makes the catch-up exact.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import gevent
import gevent.event
import gevent.select

from ark.storage.store import Store

log = logging.getLogger(__name__)

CHANNEL = "ark_changes"
BATCH = 1000
POSTGRES_SAFETY_INTERVAL = 1.0


@dataclass(frozen=True)
class Change:
    """One row of the revision log."""

    rv: int
    resource: str
    namespace: str
    name: str
    type: str
    body: str
    prev_body: str | None


class ChangeFeed:
    """Reads the change log after ``cursor`` and hands each change to every subscriber."""

    def __init__(self, store: Store, poll_interval: float, compaction: Callable[[], Any] | None = None) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.cursor = store.revisions()[0]
        self.subscribers: set[Any] = set()
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._listener: gevent.Greenlet | None = None
        self._compaction = compaction
        store.on_commit.append(self._committed)

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)
            if self.store.dialect == "postgresql":
                self._listener = gevent.spawn(self._listen)

    def stop(self) -> None:
        for greenlet in (self._greenlet, self._listener):
            if greenlet is not None:
                greenlet.kill(block=False)
        self._greenlet = self._listener = None

    def _committed(self, rv: int) -> None:
        if rv > self.cursor:
            self._wake.set()

    def subscribe(self, subscriber: Any) -> int:
        """Register ``subscriber`` (anything with ``deliver(change)``); returns the cursor at
        registration: every change after it will be delivered, earlier ones are the
        subscriber's to read from the store (``Store.changes_after``)."""
        self.subscribers.add(subscriber)
        return self.cursor

    def unsubscribe(self, subscriber: Any) -> None:
        self.subscribers.discard(subscriber)

    def _run(self) -> None:
        interval = self.poll_interval if self.store.dialect == "sqlite" else POSTGRES_SAFETY_INTERVAL
        last_compaction = time.monotonic()
        while True:
            self._wake.wait(timeout=interval)
            self._wake.clear()
            try:
                self.catch_up()
                if self._compaction is not None and time.monotonic() - last_compaction > 30:
                    last_compaction = time.monotonic()
                    self._compaction()
            except Exception:  # the feed must outlive a database outage: log, back off, retry
                log.exception("change feed: reading the change log failed; retrying")
                gevent.sleep(1.0)

    def catch_up(self) -> None:
        while True:
            rows = self.store.changes_after(self.cursor, BATCH)
            for row in rows:
                change = Change(row.rv, row.resource, row.namespace, row.name, row.type, row.body, row.prev_body)
                for subscriber in list(self.subscribers):
                    subscriber.deliver(change)
                self.cursor = row.rv
            if len(rows) < BATCH:
                return

    def _listen(self) -> None:
        """Hold a LISTEN connection; each NOTIFY only wakes the reader."""
        backoff = 0.5
        while True:
            connection = None
            try:
                connection = self.store.engine.raw_connection()
                dbapi = connection.driver_connection
                dbapi.autocommit = True
                with dbapi.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                log.info("change feed: listening on PostgreSQL channel %s", CHANNEL)
                self._wake.set()  # catch up on whatever was missed while not listening
                backoff = 0.5
                while True:
                    gevent.select.select([dbapi], [], [], POSTGRES_SAFETY_INTERVAL * 5)
                    dbapi.poll()
                    if dbapi.notifies:
                        dbapi.notifies.clear()
                        self._wake.set()
            except Exception as err:  # connection lost: reconnect with backoff, the cursor covers the gap
                log.warning("change feed: LISTEN connection lost (%s); reconnecting in %.1fs", err, backoff)
                if connection is not None:
                    try:
                        connection.invalidate()
                    except Exception:  # already broken; nothing more to release
                        pass
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
