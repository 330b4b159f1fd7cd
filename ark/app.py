"""The application factory: settings -> services -> request seam -> blueprints -> error handlers.

``create_app`` does no I/O; :meth:`ark.services.Services.start` (called from gunicorn's worker
hook) starts what needs the database.
"""
from __future__ import annotations

import json
import logging

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ark.api import discovery, health, metrics, openapi, resources, reviews, security
from ark.api.request_info import compute_request_info
from ark.machinery import codec
from ark.machinery.errors import ApiError, internal, service_unavailable
from ark.observability import logs
from ark.services import EXTENSION, Services
from ark.settings import Settings
from ark.storage.store import StorageUnavailable, Store

log = logging.getLogger(__name__)


def _status_response(error: ApiError) -> Response:
    status = error.status()
    g.error_status = status  # the audit event records it
    response = Response(codec.dumps(status), status=error.code, mimetype="application/json")
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (unknown path, wrong method) as Kubernetes Status objects."""
    reasons = {404: "NotFound", 405: "MethodNotAllowed", 400: "BadRequest", 413: "RequestEntityTooLarge"}
    messages = {404: "the server could not find the requested resource"}
    code = error.code or 500
    message = messages.get(code, error.description or error.name)
    details: dict[str, object] | None = {} if code == 404 else None
    allow = {"Allow": ", ".join(error.valid_methods)} if isinstance(error, MethodNotAllowed) and error.valid_methods \
        else None
    return _status_response(ApiError(code, reasons.get(code, error.name.replace(" ", "")), message, details, allow))


def _storage_unavailable(error: StorageUnavailable) -> Response:
    """A storage outage that reached no view's own translation is still a 503, never a 500."""
    return _status_response(service_unavailable(f"the storage is unavailable, please retry: {error}"))


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error while serving a request")
    return _status_response(internal("the server could not complete the request; its log has the details"))


def _add_warnings(response: Response) -> Response:
    """``Warning: 299`` headers for what the request was warned about, also on error responses."""
    for warning in dict.fromkeys(g.get("warnings", ())):
        response.headers.add("Warning", "299 - " + json.dumps(warning))
    return response


def create_app(settings: Settings, store: Store | None = None) -> Flask:
    app = Flask("ark")
    app.extensions[EXTENSION] = Services.create(settings, store)
    # The request seam, in order: audit id, RequestInfo, authentication and authorization.
    app.before_request(security.begin_audit)
    app.before_request(compute_request_info)
    app.before_request(metrics.start_request)
    app.before_request(security.admit)
    for module in (discovery, openapi, health, metrics, resources, reviews):
        app.register_blueprint(module.blueprint)
    app.register_error_handler(ApiError, _status_response)
    app.register_error_handler(StorageUnavailable, _storage_unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.after_request(logs.log_request)  # hooks run in reverse: registered first, it sees the final response
    app.after_request(_add_warnings)
    app.after_request(metrics.finish_request)
    app.after_request(security.finish_audit)
    return app
