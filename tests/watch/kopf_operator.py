"""A small kopf operator for test_clients.py, run with ``python -m kopf run --standalone -n NS``
and kopf's default settings: it scans ``/api`` and ``/apis``, lists and watches namespaces,
posts Events and keeps its progress where it always does (the Query status schema has no
``status.kopf``, so that part is pruned; kopf's annotations carry it).

On a new Query it sets ``status.phase`` to ``running`` and posts an Event about it; it owns a
finalizer (kopf adds one because there is a deletion handler), and on deletion it records the
name in ``$ARK_KOPF_DELETED`` before kopf removes the finalizer.
"""
from __future__ import annotations

import os

import kopf


@kopf.on.create("ark.mckinsey.com", "v1alpha1", "queries")
def created(name, body, patch, logger, **_):
    patch.status["phase"] = "running"
    kopf.info(body, reason="Started", message=f"query {name} is running")
    logger.info(f"query {name} is running")


@kopf.on.delete("ark.mckinsey.com", "v1alpha1", "queries")
def deleted(name, logger, **_):
    with open(os.environ["ARK_KOPF_DELETED"], "a") as out:
        out.write(name + "\n")
    logger.info(f"query {name} cleaned up")
