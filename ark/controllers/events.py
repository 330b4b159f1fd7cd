"""Event expiry: an Event goes ``--event-ttl`` after its last write (kube-apiserver stores
Events with an etcd lease of that length, renewed by each write). The last write is the newest
server-stamped time on the Event: its creation or a managedFields entry."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from ark.controllers.work import Item, Objects, metadata
from ark.kinds.core import event
from ark.machinery import codec
from ark.machinery.options import ListOptions

CONTROLLER = "events"
SWEEP_SECONDS = 60.0


def _epoch(stamp: object) -> float:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def last_written(obj: dict) -> float:
    meta = metadata(obj)
    stamps = [meta.get("creationTimestamp"), *(e.get("time") for e in meta.get("managedFields") or ())]
    return max((_epoch(s) for s in stamps if s), default=0.0)


class EventExpiry:
    def __init__(self, objects: Objects, ttl: float) -> None:
        self.objects = objects
        self.ttl = ttl
        #: How often Events are looked at: a tenth of the TTL, at most a minute.
        self.interval = min(SWEEP_SECONDS, ttl / 10)
        self._next = 0.0

    def due(self) -> Iterator[Item]:
        """The sweep, when it is time for one."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            yield Item(CONTROLLER, "sweep", (event.KIND.resource, "", ""))

    def handle(self, item: Item) -> Iterator[Item]:
        cutoff = time.time() - self.ttl
        for body in self.objects.resources.list(event.KIND, None, ListOptions()).items:
            obj = codec.loads(body)
            if last_written(obj) < cutoff:
                self.objects.delete(self.objects.key(event.KIND, obj), metadata(obj)["uid"])
        return iter(())
