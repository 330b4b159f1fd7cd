"""The server's log: text for people (``make dev``) or JSON, one object a line, for log collectors.

Every record of the process goes through one handler on stderr, in one format: the server's own
lines, gunicorn's (its error log; its access log stays off, the request line below replaces it),
Python warnings. A record's ``fields`` (``extra={"fields": {...}}``) become keys of its JSON object,
or ``key=value`` pairs after the text message, as klog writes them.

Each request gets one line when its response closes (a watch when it ends), from what the request
seam already worked out: its RequestInfo and audit record (user, ``Audit-Id``), and the start time
the metrics took. Health probes are logged at debug: kubelet asks every few seconds.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from typing import Any

from flask import Response, g, request
from gunicorn import glogging

from ark.api.request_info import RequestInfo
from ark.api.security import AUDIT_ID
from ark.security.audit import MAX_USER_AGENT, RequestAudit
from ark.settings import HEALTH_PATHS

FIELDS = "fields"  # the LogRecord attribute with a record's structured fields
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_URI = 4096

request_log = logging.getLogger("ark.request")


def _rfc3339(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "pid", "msg", <fields>..., "error"}`` on one line; a traceback
    is the ``error`` string, so it stays inside the line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _rfc3339(record.created), "level": record.levelname.lower(),
                                 "logger": record.name, "pid": record.process, "msg": record.getMessage()}
        entry.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> key=value...`` (empty fields left out)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = [f"{key}={_text_value(value)}" for key, value in (getattr(record, FIELDS, None) or {}).items()
                 if value not in ("", None, [], {})]
        return " ".join([line, *pairs])


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


class _StderrHandler(logging.StreamHandler):
    """The handler :func:`configure` installs (others, a test runner's say, are left alone)."""


def configure(log_format: str, level: str) -> None:
    """Route every record of this process (and of the workers it forks) to stderr in ``log_format``."""
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StderrHandler)]:  # configured again: replaced
        root.removeHandler(previous)
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    if level != "debug":  # alembic chatters at INFO (plugins, context) each time a worker checks the schema
        logging.getLogger("alembic").setLevel(logging.WARNING)


def log_greenlet_errors(hub: Any) -> None:
    """A greenlet that dies of an exception is one record (``error`` holds its traceback), not the
    lines gevent's hub prints to stderr by itself."""
    greenlets = logging.getLogger("ark.greenlet")

    def print_exception(context: Any, kind: Any, value: Any, tb: Any) -> None:
        greenlets.error("%s failed with %s", context, kind.__name__ if kind else "an error", exc_info=(kind, value, tb))

    hub.print_exception = print_exception


class GunicornLogger(glogging.Logger):
    """gunicorn's logger (its ``logger_class``), writing through the handler :func:`configure`
    set up instead of its own; no access log: the app logs each request itself."""

    def setup(self, cfg: Any) -> None:
        if not any(isinstance(handler, _StderrHandler) for handler in logging.getLogger().handlers):
            configure("text", cfg.loglevel)  # gunicorn run without the server's settings: still logs
        self.cfg = cfg
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self.error_log.propagate = True
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)

    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Requests are logged by :func:`log_request`, with what gunicorn does not know (user, verb)."""


def request_fields(audit: RequestAudit | None, info: RequestInfo | None, audit_id: str, code: int) -> dict[str, Any]:
    """The fields of a request's line (but its duration), from the request seam's audit record and
    RequestInfo. Read while the request is current: the line is written after it is gone."""
    user = audit.user.name if audit is not None and audit.user is not None else ""
    fields: dict[str, Any] = {
        "auditID": audit_id, "user": user, "verb": info.verb if info else request.method.lower(),
        "resource": info.resource if info else "", "subresource": info.subresource if info else "",
        "namespace": info.namespace if info else "",
        "name": (info.name if info else "") or (audit.object_name if audit else ""),
        "code": code,
    }
    if audit is not None and audit.impersonated is not None:
        fields["impersonatedUser"] = audit.impersonated.name
    uri = audit.request_uri if audit is not None else request.path
    fields["uri"] = uri if len(uri) <= MAX_URI else uri[:MAX_URI] + "..."
    agent = audit.user_agent if audit is not None else request.headers.get("User-Agent") or ""
    fields["userAgent"] = agent[:MAX_USER_AGENT]
    # As the audit event has them: X-Forwarded-For's (kube-apiserver's proxy names the client), then the peer.
    fields["sourceIPs"] = audit.source_ips if audit is not None else [request.remote_addr or ""]
    return fields


def log_request(response: Response) -> Response:
    """``after_request``, the last one to run (the ``Audit-Id`` header is set): one line per request,
    written when the response closes, with ``durationMs`` from the start the metrics took to then."""
    code = response.status_code
    health = any(request.path == path or request.path.startswith(path + "/") for path in HEALTH_PATHS)
    level = logging.DEBUG if health else logging.WARNING if code >= 500 else logging.INFO
    if not request_log.isEnabledFor(level):
        return response
    fields = request_fields(g.get("audit"), g.get("request_info"), response.headers.get(AUDIT_ID, ""), code)
    started: float = g.get("request_started", time.monotonic())

    def done() -> None:
        fields["durationMs"] = round((time.monotonic() - started) * 1000, 3)
        request_log.log(level, "HTTP", extra={FIELDS: fields})

    response.call_on_close(done)
    return response
