"""Where exports and imports read Ark objects: the database itself, or a Kubernetes API.

The same list calls read a running Ark API Server and a cluster that still keeps Ark's kinds
as CRDs in etcd (kube-apiserver serves both under ``/apis/ark.mckinsey.com/<version>``): one
paged list per kind (``limit``/``continue``), with the namespace and label selector asked for.
A kind the API does not serve (its CRD was never installed) is reported and passed over.
"""
from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

from ark.cluster.client import ClusterClient, ClusterConfig, ClusterError, kubeconfig_config
from ark.kinds.registry import Kind
from ark.machinery import codec, selectors
from ark.settings import ConfigError
from ark.storage.store import Compacted, ListQuery, Store

PAGE_SIZE = 500
LIST_TIMEOUT = 60.0


class SourceError(Exception):
    """The source cannot be read; the message says which call failed and why, in one line."""


@dataclass(frozen=True)
class Selection:
    """What to read: kinds, one namespace or all (None), a label selector (Kubernetes syntax)."""

    kinds: Sequence[Kind]
    namespace: str | None = None
    label_selector: str = ""


#: A source lists the objects of one kind.
Lister = Callable[[Kind, Selection], Iterator[dict[str, Any]]]


def read_all(lister: Lister, selection: Selection) -> Iterator[tuple[Kind, dict[str, Any]]]:
    for kind in selection.kinds:
        for obj in lister(kind, selection):
            yield kind, obj


def database_lister(store: Store) -> Lister:
    """Pages of the database's objects, all of one kind read at the revision of its first page (one
    consistent state, as a paged list through the API)."""
    def lister(kind: Kind, selection: Selection) -> Iterator[dict[str, Any]]:
        requirements = tuple(selectors.parse_label_selector(selection.label_selector))
        at, after = None, None
        while True:
            try:
                page = store.list(ListQuery(kind.resource, selection.namespace, requirements, (), PAGE_SIZE, at, after))
            except Compacted:
                raise SourceError(f"{kind.resource} changed faster than the history keeps while they were exported "
                                  "(the server is writing and compacting): export again, or with the server "
                                  "stopped") from None
            for body in page.items:
                yield codec.loads(body)
            if page.next_key is None:
                return
            at, after = page.rv, page.next_key

    return lister


class ApiSource:
    """Paged lists of Ark objects from a Kubernetes API (kubeconfig's current context)."""

    def __init__(self, kubeconfig: str, server: str | None = None, flag: str = "--kubeconfig") -> None:
        def load() -> ClusterConfig:
            config = kubeconfig_config(kubeconfig, flag)
            return replace(config, server=server.rstrip("/")) if server else config

        self.client = ClusterClient(load, timeout=LIST_TIMEOUT)
        #: The kinds the API answered 404 for (no CRD, or not served).
        self.missing: list[Kind] = []

    def describe(self) -> str:
        try:
            return self.client.describe()
        except (ConfigError, OSError, ssl.SSLError) as err:
            raise SourceError(str(err)) from None

    def lister(self, kind: Kind, selection: Selection) -> Iterator[dict[str, Any]]:
        base = f"/apis/{kind.api_version}"
        if selection.namespace is not None:
            base += f"/namespaces/{quote(selection.namespace, safe='')}"
        base += f"/{kind.plural}"
        token = ""
        while True:
            query = {"limit": str(PAGE_SIZE)}
            if selection.label_selector:
                query["labelSelector"] = selection.label_selector
            if token:
                query["continue"] = token
            try:
                answer = self.client.call("GET", f"{base}?{urlencode(query)}")
            except ClusterError as err:
                if err.code == 404 and not token:
                    self.missing.append(kind)
                    return
                raise SourceError(str(err)) from None
            for item in answer.get("items") or []:
                # A CRD list leaves apiVersion and kind out of its items; they are the list's kind.
                yield {"apiVersion": kind.api_version, "kind": kind.kind, **item}
            token = str((answer.get("metadata") or {}).get("continue") or "")
            if not token:
                return

    def close(self) -> None:
        self.client.close()


__all__ = ["ApiSource", "Lister", "Selection", "SourceError", "database_lister", "read_all"]
