"""A small kopf operator for test_clients.py, run with ``python -m kopf run --standalone -n NS``.

On a new Query it sets ``status.phase`` to ``running``; it owns a finalizer (kopf adds one
because there is a deletion handler), and on deletion it records the name in
``$ARK_KOPF_DELETED`` before kopf removes the finalizer.

Here kopf talks straight to the Ark server, not through kube-apiserver, so two things a full
cluster has are absent and kopf is configured around them (the server is not made to pretend):
* the core group (``/api``, namespaces, events): kopf's startup scan of the core group is
  limited to the Ark group, the ``v1 namespaces`` resource is declared so that its namespace
  bookkeeping starts (with ``scanning.disabled`` it never lists or watches namespaces: ``-n``
  names them), and posting k8s Events is off;
* progress is kept in annotations, not in ``status.kopf`` (the Query status schema has no
  such field, so it would be pruned).
"""
from __future__ import annotations

import os

import kopf
from kopf._cogs.clients import scanning
from kopf._cogs.structs import references

_scan_resources = scanning.scan_resources


async def _scan_ark_only(*, settings, logger, groups=None):
    found = set(await _scan_resources(settings=settings, logger=logger, groups={"ark.mckinsey.com"}))
    found.add(references.Resource(group="", version="v1", kind="Namespace", plural="namespaces",
                                  singular="namespace", namespaced=False, preferred=True,
                                  verbs=frozenset({"list", "watch"})))
    return found


scanning.scan_resources = _scan_ark_only


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.posting.enabled = False
    settings.scanning.disabled = True
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage()
    settings.watching.reconnect_backoff = 0.5


@kopf.on.create("ark.mckinsey.com", "v1alpha1", "queries")
def created(name, patch, logger, **_):
    patch.status["phase"] = "running"
    logger.info(f"query {name} is running")


@kopf.on.delete("ark.mckinsey.com", "v1alpha1", "queries")
def deleted(name, logger, **_):
    with open(os.environ["ARK_KOPF_DELETED"], "a") as out:
        out.write(name + "\n")
    logger.info(f"query {name} cleaned up")
