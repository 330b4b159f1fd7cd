"""The request seam's security stages, run before any view parses a body.

1. :func:`begin_audit` (first): the request's ``Audit-Id`` and the audit record it fills.
2. The RequestInfo (:mod:`ark.api.request_info`).
3. :func:`admit`: authenticate, impersonate (``Impersonate-*``), authorize — once per request,
   so a list or a watch is authorized once, at its start. In delegated mode, until the
   authentication configuration is loaded only the always-allowed paths are served (503 else).
4. :func:`finish_audit` (after the view, errors included): the ``Audit-Id`` response header and
   the audit events — ``ResponseComplete`` as the response leaves (for a streamed one, a watch,
   when it ends, after a ``ResponseStarted`` as it begins). Health checks are not audited.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
from typing import Any

from flask import Response, g, request

from ark.api.request_info import request_info
from ark.machinery import errors
from ark.security import impersonation
from ark.security.audit import RequestAudit, new_audit_id
from ark.security.authn import ANONYMOUS_USER
from ark.security.authz import Attributes
from ark.services import services
from ark.settings import HEALTH_PATHS

AUDIT_ID = "Audit-Id"


def _health(path: str) -> bool:
    return any(path == health or path.startswith(health + "/") for health in HEALTH_PATHS)


def _source_ips() -> list[str]:
    """kube-apiserver's order: X-Forwarded-For, else X-Real-Ip, then the connection's address."""
    ips = []
    headers = request.headers
    for candidate in filter(None, (part.strip() for part in (headers.get("X-Forwarded-For") or "").split(","))):
        with contextlib.suppress(ValueError):
            ips.append(str(ipaddress.ip_address(candidate)))
    real_ip = "" if ips else (headers.get("X-Real-Ip") or "").strip()
    if real_ip:
        with contextlib.suppress(ValueError):
            ips.append(str(ipaddress.ip_address(real_ip)))
    remote = request.remote_addr
    if remote and (not ips or ips[-1] != remote):
        ips.append(remote)
    return ips


def _request_uri() -> str:
    raw = request.environ.get("RAW_URI")
    if raw:
        return str(raw)
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _peer_certificate() -> bytes | None:
    """The client's TLS certificate (DER) as the handshake verified it, if it sent one."""
    sock: Any = request.environ.get("gunicorn.socket")
    try:
        der = sock.getpeercert(binary_form=True) if sock is not None else None
    except (AttributeError, ValueError):  # not a TLS socket
        return None
    return bytes(der) if der else None


def begin_audit() -> None:
    g.audit = RequestAudit(new_audit_id(request.headers.get(AUDIT_ID)), dt.datetime.now(dt.UTC), _request_uri(),
                           _source_ips(), request.headers.get("User-Agent") or "")


def admit() -> None:
    audit: RequestAudit = g.audit
    audit.info = info = request_info()
    delegation = services().security.delegation
    if delegation is None:
        audit.user = ANONYMOUS_USER
        return
    authorizer = delegation.authorizer
    problem = delegation.config.problem()
    if problem and (info.is_resource_request or not authorizer.always_allowed_path(info.path)):
        raise errors.service_unavailable(f"the server is not ready yet: {problem}")
    headers = {name.lower(): value for name, value in request.headers.items()}
    audit.user = user = delegation.authenticator.authenticate(_peer_certificate(), headers)
    if impersonation.requested(headers):
        audit.impersonated = user = impersonation.impersonate(user, headers, authorizer)
    attributes = Attributes.of(user, info)
    decision = authorizer.decide(attributes)
    audit.decided(decision.allowed, decision.reason)
    if not decision.allowed:
        raise attributes.forbidden(decision.reason)


def note_written(name: str) -> None:
    """The name of the object a create wrote (the URL does not say it), for the audit event."""
    audit: RequestAudit | None = g.get("audit")
    if audit is not None:
        audit.object_name = name


def finish_audit(response: Response) -> Response:
    audit: RequestAudit | None = g.get("audit")
    if audit is None:  # a failure before the first stage; the response still gets an id
        response.headers[AUDIT_ID] = new_audit_id(None)
        return response
    response.headers[AUDIT_ID] = audit.audit_id
    log = services().security.audit
    if log is None or _health(request.path):
        return response
    status = g.get("error_status")
    code = response.status_code
    if not response.is_streamed:  # written before the response leaves: nothing is served unaudited
        log.write(audit.event("ResponseComplete", code, status))
        return response
    if audit.long_running:
        log.write(audit.event("ResponseStarted", code, status))
    response.call_on_close(lambda: log.write(audit.event("ResponseComplete", code, status)))
    return response
