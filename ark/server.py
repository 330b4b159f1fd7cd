"""How gunicorn runs the server: the config (from Settings), its hooks, and an in-process application.

Both ways of starting use this module, so they serve identically:

* ``gunicorn -c config/gunicorn.conf.py wsgi:app`` — the config file is a few lines calling
  :func:`gunicorn_config`, which reads everything from ``Settings.load()`` (ARK_* env / ARK_CONFIG).
* ``python -m ark serve`` (and the single-file binary, which has no config/ directory) — runs
  :class:`ArkApplication` with :func:`gunicorn_options`.

The WSGI app is created in each worker after fork (no preload): ``create_app(Settings.load())``,
so workers read their settings from the ARK_* environment the master set up.
"""
from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import gc
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent
from gunicorn.app.base import BaseApplication
from gunicorn.workers.ggevent import GeventWorker

from ark.machinery.errors import ApiError
from ark.observability import logs
from ark.observability.metrics import prepare_multiprocess_dir, remove_multiprocess_dir, worker_exited
from ark.security.serving import ServingTLS
from ark.security.tls import ServingCert, ensure_serving_cert
from ark.settings import Settings, host_port
from ark.storage.dialects import DIALECTS
from ark.storage.feed import close_all_feeds

log = logging.getLogger(__name__)

WORKER_CONNECTIONS = 10000
# gunicorn clamps request-line limits above 8190 down to 8190; 0 lifts the limit (gunicorn still caps
# the line at 1 MiB), so long label and field selectors are never refused with 414/400.
LIMIT_REQUEST_LINE = 0
LIMIT_REQUEST_FIELD_SIZE = 16384
TIMEOUT = 60  # gevent workers keep heart-beating while requests (watches) run, so this never kills a watch
GRACEFUL_TIMEOUT = 10
KEEPALIVE = 75  # only turns keep-alive on: idle connections get ArkGeventWorker's head timeout
WORKER_CLASS = "ark.server.ArkGeventWorker"
WORKER_BOOT_ERROR = 3  # gunicorn's exit code for a worker that failed to boot: the master stops


#: The serving TLS of this worker process (set after fork, once its app is built).
_worker_serving: ServingTLS | None = None


class ServeError(Exception):
    """The server cannot start (e.g. its port is taken). The message is one line."""


def gunicorn_options(settings: Settings, cert: ServingCert) -> dict[str, Any]:
    """The gunicorn settings (names as in gunicorn's config file) for these Settings."""
    return {
        "bind": [settings.bind()],
        "workers": settings.workers,
        "worker_class": WORKER_CLASS,
        "worker_connections": WORKER_CONNECTIONS,
        "certfile": cert.cert_file,
        "keyfile": cert.key_file,
        "preload_app": False,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "timeout": TIMEOUT,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "keepalive": KEEPALIVE,
        "logger_class": logs.GunicornLogger,  # through the one handler of logs.configure; no access log
        "loglevel": settings.log_level,
        "proc_name": "ark-apiserver",
        # gunicorn's control socket lives at one fixed path per user: several servers (tests) collide.
        "control_socket_disable": True,
        "on_starting": _prepare_workers,
        "post_fork": _post_fork_hook(settings),
        "post_worker_init": _start_services,
        "child_exit": _worker_exited,
        "on_exit": _remove_metrics,
        "ssl_context": _handshake_in_worker,
        "when_ready": _when_ready_hook(settings),
    }


def check_startup(settings: Settings) -> str | None:
    """What must hold before gunicorn starts (ConfigError, one line, when not): auth mode off only
    on loopback, the cluster's API configured in delegated mode. Returns a warning to log, if any."""
    from ark.security.access import check_delegated

    warning = settings.check_bind()
    check_delegated(settings)
    return warning


def gunicorn_config(settings: Settings | None = None) -> dict[str, Any]:
    """What config/gunicorn.conf.py exports. Runs in the master: checks the security settings,
    makes/loads the serving certificate."""
    settings = settings if settings is not None else Settings.load()
    logs.configure(settings.log_format, settings.log_level)
    warning = check_startup(settings)
    if warning:
        log.warning("ark-apiserver: %s", warning)
    prepare_multiprocess_dir()
    return gunicorn_options(settings, ensure_serving_cert(settings))


def _prepare_workers(server) -> None:
    """In the master, before it forks: what every worker would otherwise import and build by itself
    before it can serve (the app's modules, the OpenAPI documents). Forked, the workers share it."""
    from ark.api.openapi import documents_of
    from ark.app import create_app  # noqa: F401 - imported for the workers
    from ark.kinds import REGISTRY
    from ark.kinds.core import CORE

    documents_of(REGISTRY, CORE)  # the core kinds' document is only served in standalone mode
    freeze_heap()


def freeze_heap() -> None:
    """Move what exists now, built to live as long as the process, out of the collector's
    generations (``gc.freeze``). A full collection otherwise walks all of it: measured under
    load, a 60-95 ms pause of every request and watch of the worker every few seconds
    (bench/README.md). Frozen in the master, forked workers also keep sharing those pages
    instead of the collector's reference-count writes copying them. At exit the heap is thawed,
    so that the interpreter's last collection finalizes it in order, as it would have."""
    gc.collect()
    gc.freeze()
    atexit.unregister(gc.unfreeze)  # registered once, however often the heap is frozen
    atexit.register(gc.unfreeze)


def _post_fork_hook(settings: Settings) -> Callable:
    def post_fork(server, worker) -> None:
        # Until the worker installs its own handlers it has the master's, which only queue a signal
        # for the master's loop, which a worker does not run: a stop during its boot would be lost.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        DIALECTS[settings.storage_driver].prepare_worker()
        _end_watches_on_exit(worker)
        if isinstance(worker, ArkGeventWorker):
            worker.read_header_timeout = settings.read_header_timeout
            worker.request_timeout = settings.request_timeout

    return post_fork


def _worker_exited(server, worker) -> None:
    worker_exited(worker.pid)


def _remove_metrics(server) -> None:
    remove_multiprocess_dir()


def _start_services(worker) -> None:
    """Once the worker has built its app: check the schema, start the change feed and the
    compactor. A worker that cannot start makes gunicorn stop (its boot-error exit code)."""
    from ark.services import find_services

    global _worker_serving
    app = worker.wsgi.app if isinstance(worker.wsgi, _BodyDeadlines) else worker.wsgi  # ArkGeventWorker wraps it
    app_services = find_services(app)
    if app_services is None:
        return
    try:
        app_services.start()
    except Exception as err:  # noqa: BLE001 - reported in one line; the master halts on this exit code
        worker.log.error("ark-apiserver: cannot start: %s", " ".join(str(err).split()) or type(err).__name__)
        sys.exit(WORKER_BOOT_ERROR)
    _worker_serving = app_services.security.serving
    logs.log_greenlet_errors(gevent.get_hub())
    freeze_heap()  # the app, the caches and the services just built
    worker.log.info("ark-apiserver: worker %d started", worker.pid)


def _end_watches_on_exit(worker) -> None:
    """On a graceful stop, end open watches at once (clients resume elsewhere from their last
    revision) instead of letting gunicorn wait out its graceful timeout for them."""
    handle_exit = worker.handle_exit

    def handle_exit_and_end_watches(sig, frame) -> None:
        gevent.spawn(close_all_feeds)
        handle_exit(sig, frame)

    worker.handle_exit = handle_exit_and_end_watches


def _handshake_in_worker(config, default_ssl_context_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """gunicorn's TLS context (called in each worker as it starts serving), whose sockets defer
    the handshake to ArkGeventWorker.handle.

    gevent's server would otherwise shake hands before gunicorn sees the connection, without
    any timeout: a client that connects and sends nothing would hold its socket for ever. For
    our app it is the context that renews itself (ark.security.serving), gunicorn's own else.
    """
    context = _worker_serving.context() if _worker_serving is not None else default_ssl_context_factory()
    context.wrap_socket = functools.partial(context.wrap_socket, do_handshake_on_connect=False)  # type: ignore
    return context


class _SlowClient(Exception):
    """The client took too long over its handshake, request head or body."""


class ArkGeventWorker(GeventWorker):
    """gunicorn's gevent worker with kube-apiserver's guards against slow clients.

    Go's HTTP server, as kube-apiserver configures it, gives a request head 32 s
    (``ReadHeaderTimeout``) and the whole request 60 s (``--request-timeout``); gunicorn's
    gevent worker bounds only the head, by its keep-alive time. Here:

    * the TLS handshake and each request head (or the idle time before it, on a kept-alive
      connection) must complete within ``--read-header-timeout``, else the connection closes;
    * a request body that sends nothing for ``--read-header-timeout`` is answered 408 and one
      that has not arrived within ``--request-timeout`` is answered 504, and the connection
      closes after that answer. The response itself is never timed: watches stream for as
      long as they last, and large lists go to slow readers.
    """

    read_header_timeout = 30.0
    request_timeout = 60.0
    wsgi: Callable[..., Iterable[bytes]]  # set by gunicorn's load_wsgi

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fresh: set[gevent.Greenlet] = set()  # connections before their first request
        self._waiting: dict[gevent.Greenlet, gevent.Timeout] = {}  # kept-alive ones waiting for the next

    @contextlib.contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        """Around each wait for a request head (gunicorn's keep-alive loop): the connection closes
        when it passes. Between two requests it also closes as soon as the worker stops, as Go's
        Shutdown closes idle connections: a client's kept-alive connection must not hold the stop up
        for the graceful timeout. A new connection still gets its first request served."""
        current = gevent.getcurrent()
        first = current in self._fresh
        self._fresh.discard(current)
        timeout = gevent.Timeout(self.read_header_timeout if first or self.alive else 0, False)
        if not first:
            self._waiting[current] = timeout
        try:
            with timeout:
                yield
        finally:
            self._waiting.pop(current, None)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        gevent.get_hub().loop.run_callback(self._end_waits)

    def _end_waits(self) -> None:
        """In the hub, so no connection moves on meanwhile: each one still waiting gets its wait's own
        timeout thrown in, which ends the wait quietly; gunicorn then closes the connection."""
        for greenlet, timeout in list(self._waiting.items()):
            if greenlet in self._waiting:
                greenlet.throw(timeout)

    def handle(self, listener, client, addr) -> None:
        self._fresh.add(gevent.getcurrent())
        try:
            self._handle(listener, client, addr)
        finally:
            self._fresh.discard(gevent.getcurrent())

    def _handle(self, listener, client, addr) -> None:
        if isinstance(client, ssl.SSLSocket):
            try:
                with gevent.Timeout(self.read_header_timeout, _SlowClient):
                    client.do_handshake()
            except (_SlowClient, ssl.SSLError, OSError) as err:
                if isinstance(err, ssl.SSLError) and err.reason == "HTTP_REQUEST":
                    _answer_plain_http(client)
                peer = host_port(*addr[:2]) if isinstance(addr, tuple) else str(addr)
                problem = _handshake_problem(err, self.read_header_timeout)
                self.log.info("TLS handshake from %s failed: %s", peer, problem)
                client.close()
                return
        super().handle(listener, client, addr)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = _BodyDeadlines(self.wsgi, self)


PLAIN_HTTP_LINGER = 1.0  # seconds the rest of a plain-HTTP request is read before closing
#: What Go's HTTP server (so kube-apiserver) answers plain HTTP on a TLS port, in plain HTTP.
PLAIN_HTTP_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"


def _answer_plain_http(client: ssl.SSLSocket) -> None:
    """Tell a client that spoke plain HTTP why it gets nothing else. The rest of its request is
    read (a little of it, for a second at most) before closing: closing with it unread would reset
    the connection, and the client could lose the answer."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(client.fileno())) as raw:
        raw.settimeout(PLAIN_HTTP_LINGER)
        raw.sendall(PLAIN_HTTP_ANSWER)
        raw.shutdown(socket.SHUT_WR)
        unread = 64 * 1024
        while unread > 0 and (chunk := raw.recv(min(unread, 16384))):
            unread -= len(chunk)


def _handshake_problem(err: BaseException, timeout: float) -> str:
    """A failed handshake in a few words, for its one log line."""
    if isinstance(err, _SlowClient):
        return f"no handshake within {timeout:g}s"
    if isinstance(err, ssl.SSLError) and err.reason == "HTTP_REQUEST":
        return "the client sent plain HTTP to the HTTPS port"
    if isinstance(err, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or "EOF" in str(err):
        return "the client closed the connection"
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason).lower().replace("_", " ")
    return (getattr(err, "strerror", None) or str(err) or type(err).__name__).lower()


class _BodyDeadlines:
    """WSGI middleware: the request body is read under the worker's stall and total deadlines."""

    def __init__(self, app: Callable, worker: ArkGeventWorker) -> None:
        self.app = app
        self.worker = worker

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if sock is not None and (chunked or length not in ("", "0")):
            environ["wsgi.input"] = _GuardedBody(environ["wsgi.input"], sock, self.worker.read_header_timeout,
                                                 time.monotonic() + self.worker.request_timeout,
                                                 self.worker.request_timeout,
                                                 None if chunked or not length.isdigit() else int(length))
        return self.app(environ, start_response)


class _GuardedBody:
    """A request body stream whose reads fail with a Kubernetes Status when the client is too slow.

    Each read may wait at most ``stall`` seconds for the next bytes (a socket timeout) and
    must end by ``deadline``. On either, the socket's read side is shut down, so that once
    the error is answered gunicorn finds the connection at its end and closes it. A body that
    ends before its Content-Length (gunicorn hands the shorter body on as if complete) is 400.
    """

    def __init__(self, stream: Any, sock: Any, stall: float, deadline: float, total: float,
                 length: int | None) -> None:
        self.stream = stream
        self.sock = sock
        self.stall = stall
        self.deadline = deadline
        self.total = total
        self.length = length
        self.received = 0

    def _guarded(self, read: Callable, *args: Any) -> Any:
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise _SlowClient
            self.sock.settimeout(self.stall)
            with gevent.Timeout(remaining, _SlowClient):
                return read(*args)
        except (TimeoutError, ssl.SSLError) as err:
            if not isinstance(err, TimeoutError) and "timed out" not in str(err):
                raise  # a broken connection, not a slow one
            self._end_reading()
            raise ApiError(408, "Timeout", f"Timeout: the request body stalled: nothing arrived for {self.stall:g}s; "
                                           "send the body without pauses") from None
        except _SlowClient:
            self._end_reading()
            raise ApiError(504, "Timeout", "Timeout: request did not complete within requested timeout - the request "
                                           f"body did not arrive within {self.total:g}s") from None
        finally:
            self.sock.settimeout(None)

    def _end_reading(self) -> None:
        try:
            raw = socket.socket(fileno=os.dup(self.sock.fileno()))
        except OSError:
            return
        with raw, contextlib.suppress(OSError):  # closes the duplicate only
            raw.shutdown(socket.SHUT_RD)

    def read(self, size: int | None = -1) -> bytes:
        data = self._guarded(self.stream.read, size)
        self.received += len(data)
        if self.length is not None and self.received < self.length and (size is None or size < 0 or len(data) < size):
            raise ApiError(400, "BadRequest", f"unexpected EOF: the request body ended after {self.received} of the "
                                              f"{self.length} bytes its Content-Length announced")
        return data

    def readline(self, size: int | None = -1) -> bytes:
        return self._guarded(self.stream.readline, size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return self._guarded(self.stream.readlines, hint)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def _when_ready_hook(settings: Settings) -> Callable:
    def when_ready(server) -> None:
        server.log.info(
            "ark-apiserver: serving %s (%d worker%s, %s)",
            settings.server_url(),
            settings.workers,
            "" if settings.workers == 1 else "s",
            settings.describe_database(),
        )

    return when_ready


def create_wsgi_app():
    """The app each worker serves: ``ark.app:create_app(Settings.load())`` (settings from ARK_* env)."""
    from ark.app import create_app

    return create_app(Settings.load())


class ArkApplication(BaseApplication):
    """gunicorn run in-process with the given options; the app is built in each worker."""

    def __init__(self, options: dict[str, Any], app_factory: Callable[[], Any] = create_wsgi_app):
        self.options = options
        self.app_factory = app_factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:
                self.cfg.set(key.lower(), value)

    def load(self):
        return self.app_factory()


def check_port_free(settings: Settings) -> None:
    """Raise ServeError if the server could not listen on its address (in use, not local, not allowed)."""
    where = settings.bind()
    try:
        infos = socket.getaddrinfo(settings.bind_address, settings.secure_port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {where}: cannot resolve {settings.bind_address}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        probe.bind(address)
        probe.listen(1)
    except OSError as exc:
        reason = {
            errno.EADDRINUSE: "address already in use (is another server running?)",
            errno.EACCES: "permission denied",
            errno.EADDRNOTAVAIL: "address not available on this machine",
        }.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
        raise ServeError(f"cannot listen on {where}: {reason}") from None
    finally:
        probe.close()
