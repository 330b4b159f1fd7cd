"""The application factory: settings -> store -> change feed -> registry -> blueprints."""
from __future__ import annotations

import json
import logging

from flask import Flask, Response, g
from gevent import monkey
from werkzeug.exceptions import HTTPException

from ark.api import discovery, health, openapi, resources
from ark.kinds import REGISTRY
from ark.machinery import codec
from ark.machinery.errors import ApiError, internal
from ark.settings import Settings
from ark.storage.engine import create_engine_for
from ark.storage.feed import ChangeFeed, Compactor
from ark.storage.migrations import check_current_engine
from ark.storage.store import Store

log = logging.getLogger(__name__)


def _status_response(error: ApiError) -> Response:
    response = Response(codec.dumps(error.status()), status=error.code, mimetype="application/json")
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (unknown path, wrong method) as Kubernetes Status objects."""
    reasons = {404: "NotFound", 405: "MethodNotAllowed", 400: "BadRequest", 413: "RequestEntityTooLarge"}
    messages = {404: "the server could not find the requested resource"}
    code = error.code or 500
    message = messages.get(code, error.description or error.name)
    details = {} if code == 404 else None
    return _status_response(ApiError(code, reasons.get(code, error.name.replace(" ", "")), message, details))


def _add_warnings(response: Response) -> Response:
    """``Warning: 299`` headers for what the request was warned about, also on error responses."""
    for warning in g.get("warnings", ()):
        response.headers.add("Warning", "299 - " + json.dumps(warning))
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error while serving a request")
    return _status_response(internal(type(error).__name__))


def create_app(settings: Settings) -> Flask:
    app = Flask("ark")
    engine = create_engine_for(settings)
    check_current_engine(engine)
    store = Store(engine)
    feed = ChangeFeed(store, settings.watch_poll_interval)
    compactor = Compactor(store, settings.history_retention, settings.history_min_revisions,
                          settings.history_compaction_interval)
    app.extensions["ark.settings"] = settings
    app.extensions["ark.registry"] = REGISTRY
    app.extensions["ark.store"] = store
    app.extensions["ark.feed"] = feed
    app.extensions["ark.compactor"] = compactor
    for module in (discovery, openapi, health, resources):
        app.register_blueprint(module.blueprint)
    app.register_error_handler(ApiError, _status_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    if monkey.is_module_patched("socket"):  # a gevent worker: feed (LISTEN) and compaction run from boot
        feed.start()
        compactor.start()
    app.before_request(feed.start)
    app.after_request(_add_warnings)
    app.before_request(compactor.start)
    return app
