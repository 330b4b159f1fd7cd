"""A local copy of a collection the cluster's API serves, kept current by list + watch.

The shape of client-go's reflector: list, then watch from the list's resourceVersion; when the
cluster ends the stream (its ``timeoutSeconds``) watch again from the last revision seen (bookmarks
move it too); a 410 Expired lists again; any failure backs off (1 s doubling to 30 s, jittered) and
lists again. It runs in one greenlet per worker process; the callbacks run there too and must not
block.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import gevent

from ark.background import Background
from ark.cluster.client import ClusterClient, ClusterError

log = logging.getLogger(__name__)

WATCH_SECONDS = 300
READ_GRACE_SECONDS = 30  # a stream silent this much longer than its timeout is dead
BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 30.0

Object = dict[str, Any]


class _Expired(Exception):
    """The watch's revision is too old (410): list again."""


class Reflector(Background):
    def __init__(self, client: ClusterClient, path: str, what: str, on_replace: Callable[[list[Object]], None],
                 on_event: Callable[[str, Object], None], field_selector: str = "",
                 watch_seconds: int = WATCH_SECONDS) -> None:
        self.client = client
        self.path = path
        self.what = what  # for messages: "namespaces", "ConfigMap kube-system/..."
        self.on_replace = on_replace
        self.on_event = on_event
        self.field_selector = field_selector
        self.watch_seconds = watch_seconds
        self.synced = False  # listed once: the copy is usable (and stays so through later failures)
        self.error: str | None = None  # the last failure while not synced, for /readyz and messages
        self.lists = 0

    def _url(self, **query: Any) -> str:
        params = {"fieldSelector": self.field_selector} if self.field_selector else {}
        params.update({key: str(value) for key, value in query.items()})
        return f"{self.path}?{urlencode(params)}" if params else self.path

    def _run(self) -> None:
        backoff = BACKOFF_INITIAL
        while True:
            try:
                revision = self._list()
                backoff = BACKOFF_INITIAL
                while True:
                    revision = self._watch(revision)
            except _Expired:
                continue
            except Exception as err:  # noqa: BLE001 - the copy must outlive any failure: log, back off, list again
                message = " ".join(str(err).split()) or type(err).__name__
                if not self.synced:
                    self.error = message
                log.warning("cluster: keeping %s current failed (%s); listing again in %.0fs", self.what, message,
                            backoff)
                gevent.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _list(self) -> str:
        listed = self.client.call("GET", self._url())
        items = listed.get("items") or []
        self.on_replace([item for item in items if isinstance(item, dict)])
        self.lists += 1
        if not self.synced:
            log.info("cluster: %s loaded from %s", self.what, self.client.describe())
        self.synced, self.error = True, None
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, revision: str) -> str:
        """Follow the stream until the cluster ends it; returns the newest revision seen."""
        url = self._url(watch=1, resourceVersion=revision, allowWatchBookmarks="true",
                        timeoutSeconds=self.watch_seconds)
        with self.client.stream(url, self.watch_seconds + READ_GRACE_SECONDS) as events:
            for event in events:
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise ClusterError(f"the watch of {self.what} ended with an error: {obj.get('message')}")
                revision = str((obj.get("metadata") or {}).get("resourceVersion") or revision)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.on_event(str(kind), obj)
        return revision
