"""WATCH: a streaming response per watcher, fed by the process's change feed (CONTRACT 6).

A watcher registers with the feed *before* it reads its starting state (a snapshot, or
history from its resourceVersion), so nothing committed in between can be missed; every
change at or below the revision it has already covered is skipped, so nothing is sent twice.
"""
from __future__ import annotations

import json
import random
import time
from collections import deque
from typing import Any, Iterator

import gevent.event
from flask import Response, current_app, request, stream_with_context

from ark.api import representation
from ark.kinds.registry import Kind
from ark.kinds.validation import FieldError
from ark.machinery import codec, errors, selectors, table
from ark.machinery.errors import ApiError
from ark.storage.feed import Change, ChangeFeed
from ark.storage.store import ADDED, DELETED, MODIFIED, ListQuery, Store

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
TOO_NEW_WAIT_SECONDS = 3.0


class Watcher:
    """One watch stream's view of the feed: a bounded queue of matching changes."""

    def __init__(self, kind: Kind, namespace: str | None, label_selector, field_selector, capacity: int) -> None:
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.capacity = capacity
        self.queue: deque[Change] = deque()
        self.overflowed = False
        self.ready = gevent.event.Event()

    def concerns(self, change: Change) -> bool:
        if change.resource != self.kind.resource:
            return False
        if self.namespace is not None and change.namespace != self.namespace:
            return False
        return selectors.matches_fields(self.field_selector, {"name": change.name, "namespace": change.namespace})

    def deliver(self, change: Change) -> None:
        """Called by the feed greenlet; never blocks."""
        if self.overflowed or not self.concerns(change):
            return
        if len(self.queue) >= self.capacity:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append(change)
        self.ready.set()

    def event_for(self, change: Change) -> tuple[str, str] | None:
        """(type, object JSON) this watcher must send for ``change``, or None (selector semantics)."""
        if not self.label_selector:
            return change.type, change.body
        now_matches = selectors.matches(self.label_selector, _labels(change.body))
        if change.type != MODIFIED or change.prev_body is None:
            return (change.type, change.body) if now_matches else None
        was_matching = selectors.matches(self.label_selector, _labels(change.prev_body))
        if now_matches:
            return (MODIFIED if was_matching else ADDED), change.body
        if was_matching:
            previous = json.loads(change.prev_body)
            previous["metadata"]["resourceVersion"] = str(change.rv)
            return DELETED, codec.dumps(previous)
        return None


def _labels(body: str) -> dict[str, str]:
    return json.loads(body)["metadata"].get("labels") or {}


class Renderer:
    """Turns events into lines of the requested representation."""

    def __init__(self, kind: Kind, rep: representation.Representation) -> None:
        self.kind = kind
        self.rep = rep
        self.columns_sent = False
        self.include_object = request.args.get("includeObject", "Metadata")

    def event(self, type_: str, body: str) -> str:
        if self.rep.form == representation.JSON:
            return '{"type":"' + type_ + '","object":' + body + "}\n"
        return codec.dumps({"type": type_, "object": self._convert(json.loads(body))}) + "\n"

    def _convert(self, obj: dict) -> dict:
        if self.rep.form == representation.TABLE:
            rendered = table.table(self.kind, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                   self.include_object, self.rep.version, with_columns=not self.columns_sent)
            self.columns_sent = True
            return rendered
        return table.partial_object_metadata(obj, self.rep.version)

    def bookmark(self, rv: int, initial_events_end: bool = False) -> str:
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        if self.rep.form == representation.PARTIAL:
            obj = {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{self.rep.version}",
                   "metadata": metadata}
        else:
            obj = {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": metadata}
            if self.rep.form == representation.TABLE:
                obj = {"kind": "Table", "apiVersion": f"meta.k8s.io/{self.rep.version}", "metadata": metadata,
                       "columnDefinitions": None,
                       "rows": [{"cells": [], "object": table.partial_object_metadata(obj, self.rep.version)}]}
        return codec.dumps({"type": "BOOKMARK", "object": obj}) + "\n"


def _error_line(error: ApiError) -> str:
    return codec.dumps({"type": "ERROR", "object": error.status()}) + "\n"


def _options() -> tuple[str, str, bool | None]:
    args = request.args
    rv_text = args.get("resourceVersion", "")
    rv_match = args.get("resourceVersionMatch", "")
    send_initial_text = args.get("sendInitialEvents")
    send_initial = None if send_initial_text is None else send_initial_text in ("true", "1")
    problems = []
    if rv_match and rv_match != "NotOlderThan":
        problems.append(FieldError("resourceVersionMatch", f'Unsupported value: "{rv_match}": supported values: '
                                   '"NotOlderThan"'))
    if send_initial is not None and rv_match != "NotOlderThan":
        problems.append(FieldError("resourceVersionMatch", 'Forbidden: sendInitialEvents requires setting '
                                   'resourceVersionMatch to NotOlderThan'))
    if rv_match and send_initial is None:
        problems.append(FieldError("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden for watch "
                                   "unless sendInitialEvents is provided"))
    if problems:
        raise errors.invalid_options("ListOptions", problems)
    if rv_text and not rv_text.isdigit():
        raise errors.bad_request(f'invalid resource version "{rv_text}": resourceVersion must be a non-negative '
                                 "integer")
    return rv_text, rv_match, send_initial


def serve(kind: Kind, namespace: str | None, label_selector, field_selector) -> Response:
    rv_text, _, send_initial = _options()
    settings = current_app.extensions["ark.settings"]
    store: Store = current_app.extensions["ark.store"]
    feed: ChangeFeed = current_app.extensions["ark.feed"]
    rep = representation.negotiate(is_list=False)
    timeout_text = request.args.get("timeoutSeconds", "")
    timeout = int(timeout_text) if timeout_text.isdigit() and int(timeout_text) > 0 else 1800 * (1 + random.random())
    bookmarks = request.args.get("allowWatchBookmarks") in ("true", "1")
    initial = send_initial if send_initial is not None else rv_text in ("", "0")
    start = int(rv_text) if rv_text and rv_text != "0" else 0
    if start:
        deadline = time.monotonic() + TOO_NEW_WAIT_SECONDS
        while store.revisions()[0] < start:
            if time.monotonic() >= deadline:
                raise errors.too_large_resource_version(start, store.revisions()[0])
            gevent.sleep(0.05)
    watcher = Watcher(kind, namespace, label_selector, field_selector, settings.watch_queue_size)
    renderer = Renderer(kind, rep)
    feed.start()

    def stream() -> Iterator[str]:
        cursor = feed.subscribe(watcher)
        try:
            yield from _events(store, feed, watcher, renderer, cursor, initial, start, bookmarks and send_initial,
                               bookmarks, timeout, settings.bookmark_interval)
        finally:
            feed.unsubscribe(watcher)

    response = Response(stream_with_context(stream()), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def _events(store: Store, feed: ChangeFeed, watcher: Watcher, renderer: Renderer, cursor: int, initial: bool,
            start: int, end_bookmark: bool, bookmarks: bool, timeout: float, bookmark_interval: float) -> Iterator[str]:
    covered = start
    if initial:
        page = store.list(ListQuery(watcher.kind.resource, watcher.namespace, watcher.label_selector,
                                    watcher.field_selector))
        for body in page.items:
            yield renderer.event(ADDED, body)
        covered = page.rv
        if end_bookmark:
            yield renderer.bookmark(covered, initial_events_end=True)
    else:
        _, floor = store.revisions()
        if covered < floor - 1:
            yield _error_line(errors.expired(f"too old resource version: {covered} ({floor})"))
            return
        while covered < cursor:  # history between the requested revision and the feed's position
            rows = [row for row in store.changes_after(covered, 1000) if row.rv <= cursor]
            if not rows:
                break
            for row in rows:
                change = Change(row.rv, row.resource, row.namespace, row.name, row.type, row.body, row.prev_body)
                if watcher.concerns(change):
                    event = watcher.event_for(change)
                    if event is not None:
                        yield renderer.event(*event)
                covered = row.rv
        covered = max(covered, cursor)
    deadline = time.monotonic() + timeout
    next_bookmark = time.monotonic() + bookmark_interval
    while True:
        now = time.monotonic()
        if now >= deadline:
            return
        wait = min(deadline, next_bookmark) - now if bookmarks else deadline - now
        if not watcher.queue and not watcher.overflowed:
            watcher.ready.clear()
            watcher.ready.wait(timeout=max(wait, 0))
        if watcher.overflowed:
            yield _error_line(errors.expired("the watch fell too far behind the change stream; list again"))
            return
        while watcher.queue:
            change = watcher.queue.popleft()
            if change.rv <= covered:
                continue
            covered = change.rv
            event = watcher.event_for(change)
            if event is not None:
                yield renderer.event(*event)
        if bookmarks and time.monotonic() >= next_bookmark:
            yield renderer.bookmark(max(covered, feed.cursor))
            next_bookmark = time.monotonic() + bookmark_interval
