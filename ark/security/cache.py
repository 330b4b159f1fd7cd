"""A bounded cache of review answers (TokenReview, SubjectAccessReview) that expire.

Each answer is kept for the time its kind allows (kube-apiserver: 10 s for tokens, 10 s for
allowed and 10 s for denied access), at most ``size`` answers (the oldest go first), and a key
asked for by several requests at once is computed once: the others wait for that answer. A
computation that raises is not cached; every waiter gets the error.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

import gevent.event

V = TypeVar("V")


class ExpiringCache(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._pending: dict[str, gevent.event.AsyncResult] = {}
        self.computed = 0  # how many answers were asked for, not found here

    def get_or_compute(self, key: str, compute: Callable[[], V], ttl: Callable[[V], float]) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            expires, value = entry
            if expires > time.monotonic():
                self._entries.move_to_end(key)
                return value
            del self._entries[key]
        pending = self._pending.get(key)
        if pending is not None:
            answer: V = pending.get()
            return answer
        pending = self._pending[key] = gevent.event.AsyncResult()
        try:
            self.computed += 1
            value = compute()
        except BaseException as err:
            pending.set_exception(err)
            raise
        finally:
            del self._pending[key]
        pending.set(value)
        lifetime = ttl(value)
        if lifetime > 0:
            self._entries[key] = (time.monotonic() + lifetime, value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
