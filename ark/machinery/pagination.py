"""``continue`` tokens: the revision a list started at and the last key it returned.

A token is opaque to clients but not trusted: anything that does not decode to exactly what
:func:`encode` makes (a revision that fits a 64-bit counter, a ``namespace/name`` key) is 400.
"""
from __future__ import annotations

import base64
import json

from ark.machinery.errors import bad_request

MAX_REVISION = 2**63  # revisions are BIGINT columns
MAX_TOKEN_LENGTH = 4096  # ours hold a revision and a key: well under 1 KiB


def encode(rv: int, namespace: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{namespace}/{name}"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> tuple[int, tuple[str, str]]:
    """(revision, (namespace, name)) of a token; 400 when it is not one of ours."""
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError("too long")
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = raw["rv"], raw["start"]
        if (raw.get("v") != "meta.k8s.io/v1" or type(rv) is not int or not 0 <= rv < MAX_REVISION
                or not isinstance(start, str) or "/" not in start):
            raise ValueError("unknown token format")
        namespace, name = start.split("/", 1)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise bad_request("invalid continue token: it was not issued by this server for a list; start a new list "
                          "without the continue parameter") from None
    return rv, (namespace, name)
