"""The raw list: one SELECT of the stored bodies, in key order, joined into a list response.

It reads the Ark server's own ``objects`` table (same rows, same database) by its primary
key range, ``name > last`` within the namespace, so a page costs an index range scan however
large the store; ``limit`` and ``continue`` page it as the server does.
"""
from __future__ import annotations

import base64
import json

from flask import Blueprint, Response, current_app, request

from bench.baselines.config import RESOURCE, Baseline

blueprint = Blueprint("raw_list", __name__)
HUGE = 1 << 62


@blueprint.get("/list/<namespace>")
def raw_list(namespace: str) -> Response:
    baseline: Baseline = current_app.extensions["bench.baseline"]
    limit = int(request.args.get("limit") or 0) or HUGE
    token = request.args.get("continue", "")
    after = base64.urlsafe_b64decode(token.encode()).decode() if token else ""
    if baseline.settings.storage_driver == "sqlite":
        rows = baseline.ark_sqlite().execute(
            "SELECT name, body FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name LIMIT ?",
            (RESOURCE, namespace, after, limit + 1)).fetchall()
    else:
        with baseline.pool().connection() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT name, body FROM objects WHERE resource = %s AND namespace = %s AND name > %s "
                           "ORDER BY name LIMIT %s", (RESOURCE, namespace, after, limit + 1))
            rows = cursor.fetchall()
    metadata: dict[str, str] = {"resourceVersion": "0"}
    if len(rows) > limit:
        rows = rows[:limit]
        metadata["continue"] = base64.urlsafe_b64encode(rows[-1][0].encode()).decode()
    head = json.dumps({"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "QueryList", "metadata": metadata},
                      separators=(",", ":"))
    return Response(head[:-1] + ',"items":[' + ",".join(body for _, body in rows) + "]}", mimetype="application/json")
