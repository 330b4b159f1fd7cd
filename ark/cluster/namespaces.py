"""Admission lookups answered by the cluster: which namespaces exist (NamespaceLifecycle) and
the core objects (Secrets, ConfigMaps, Services) Ark's admission rules read.

Namespaces come from a list + watch copy (RBAC: get, list, watch namespaces). A namespace the
copy does not have yet — created a moment ago, or the copy is still loading — is looked up live,
as kube-apiserver's NamespaceLifecycle does, so a create right after ``kubectl create namespace``
is not refused. Core objects are read live (RBAC: get secrets, configmaps, services).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ark.cluster.client import ClusterClient, ClusterError
from ark.cluster.informer import Object, Reflector
from ark.machinery import errors
from ark.registry.store import NamespaceTerminating

NAMESPACES_PATH = "/api/v1/namespaces"
LOOKUP_TIMEOUT = 5.0


def _terminating(namespace: Object) -> bool:
    return (namespace.get("status") or {}).get("phase") == "Terminating"


class ClusterNamespaces:
    """kube-apiserver's NamespaceLifecycle for creates, from the cluster's namespaces."""

    def __init__(self, client: ClusterClient) -> None:
        self.client = client
        self.known: dict[str, Object] = {}
        self.live_lookups = 0
        self.reflector = Reflector(client, NAMESPACES_PATH, "namespaces", self._replace, self._event)

    def start(self) -> None:
        self.reflector.start()

    def stop(self) -> None:
        self.reflector.stop()

    def _replace(self, items: list[Object]) -> None:
        self.known = {item["metadata"]["name"]: item for item in items}

    def _event(self, kind: str, namespace: Object) -> None:
        name = namespace["metadata"]["name"]
        if kind == "DELETED":
            self.known.pop(name, None)
        else:
            self.known[name] = namespace

    def check_create(self, namespace: str) -> None:
        found = self.known.get(namespace)
        if found is None:
            found = self._lookup(namespace)
        if _terminating(found):
            raise NamespaceTerminating(namespace)

    def _lookup(self, namespace: str) -> Object:
        self.live_lookups += 1
        try:
            found = self.client.get(f"{NAMESPACES_PATH}/{quote(namespace, safe='')}", timeout=LOOKUP_TIMEOUT)
        except ClusterError as err:
            raise errors.service_unavailable(f"cannot check namespace {namespace} in the cluster: {err}") from None
        if found is None:
            raise errors.namespace_not_found(namespace)
        return found


class ClusterCoreObjects:
    """Secrets, ConfigMaps and Services for admission rules, read from the cluster."""

    def __init__(self, client: ClusterClient) -> None:
        self.client = client

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/{quote(resource, safe='')}/{quote(name, safe='')}"
        try:
            return self.client.get(path, timeout=LOOKUP_TIMEOUT)
        except ClusterError as err:
            raise errors.service_unavailable(f'cannot read {resource} "{name}" in namespace {namespace} from the '
                                             f"cluster: {err}") from None
