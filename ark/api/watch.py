"""WATCH: a streaming response per watcher, fed by the process's change feed (CONTRACT 6, 8).

A watcher registers with the feed *before* it reads its starting state (a snapshot, or
history from its resourceVersion), so nothing committed in between can be missed; every
change at or below the revision it has already covered is skipped, so nothing is sent twice.

Steady state costs no database query per watcher: the feed greenlet appends each change to
the bounded queue of every watcher on its (resource, namespace) route; the watcher's greenlet
(gunicorn's, iterating this response) renders and writes it. Rendered lines are cached on the
change, once per representation, for all the watchers of the process.

A watcher whose queue overflows, or that the feed had to expire, gets one ERROR event with a
410 Expired Status and its stream ends (clients relist); its queue is dropped at once, and if
its client does not even read that far within ``--watch-overflow-grace`` seconds the connection is
shut down. A client that goes away is noticed while the watch is idle, without a write: the
watch also waits on the client socket, and a readable socket whose TCP peer has closed ends it.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
from flask import Response, request

from ark.api import representation
from ark.kinds.registry import Kind
from ark.machinery import codec, errors, selectors, table
from ark.machinery.errors import ApiError
from ark.machinery.options import ListOptions
from ark.observability.metrics import metrics
from ark.registry.store import storage_errors
from ark.services import services
from ark.storage.feed import Change, ChangeFeed
from ark.storage.store import ADDED, DELETED, MODIFIED, ListQuery, Store, history_complete_after

log = logging.getLogger(__name__)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
HISTORY_PAGE = 1000
BODY, PREVIOUS = "body", "previous"


class Watcher:
    """One watch stream's view of the feed: a bounded queue of the changes on its route."""

    __slots__ = ("capacity", "closed", "failure", "field_selector", "kind", "label_selector", "namespace",
                 "on_failure", "queue", "ready", "route")

    def __init__(self, kind: Kind, namespace: str | None, label_selector, field_selector, capacity: int) -> None:
        self.kind = kind
        self.namespace = namespace
        self.route = (kind.resource, namespace)
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.capacity = capacity
        self.queue: deque[Change] = deque()
        self.failure: ApiError | None = None  # set on overflow or expiry: the ERROR event to end with
        self.closed = False  # set at shutdown: end the stream without an error
        self.ready = gevent.event.Event()
        self.on_failure: Callable[[], None] | None = None

    def concerns(self, change: Change) -> bool:
        if change.resource != self.kind.resource:
            return False
        if self.namespace is not None and change.namespace != self.namespace:
            return False
        if not self.field_selector:
            return True
        keyed, other = selectors.split_fields(self.field_selector)
        return selectors.matches_fields(keyed, {"name": change.name, "namespace": change.namespace}) and (
            not other or selectors.object_matches_fields(other, codec.loads(change.body)))

    def deliver(self, change: Change) -> bool:
        """Called by the feed greenlet; never blocks. False: unsubscribe this watcher."""
        if self.failure is not None:
            return False
        if self.field_selector and not self.concerns(change):
            return True
        if len(self.queue) >= self.capacity:
            log.info("watch: a watcher of %s%s fell more than %d events behind; ending it with 410 Expired",
                     self.kind.resource, f" in {self.namespace}" if self.namespace else "", self.capacity)
            self.fail(errors.expired(f"the watch fell too far behind: more than {self.capacity} events were "
                                     "waiting to be sent; list again"))
            return False
        self.queue.append(change)
        self.ready.set()
        return True

    @property
    def busy(self) -> bool:
        """Half the queue is used: the feed should let this watcher's greenlet run before going on."""
        return len(self.queue) * 2 >= self.capacity

    def expire(self, message: str) -> None:
        self.fail(errors.expired(message))

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    def fail(self, error: ApiError) -> None:
        if self.failure is None:
            self.failure = error
            self.queue.clear()  # free the backlog now, not when the client gets round to reading
            self.ready.set()
            if self.on_failure is not None:
                self.on_failure()

    def event_for(self, change: Change) -> tuple[str, str] | None:
        """(event type, BODY or PREVIOUS) this watcher sends for ``change``, or None (CONTRACT 6.3).

        With a label selector, an object that starts matching is ADDED and one that stops
        matching is DELETED with its previous content at the change's revision."""
        if not self.label_selector:
            return change.type, BODY
        now_matches = selectors.matches(self.label_selector, change.labels)
        if change.type != MODIFIED or change.prev_body is None:
            return (change.type, BODY) if now_matches else None
        was_matching = selectors.matches(self.label_selector, change.prev_labels)
        if now_matches:
            return (MODIFIED if was_matching else ADDED), BODY
        if was_matching:
            return DELETED, PREVIOUS
        return None


def _previous_at(change: Change) -> str:
    """The object before ``change``, stamped with the change's revision (a selector's DELETED)."""
    previous = codec.loads(change.prev_body or change.body)
    previous["metadata"]["resourceVersion"] = str(change.rv)
    return codec.dumps(previous)


class Renderer:
    """Turns events into lines of the requested representation (bytes, one JSON object + newline)."""

    __slots__ = ("columns_sent", "include_object", "kind", "rep", "sent")

    def __init__(self, kind: Kind, rep: representation.Representation, include_object: str) -> None:
        self.kind = kind
        self.rep = rep
        self.include_object = include_object
        self.columns_sent = False
        self.sent = metrics().watch_events.labels(kind.group, kind.version, kind.kind)

    def change(self, type_: str, change: Change, source: str) -> bytes:
        """The line for an event made from ``change``: rendered once per process and representation."""
        self.sent.inc()
        with_columns = self._take_columns()
        key = (type_, source, self.rep.form, self.rep.version, self.include_object, with_columns)

        def render() -> bytes:
            body = change.body if source == BODY else change.rendered((PREVIOUS,), lambda: _previous_at(change))
            return self._line(type_, body, with_columns)

        return change.rendered(key, render)

    def body(self, type_: str, body: str) -> bytes:
        """The line for an event made from a stored body (initial events)."""
        self.sent.inc()
        return self._line(type_, body, self._take_columns())

    def _take_columns(self) -> bool:
        """Table watches carry columnDefinitions on their first event only."""
        if self.rep.form != representation.TABLE or self.columns_sent:
            return False
        self.columns_sent = True
        return True

    def _line(self, type_: str, body: str, with_columns: bool) -> bytes:
        if self.rep.form == representation.JSON:
            return ('{"type":"' + type_ + '","object":' + body + "}\n").encode()
        obj = codec.loads(body)
        if self.rep.form == representation.TABLE:
            converted = table.table(self.kind, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                    self.include_object, self.rep.version, with_columns=with_columns)
        else:
            converted = table.partial_object_metadata(obj, self.rep.version)
        return (codec.dumps({"type": type_, "object": converted}) + "\n").encode()

    def bookmark(self, rv: int, initial_events_end: bool = False) -> bytes:
        """A BOOKMARK: an empty object of the watched kind (or its PartialObjectMetadata / Table row)."""
        self.sent.inc()
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj: dict[str, Any] = {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": metadata}
        if self.rep.form == representation.PARTIAL:
            obj = table.partial_object_metadata(obj, self.rep.version)
        elif self.rep.form == representation.TABLE:
            # kube-apiserver converts the bookmark like any object; the initial-events-end row always
            # carries PartialObjectMetadata so that the annotation survives (handlers/response.go asTable).
            include = "Metadata" if initial_events_end else self.include_object
            obj = table.table(self.kind, [obj], {"resourceVersion": str(rv)}, include, self.rep.version,
                              with_columns=self._take_columns())
        return (codec.dumps({"type": "BOOKMARK", "object": obj}) + "\n").encode()


def error_line(error: ApiError) -> bytes:
    return (codec.dumps({"type": "ERROR", "object": error.status()}) + "\n").encode()


class ClientMonitor:
    """Notices, without writing, that the client of a streaming response went away.

    An idle watch only learns of a dead client when a write fails, which may be a long way
    off. So the watch also waits for its socket to become readable: a well-behaved HTTP/1.1
    client sends nothing while it reads a response, so readability means end of stream
    (FIN or RST, possibly after a TLS close_notify). The TCP state tells which: anything but
    ESTABLISHED is a closed peer, and the watch ends (``gone``). Data from a live client (a
    pipelined request, say) is left unread, and the socket state is then re-checked on a
    slow timer instead. ``abort()`` shuts the connection down under a stuck writer.
    """

    __slots__ = ("_abort_timer", "_fd", "_io", "_sock", "_timer", "_wake", "gone")
    TCP_ESTABLISHED = 1
    RECHECK_SECONDS = (0.05, 1.0)  # first re-check soon (a FIN right after a close_notify), then slowly

    def __init__(self, sock: Any, wake: gevent.event.Event) -> None:
        self.gone = False
        self._sock = sock
        self._wake = wake
        self._fd = sock.fileno()
        loop = gevent.get_hub().loop
        self._io = loop.io(self._fd, 1)  # 1: readable
        self._io.start(self._readable)
        self._timer: Any = None  # made when first needed: most watches never need it
        self._abort_timer: Any = None

    @classmethod
    def for_socket(cls, sock: Any, wake: gevent.event.Event) -> ClientMonitor | None:
        if sock is None:
            return None  # not served by gunicorn (tests with Flask's client): writes will tell
        try:
            return cls(sock, wake)
        except (OSError, ValueError):
            return None

    def _readable(self) -> None:
        self._io.stop()  # level-triggered: stays readable; from now on, poll the TCP state
        self._check()
        if not self.gone:
            self._timer = gevent.get_hub().loop.timer(*self.RECHECK_SECONDS)
            self._timer.start(self._check)

    def _check(self) -> None:
        if self.gone or not self._peer_closed():
            return
        self.gone = True
        if self._timer is not None:
            self._timer.stop()
        self._wake.set()

    def _peer_closed(self) -> bool:
        try:
            info = self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
            return info[0] != self.TCP_ESTABLISHED
        except (OSError, AttributeError, ValueError):  # not TCP, or not Linux: peek the raw socket
            pass
        try:
            raw = socket.socket(fileno=os.dup(self._fd))
        except OSError:
            return True
        try:
            raw.setblocking(False)  # runs in the hub: must never wait
            return raw.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            raw.close()

    def abort_after(self, seconds: float) -> None:
        """Shut the connection down in ``seconds`` unless closed first (a writer stuck on a full socket)."""
        if self._abort_timer is None:
            timer = self._abort_timer = gevent.get_hub().loop.timer(seconds)
            timer.start(self._abort, seconds)

    def _abort(self, seconds: float) -> None:
        log.info("watch: client did not read its 410 within %.0fs; closing the connection", seconds)
        self.gone = True
        try:
            raw = socket.socket(fileno=os.dup(self._fd))
        except OSError:
            return
        try:
            raw.shutdown(socket.SHUT_RDWR)  # the blocked send fails (EPIPE), gunicorn closes the socket
        except OSError:
            pass
        finally:
            raw.close()

    def close(self) -> None:
        for watcher in (self._io, self._timer, self._abort_timer):
            if watcher is not None:
                watcher.stop()
                watcher.close()


def _timeout(options: ListOptions, default_timeout: float) -> float:
    if options.timeout_seconds is not None and options.timeout_seconds > 0:
        return float(options.timeout_seconds)
    return default_timeout * (1 + random.random())  # spread as kube-apiserver spreads them


def serve(kind: Kind, namespace: str | None, options: ListOptions) -> Response:
    app_services = services()
    settings = app_services.settings
    if app_services.feed.subscriber_count >= settings.max_watches:
        raise errors.too_many_requests("Too many requests, please try again later.")
    rep = representation.negotiate(is_list=False)
    rv = int(options.resource_version or 0)
    # Legacy watch: RV unset/"0" sends the current state first; sendInitialEvents says so explicitly.
    initial = options.send_initial_events if options.send_initial_events is not None else rv == 0
    if rv > app_services.feed.cursor:
        app_services.resources.wait_not_older_than(rv)
    watcher = Watcher(kind, namespace, options.label_selector, options.field_selector, settings.watch_queue_size)
    renderer = Renderer(kind, rep, request.args.get("includeObject", "Metadata"))
    stream = _Stream(app_services.store, app_services.feed, watcher, renderer, request.environ.get("gunicorn.socket"),
                     initial=initial, start=rv, end_bookmark=options.watch_list and options.allow_watch_bookmarks,
                     bookmarks=options.allow_watch_bookmarks, timeout=_timeout(options, settings.watch_timeout),
                     bookmark_interval=settings.bookmark_interval, overflow_grace=settings.watch_overflow_grace)
    # No stream_with_context: the stream needs nothing from the request, and an idle watch
    # should hold as little as possible.
    response = Response(stream.run(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache, private"
    return response


class _Stream:
    __slots__ = ("bookmark_interval", "bookmarks", "covered", "end_bookmark", "feed", "initial", "monitor",
                 "overflow_grace", "renderer", "sock", "start", "store", "timeout", "watcher")

    def __init__(self, store: Store, feed: ChangeFeed, watcher: Watcher, renderer: Renderer, sock: Any, *,
                 initial: bool, start: int, end_bookmark: bool, bookmarks: bool, timeout: float,
                 bookmark_interval: float, overflow_grace: float) -> None:
        self.store = store
        self.feed = feed
        self.watcher = watcher
        self.renderer = renderer
        self.sock = sock
        self.monitor: ClientMonitor | None = None
        self.initial = initial
        self.start = start
        self.end_bookmark = end_bookmark
        self.bookmarks = bookmarks
        self.timeout = timeout
        self.bookmark_interval = bookmark_interval
        self.overflow_grace = overflow_grace
        self.covered = 0  # every change at or below this revision has been dealt with

    def run(self) -> Iterator[bytes]:
        # Everything that needs releasing is acquired here, inside the generator, so that its
        # finally clause (run when gunicorn closes the response) always releases it.
        deadline = time.monotonic() + self.timeout
        monitor = self.monitor = ClientMonitor.for_socket(self.sock, self.watcher.ready)
        if monitor is not None:
            self.watcher.on_failure = lambda: monitor.abort_after(self.overflow_grace)
        cursor = self.feed.subscribe(self.watcher)
        try:
            try:
                if not self.initial and not self.start:
                    # "From now": the newest committed revision (this process's feed may not have
                    # read it yet), fixed before the headers go out, so that a client writing once
                    # it has them sees its write.
                    with storage_errors():
                        cursor = max(cursor, self.store.revisions()[0])
                yield b""  # gunicorn sends the headers now, not with the first event
                with storage_errors():
                    yield from self._start(cursor)
            except ApiError as err:
                yield error_line(err)
                return
            except Exception:  # a database failure while reading the starting state
                log.exception("watch: reading the starting state failed")
                yield error_line(errors.internal("the watch could not read its starting state; retry"))
                return
            yield from self._follow(deadline)
        finally:
            self.feed.unsubscribe(self.watcher)
            self.watcher.queue.clear()
            self.watcher.on_failure = None
            if monitor is not None:
                monitor.close()
            self.monitor = self.sock = None

    def _start(self, cursor: int) -> Iterator[bytes]:
        watcher, renderer = self.watcher, self.renderer
        if self.initial:
            keyed, other = selectors.split_fields(watcher.field_selector)
            page = self.store.list(ListQuery(watcher.kind.resource, watcher.namespace, watcher.label_selector,
                                             keyed))
            for body in page.items:
                if not other or selectors.object_matches_fields(other, codec.loads(body)):
                    yield renderer.body(ADDED, body)
            self.covered = page.rv
            if self.end_bookmark:
                yield renderer.bookmark(page.rv, initial_events_end=True)
            return
        if not self.start:  # sendInitialEvents=false without a revision: from now (see run)
            self.covered = cursor
            return
        self.covered = self.start
        while self.covered < cursor:  # the history between the requested revision and the feed's position
            rows = self.store.changes_after(self.covered, HISTORY_PAGE, watcher.kind.resource)
            _, floor = self.store.revisions()  # read after the rows: compaction raises the floor first
            if not history_complete_after(self.covered, floor):
                raise errors.expired(f"too old resource version: {self.start} ({floor})")
            rows = [row for row in rows if row.rv <= cursor]
            if not rows:
                break
            for row in rows:
                change = Change.from_row(row)
                if watcher.concerns(change):
                    event = watcher.event_for(change)
                    if event is not None:
                        yield renderer.change(event[0], change, event[1])
                self.covered = row.rv
        self.covered = max(self.covered, cursor)

    def _follow(self, deadline: float) -> Iterator[bytes]:
        watcher, renderer, monitor = self.watcher, self.renderer, self.monitor
        next_bookmark = time.monotonic() + self.bookmark_interval if self.bookmarks else float("inf")
        while True:
            if watcher.closed or (monitor is not None and monitor.gone):
                return
            if watcher.failure is not None:
                yield error_line(watcher.failure)
                return
            while watcher.queue:
                change = watcher.queue.popleft()
                if change.rv <= self.covered:
                    continue
                self.covered = change.rv
                event = watcher.event_for(change)
                if event is not None:
                    yield renderer.change(event[0], change, event[1])
                if watcher.failure is not None:
                    break
            if watcher.failure is not None:
                continue
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_bookmark:
                # The queue is empty and nothing yields from the check to here: every change up to
                # the feed's cursor that concerns this watcher has been sent.
                yield renderer.bookmark(max(self.covered, self.feed.cursor))
                next_bookmark = time.monotonic() + self.bookmark_interval
                continue
            watcher.ready.clear()
            if watcher.queue or watcher.failure is not None or watcher.closed or (monitor is not None and monitor.gone):
                continue
            watcher.ready.wait(timeout=min(deadline, next_bookmark) - now)
