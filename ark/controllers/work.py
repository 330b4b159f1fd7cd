"""What the controllers share: work items, and the objects they read and write through the
registry (fresh reads, optimistic writes that the strategies and admission see)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent

from ark.kinds.registry import Kind
from ark.machinery import codec, errors, pagination
from ark.machinery.errors import ApiError
from ark.machinery.options import DeleteOptions, ListOptions
from ark.registry.store import ResourceStore, WriteContext

PAGE = 500  # objects read at a time when the controllers go through a whole kind

#: (resource, namespace, name): an object as the store keys it.
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Item:
    """One piece of work for one controller, about one object."""

    controller: str
    action: str
    key: Key

    def __str__(self) -> str:
        resource, namespace, name = self.key
        return f"{self.controller}/{self.action} {resource} {namespace + '/' if namespace else ''}{name}"


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = obj.get("metadata") or {}
    return found


def deleting(obj: dict[str, Any], finalizer: str | None = None) -> bool:
    meta = metadata(obj)
    return bool(meta.get("deletionTimestamp")) and (finalizer is None or finalizer in (meta.get("finalizers") or ()))


class Objects:
    """Every kind this server holds, read and written through the ResourceStore."""

    def __init__(self, resources: ResourceStore, kinds: list[Kind]) -> None:
        self.resources = resources
        self.kinds = kinds
        self.by_resource = {kind.resource: kind for kind in kinds}
        self.by_type = {(kind.api_version, kind.kind): kind for kind in kinds}

    def key(self, kind: Kind, obj: dict[str, Any]) -> Key:
        return kind.resource, metadata(obj).get("namespace") or "", metadata(obj)["name"]

    def everything(self) -> Iterator[tuple[Kind, dict[str, Any]]]:
        for kind in self.kinds:
            yield from self._pages(kind, None)

    def in_namespace(self, namespace: str) -> Iterator[tuple[Kind, dict[str, Any]]]:
        for kind in self.kinds:
            if kind.namespaced:
                yield from self._pages(kind, namespace)

    def _pages(self, kind: Kind, namespace: str | None) -> Iterator[tuple[Kind, dict[str, Any]]]:
        """Every object of ``kind``, a page at a time, letting requests run in between."""
        token = ""
        while True:
            page = self.resources.list(kind, namespace, ListOptions(limit=PAGE, continue_token=token))
            for body in page.items:
                yield kind, codec.loads(body)
            if page.next_key is None:
                return
            token = pagination.encode(page.rv, *page.next_key)
            gevent.sleep(0)

    def read(self, key: Key) -> dict[str, Any] | None:
        resource, namespace, name = key
        try:
            return codec.loads(self.resources.get(self.by_resource[resource], namespace, name))
        except ApiError as err:
            if err.code == 404:
                return None
            raise

    def delete(self, key: Key, uid: str, policy: str | None = None) -> None:
        """Delete the object if it is still the one with ``uid`` (gone already is fine)."""
        resource, namespace, name = key
        try:
            self.resources.delete(self.by_resource[resource], namespace, name,
                                  DeleteOptions(propagation_policy=policy, precondition_uid=uid))
        except ApiError as err:
            if err.code != 404 and not (err.code == 409 and "Precondition" in err.message):
                raise

    def update(self, key: Key, uid: str, change: Callable[[dict[str, Any]], None], subresource: str = "") -> None:
        """Apply ``change`` to the object's metadata-level state if it is still the one with ``uid``."""
        resource, namespace, name = key
        kind = self.by_resource[resource]

        def transform(current: dict[str, Any]) -> dict[str, Any]:
            if metadata(current).get("uid") != uid:
                raise errors.conflict(kind, name, "the object was replaced")
            change(current)
            return current

        strategy = kind.strategy.for_subresource(subresource) if subresource else None
        try:
            self.resources.update(kind, namespace, name, transform, WriteContext(), strategy=strategy)
        except ApiError as err:
            if err.code != 404 and not (err.code == 409 and "replaced" in err.message):
                raise


def without_finalizer(finalizer: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        meta = metadata(obj)
        meta["finalizers"] = [f for f in meta.get("finalizers") or () if f != finalizer]
        if not meta["finalizers"]:
            del meta["finalizers"]
    return change
