"""Controllers of standalone mode: what a cluster's kube-controller-manager does for the objects
this server holds, when no cluster is there to do it.

* :mod:`~ark.controllers.garbagecollector`: ``metadata.ownerReferences`` (background,
  foreground and orphan deletion; dependents of vanished owners are collected);
* :mod:`~ark.controllers.namespaces`: a deleted Namespace's content goes, then the Namespace;
* :mod:`~ark.controllers.events`: Events expire after ``--event-ttl``.

One process per database runs them (:mod:`~ark.controllers.leader`), in one greenlet driven by
the change feed: every change is *observed* (cheap, in memory) and turns into *work items*
that read the store afresh and act through the registry's
:class:`~ark.registry.store.ResourceStore`, so every write they make is an ordinary,
admitted, optimistic write. A failed item is retried after a pause.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable

import gevent
import gevent.event

from ark.background import Background
from ark.controllers.events import EventExpiry
from ark.controllers.garbagecollector import GarbageCollector
from ark.controllers.leader import Leadership
from ark.controllers.namespaces import NamespaceController
from ark.controllers.work import Item, Objects
from ark.kinds.registry import Kind
from ark.machinery import codec
from ark.machinery.errors import ApiError
from ark.registry.store import ResourceStore
from ark.storage.feed import Change, ChangeFeed
from ark.storage.store import StorageUnavailable, Store

log = logging.getLogger(__name__)

LEADER_RETRY_SECONDS = 2.0
LEADER_CHECK_SECONDS = 5.0
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
FEED_QUEUE = 100_000  # changes waiting to be observed before the controllers resynchronize


class _Subscription:
    """The controllers' subscriber for one resource, in every namespace."""

    def __init__(self, resource: str, sink: Controllers) -> None:
        self.route: tuple[str, str | None] = (resource, None)
        self.sink = sink

    def deliver(self, change: Change) -> bool:
        return self.sink.deliver(change)

    @property
    def busy(self) -> bool:
        return False

    def expire(self, message: str) -> None:
        self.sink.resync = True
        self.sink.wake.set()

    def close(self) -> None:
        self.sink.closing = True
        self.sink.wake.set()


class Controllers(Background):
    def __init__(self, store: Store, resources: ResourceStore, feed: ChangeFeed, kinds: Iterable[Kind],
                 event_ttl: float) -> None:
        self.store = store
        self.feed = feed
        self.objects = Objects(resources, list(kinds))
        self.leadership = Leadership(store.engine)
        self.gc = GarbageCollector(self.objects)
        self.namespaces = NamespaceController(self.objects)
        self.events = EventExpiry(self.objects, event_ttl)
        self.wake = gevent.event.Event()
        self.changes: deque[Change] = deque()
        self.resync = False
        self.closing = False
        #: Work items and the monotonic time before which each is not retried.
        self.pending: dict[Item, float] = {}
        self.failures: dict[Item, int] = {}

    def stop(self) -> None:
        super().stop()
        self.leadership.release()

    def deliver(self, change: Change) -> bool:
        if len(self.changes) >= FEED_QUEUE:
            self.resync = True
        else:
            self.changes.append(change)
        self.wake.set()
        return True

    # The loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.closing:
            if not self.leadership.acquire():
                gevent.sleep(LEADER_RETRY_SECONDS)
                continue
            log.info("controllers: this process leads (garbage collector, namespaces, event expiry)")
            try:
                self._lead()
            except Exception:  # never let the controllers die: start over
                log.exception("controllers: stopped by an unexpected error; starting over")
                gevent.sleep(RETRY_SECONDS)

    def _lead(self) -> None:
        subscriptions = [_Subscription(kind.resource, self) for kind in self.objects.kinds]
        try:
            self._synchronize(subscriptions)
            checked = time.monotonic()
            while not self.closing:
                self.wake.wait(timeout=min(RETRY_SECONDS, self.events.interval))
                self.wake.clear()
                if self.resync:
                    self._synchronize(subscriptions)
                self._observe()
                self._work()
                if time.monotonic() - checked > LEADER_CHECK_SECONDS:
                    checked = time.monotonic()
                    if not self.leadership.held():
                        log.warning("controllers: lost the leader lock; another process takes over")
                        return
        finally:
            for subscription in subscriptions:
                self.feed.unsubscribe(subscription)

    def _synchronize(self, subscriptions: list[_Subscription]) -> None:
        """Subscribe, then read every object: the queued changes after that only refresh it."""
        self.resync = False
        self.changes.clear()
        for subscription in subscriptions:
            self.feed.subscribe(subscription)
        self.gc.reset()
        self.namespaces.reset()
        for kind, obj in self.objects.everything():
            self._queue(self.gc.observe(kind.resource, obj, deleted=False))
            self._queue(self.namespaces.observe(kind.resource, obj, deleted=False))

    def _observe(self) -> None:
        while self.changes:
            change = self.changes.popleft()
            obj = codec.loads(change.body)
            deleted = change.type == "DELETED"
            self._queue(self.gc.observe(change.resource, obj, deleted))
            self._queue(self.namespaces.observe(change.resource, obj, deleted))

    # Work ----------------------------------------------------------------------------------

    def _queue(self, items: Iterable[Item]) -> None:
        for item in items:
            self.pending.setdefault(item, 0.0)

    def _work(self) -> None:
        self._queue(self.events.due())
        now = time.monotonic()
        ready = [item for item, not_before in self.pending.items() if not_before <= now]
        for item in ready:
            del self.pending[item]
            try:
                self._queue(self._handle(item))
                self.failures.pop(item, None)
            except (ApiError, StorageUnavailable) as err:
                self._retry(item, f"{item} failed ({err})")
            except Exception:  # a bug must not stop the other items: it is logged and retried later
                log.exception("controllers: %s failed", item)
                self._retry(item, "")
            gevent.sleep(0)  # let requests run between items

    def _retry(self, item: Item, why: str) -> None:
        """Retry ``item`` later, waiting twice as long after each failure (at most a minute)."""
        failures = self.failures[item] = self.failures.get(item, 0) + 1
        delay = min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** (failures - 1))
        if why:
            log.info("controllers: %s; retrying in %.0f s", why, delay)
        self.pending[item] = time.monotonic() + delay

    def _handle(self, item: Item) -> Iterable[Item]:
        if item.controller == "gc":
            return self.gc.handle(item)
        if item.controller == "namespaces":
            return self.namespaces.handle(item)
        return self.events.handle(item)
