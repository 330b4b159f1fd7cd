"""Admission lookups answered by this server's own store in standalone mode (``--auth-mode
off``), where it serves the core kinds itself: NamespaceLifecycle from the stored Namespaces
and the Secrets and ConfigMaps Ark's admission rules read. ``ark.cluster.namespaces`` is the
delegated-mode counterpart, which asks the cluster.
"""
from __future__ import annotations

from typing import Any

from ark.kinds.core import CORE
from ark.kinds.core import namespace as ns
from ark.machinery import errors
from ark.registry.store import NamespaceTerminating, storage_errors
from ark.storage.store import Store


class StoreNamespaces:
    """kube-apiserver's NamespaceLifecycle for creates, read from the stored Namespaces (a read
    per create: it is one primary-key lookup, and never stale)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def check_create(self, namespace: str) -> None:
        if not namespace:  # a cluster-scoped object (a Namespace itself)
            return
        with storage_errors():
            stored = self.store.read(ns.KIND.resource, "", namespace)
        if stored is None:
            raise errors.namespace_not_found(namespace)
        if ns.terminating(stored.obj()):
            raise NamespaceTerminating(namespace)


class StoreCoreObjects:
    """The core objects admission rules read (``secrets``, ``configmaps``), from the store.
    Services are not served here: a rule that needs one is skipped, as without a cluster."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        kind = CORE.lookup("v1", resource)
        if kind is None or not kind.namespaced:
            from ark.registry.strategy import CoreObjectsUnavailable

            raise CoreObjectsUnavailable(resource)
        with storage_errors():
            stored = self.store.read(kind.resource, namespace, name)
        return None if stored is None else stored.obj()
