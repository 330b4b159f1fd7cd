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

import errno
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

import gevent
from gunicorn.app.base import BaseApplication

from ark.observability.metrics import prepare_multiprocess_dir, remove_multiprocess_dir, worker_exited
from ark.security.tls import ServingCert, ensure_serving_cert
from ark.settings import Settings
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
KEEPALIVE = 75
WORKER_BOOT_ERROR = 3  # gunicorn's exit code for a worker that failed to boot: the master stops


class ServeError(Exception):
    """The server cannot start (e.g. its port is taken). The message is one line."""


def gunicorn_options(settings: Settings, cert: ServingCert) -> dict[str, Any]:
    """The gunicorn settings (names as in gunicorn's config file) for these Settings."""
    return {
        "bind": [settings.bind()],
        "workers": settings.workers,
        "worker_class": "gevent",
        "worker_connections": WORKER_CONNECTIONS,
        "certfile": cert.cert_file,
        "keyfile": cert.key_file,
        "preload_app": False,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "timeout": TIMEOUT,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "keepalive": KEEPALIVE,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level,
        "proc_name": "ark-apiserver",
        # gunicorn's control socket lives at one fixed path per user: several servers (tests) collide.
        "control_socket_disable": True,
        "post_fork": _post_fork_hook(settings),
        "post_worker_init": _start_services,
        "child_exit": _worker_exited,
        "on_exit": _remove_metrics,
        "when_ready": _when_ready_hook(settings),
    }


def gunicorn_config(settings: Settings | None = None) -> dict[str, Any]:
    """What config/gunicorn.conf.py exports. Runs in the master: makes/loads the serving certificate."""
    settings = settings if settings is not None else Settings.load()
    prepare_multiprocess_dir()
    return gunicorn_options(settings, ensure_serving_cert(settings))


def _post_fork_hook(settings: Settings) -> Callable:
    def post_fork(server, worker) -> None:
        DIALECTS[settings.storage_driver].prepare_worker()
        _end_watches_on_exit(worker)

    return post_fork


def _worker_exited(server, worker) -> None:
    worker_exited(worker.pid)


def _remove_metrics(server) -> None:
    remove_multiprocess_dir()


def _start_services(worker) -> None:
    """Once the worker has built its app: check the schema, start the change feed and the
    compactor. A worker that cannot start makes gunicorn stop (its boot-error exit code)."""
    from ark.services import find_services

    app_services = find_services(worker.wsgi)
    if app_services is None:
        return
    try:
        app_services.start()
    except Exception as err:  # noqa: BLE001 - reported in one line; the master halts on this exit code
        worker.log.error("ark-apiserver: cannot start: %s", " ".join(str(err).split()) or type(err).__name__)
        sys.exit(WORKER_BOOT_ERROR)


def _end_watches_on_exit(worker) -> None:
    """On a graceful stop, end open watches at once (clients resume elsewhere from their last
    revision) instead of letting gunicorn wait out its graceful timeout for them."""
    handle_exit = worker.handle_exit

    def handle_exit_and_end_watches(sig, frame) -> None:
        gevent.spawn(close_all_feeds)
        handle_exit(sig, frame)

    worker.handle_exit = handle_exit_and_end_watches


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
