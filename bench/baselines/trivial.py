"""The trivial JSON endpoint: a GET answered with a constant body as large as a stored Query.

It is what a get costs on the stack (routing, TLS, gunicorn, Flask) with nothing read."""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app

blueprint = Blueprint("trivial", __name__)


@blueprint.get("/trivial/<name>")
def trivial(name: str) -> Response:
    body = current_app.extensions["bench.trivial_body"]
    return Response(body, mimetype="application/json")


def body_for(template: dict) -> str:
    return json.dumps(template, separators=(",", ":"))
