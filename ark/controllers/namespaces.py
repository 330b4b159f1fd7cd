"""The namespace controller: a Namespace being deleted has everything in it deleted (objects
with finalizers wait for them), and once nothing is left its ``kubernetes`` finalizer is removed
through ``/finalize``, which lets it go (kube-controller-manager's namespace controller)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ark.controllers.work import Item, Objects, deleting, metadata
from ark.kinds.core import namespace as ns

CONTROLLER = "namespaces"


class NamespaceController:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.reset()

    def reset(self) -> None:
        self.terminating: set[str] = set()

    def observe(self, resource: str, obj: dict[str, Any], deleted: bool) -> Iterator[Item]:
        meta = metadata(obj)
        if resource == ns.KIND.resource:
            if deleted:
                self.terminating.discard(meta["name"])
            elif deleting(obj):
                self.terminating.add(meta["name"])
                yield Item(CONTROLLER, "empty", (resource, "", meta["name"]))
        elif (meta.get("namespace") or "") in self.terminating:  # content changed: maybe done now
            yield Item(CONTROLLER, "empty", (ns.KIND.resource, "", meta["namespace"]))

    def handle(self, item: Item) -> Iterator[Item]:
        namespace = self.objects.read(item.key)
        if namespace is None or not deleting(namespace):
            return iter(())
        name, remaining = item.key[2], 0
        for kind, obj in self.objects.in_namespace(name):
            remaining += 1
            if not deleting(obj):
                self.objects.delete(self.objects.key(kind, obj), metadata(obj)["uid"], "Background")
        if remaining == 0 and ns.KUBERNETES_FINALIZER in ns.finalizers(namespace):
            def finalize(current: dict[str, Any]) -> None:
                current["spec"] = {"finalizers": [f for f in ns.finalizers(current) if f != ns.KUBERNETES_FINALIZER]}

            self.objects.update(item.key, metadata(namespace)["uid"], finalize, "finalize")
        return iter(())
