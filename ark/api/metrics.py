"""``/metrics`` and the per-request metrics, labelled from the request's RequestInfo as
kube-apiserver labels them (verb ``GET``/``LIST``/``WATCH``/``POST``/``PUT``/``PATCH``/``APPLY``/
``DELETE``/``DELETECOLLECTION``; scope ``resource``/``namespace``/``cluster``; component
``apiserver``).

A request is counted when its response is closed, so a watch counts with its whole duration and
is an ``apiserver_longrunning_requests`` while it is open.
"""
from __future__ import annotations

import functools
import logging
import time
from typing import Any

from flask import Blueprint, Response, g, request

from ark.api.request_info import RequestInfo, request_info
from ark.machinery.patch import APPLY
from ark.observability.metrics import exposition, metrics
from ark.services import services
from ark.storage.store import StorageUnavailable

log = logging.getLogger(__name__)
blueprint = Blueprint("ark_metrics", __name__)

COMPONENT = "apiserver"
_VERBS = {"get": "GET", "list": "LIST", "watch": "WATCH", "create": "POST", "update": "PUT", "patch": "PATCH",
          "delete": "DELETE", "deletecollection": "DELETECOLLECTION"}


def _scope(info: RequestInfo) -> str:
    if info.name or info.verb == "create":
        return "resource"
    return "namespace" if info.namespace else "cluster"


def _verb(info: RequestInfo) -> str:
    if info.verb == "patch" and (request.content_type or "").split(";")[0].strip() == APPLY:
        return "APPLY"
    return _VERBS.get(info.verb, info.verb.upper())


def start_request() -> None:
    g.request_started = time.monotonic()


@functools.lru_cache(maxsize=4096)
def _series(labels: tuple[str, ...], code: str) -> tuple[Any, Any]:
    """The request counter's and the duration histogram's children for ``labels`` (in
    REQUEST_LABELS order), looked up once per process: a lookup costs more than the count."""
    return metrics().requests.labels(*labels, code), metrics().request_duration.labels(*labels)


def finish_request(response: Response) -> Response:
    """``after_request``: count the request when its response closes (resource requests only)."""
    info = request_info()
    if not info.is_resource_request:
        return response
    verb, scope = _verb(info), _scope(info)
    labels = (verb, "All" if request.args.getlist("dryRun") else "", info.group, info.version, info.resource,
              info.subresource, scope, COMPONENT)
    started = g.get("request_started", time.monotonic())
    longrunning = None
    if verb == "WATCH" and response.status_code == 200:
        longrunning = metrics().longrunning.labels(verb, info.group, info.version, info.resource, info.subresource,
                                                   scope, COMPONENT)
        longrunning.inc()
    counted, timed = _series(labels, str(response.status_code))

    def done() -> None:
        counted.inc()
        timed.observe(time.monotonic() - started)
        if longrunning is not None:
            longrunning.dec()

    response.call_on_close(done)
    return response


def _scrape_time_gauges() -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    """What only the database knows, read when scraped (skipped, with a log line, during an outage)."""
    store = services().store
    try:
        counts = store.object_counts()
        current, floor = store.revisions()
        history = store.history_size()
    except StorageUnavailable as err:
        log.warning("metrics: the storage is unavailable, its gauges are left out: %s", err)
        return {}
    return {
        "apiserver_storage_objects": ("Number of stored objects at the time of last check split by kind.",
                                      {(("resource", resource),): float(n) for resource, n in counts.items()}),
        "ark_storage_revision": ("The store's current revision (the newest resourceVersion).", {(): float(current)}),
        "ark_history_compaction_floor": ("The oldest revision a watch or a continue token can resume from.",
                                         {(): float(floor)}),
        "ark_history_rows": ("Rows in the change log (what watches resume and pages continue from).",
                             {(): float(history)}),
    }


@blueprint.get("/metrics")
def metrics_view() -> Response:
    body, content_type = exposition(_scrape_time_gauges())
    return Response(body, mimetype=None, headers={"Content-Type": content_type})
