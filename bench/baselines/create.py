"""The minimal create: parse the JSON body, one INSERT at the server's durability, dump it back.

SQLite: ``BEGIN IMMEDIATE``, INSERT, COMMIT on a WAL database with ``synchronous=FULL`` (the
server's setting) or ``NORMAL`` (what an option could trade for speed). PostgreSQL: one
INSERT committed on its own (autocommit), from a pool like the server's.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, request

from bench.baselines.config import (
    INSERT_MINIMAL_POSTGRES,
    INSERT_MINIMAL_SQLITE,
    POSTGRES_FLAVOUR,
    SQLITE_FLAVOURS,
    Baseline,
)

blueprint = Blueprint("minimal_create", __name__)


@blueprint.post("/create/<flavour>")
def create(flavour: str) -> Response:
    baseline: Baseline = current_app.extensions["bench.baseline"]
    obj = json.loads(request.get_data())
    name = obj["metadata"]["name"]
    body = json.dumps(obj, separators=(",", ":"))
    if flavour in SQLITE_FLAVOURS:
        connection = baseline.minimal_sqlite(flavour)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(INSERT_MINIMAL_SQLITE, (name, body))
        connection.execute("COMMIT")
    elif flavour == POSTGRES_FLAVOUR:
        with baseline.pool().connection() as connection, connection.cursor() as cursor:
            cursor.execute(INSERT_MINIMAL_POSTGRES, (name, body))
    else:
        abort(404)
    return Response(body, status=201, mimetype="application/json")
