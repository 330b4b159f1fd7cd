"""``continue`` tokens: the revision a list started at and the last key it returned."""
from __future__ import annotations

import base64
import json

from ark.machinery.errors import bad_request


def encode(rv: int, namespace: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{namespace}/{name}"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> tuple[int, tuple[str, str]]:
    """(revision, (namespace, name)) of a token; 400 when it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = raw["rv"], raw["start"]
        if raw.get("v") != "meta.k8s.io/v1" or not isinstance(rv, int) or rv < 0 or "/" not in start:
            raise ValueError("unknown token format")
        namespace, name = start.split("/", 1)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise bad_request(f"invalid continue token: {err}") from None
    return rv, (namespace, name)
