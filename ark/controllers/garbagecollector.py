"""The garbage collector: kube-controller-manager's, for the ``metadata.ownerReferences``
between objects this server holds.

* **Background** (kubectl's default): the owner goes at once; its dependents, whose owners are
  then all absent, are deleted after it.
* **Foreground**: the owner waits with the ``foregroundDeletion`` finalizer while its dependents
  are deleted (in foreground too, when they have dependents of their own); the finalizer goes
  once no dependent with ``blockOwnerDeletion`` is left.
* **Orphan**: the owner waits with the ``orphan`` finalizer while the references to it are
  removed from its dependents, which stay.
* A dependent whose owners are all absent (deleted, or never there) is deleted; references to
  absent owners are removed from one that still has a live owner. An owner of a kind this
  server does not serve cannot be judged and counts as present.

The graph (which objects name which owner uid) is kept in memory from the change feed, as the
upstream collector's graph builder does, so finding dependents costs no query.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ark.controllers.work import Item, Key, Objects, deleting, metadata, without_finalizer

FOREGROUND, ORPHAN = "foregroundDeletion", "orphan"
CONTROLLER = "gc"


class GarbageCollector:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.reset()

    def reset(self) -> None:
        self.owners: dict[Key, list[dict[str, Any]]] = {}
        self.dependents: dict[str, set[Key]] = {}

    # The graph -----------------------------------------------------------------------------

    def _owner_key(self, dependent: Key, ref: dict[str, Any]) -> Key | None:
        kind = self.objects.by_type.get((str(ref.get("apiVersion")), str(ref.get("kind"))))
        if kind is None:
            return None
        return kind.resource, dependent[1] if kind.namespaced else "", str(ref.get("name") or "")

    def _index(self, key: Key, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record ``key``'s owner references; returns the ones it had."""
        old = self.owners.pop(key, [])
        for ref in old:
            keys = self.dependents.get(ref.get("uid") or "")
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.dependents[ref.get("uid") or ""]
        if refs:
            self.owners[key] = refs
            for ref in refs:
                self.dependents.setdefault(ref.get("uid") or "", set()).add(key)
        return old

    def observe(self, resource: str, obj: dict[str, Any], deleted: bool) -> Iterator[Item]:
        meta = metadata(obj)
        key: Key = resource, meta.get("namespace") or "", meta["name"]
        refs = [r for r in meta.get("ownerReferences") or () if isinstance(r, dict)]
        old = self._index(key, [] if deleted else refs)
        if deleted:
            for dependent in sorted(self.dependents.get(meta.get("uid") or "", ())):
                yield Item(CONTROLLER, "attempt", dependent)
            for ref in old:  # an owner waiting for this dependent may be free now
                owner = self._owner_key(key, ref)
                if owner is not None:
                    yield Item(CONTROLLER, "foreground", owner)
            return
        if deleting(obj, FOREGROUND):
            yield Item(CONTROLLER, "foreground", key)
        if deleting(obj, ORPHAN):
            yield Item(CONTROLLER, "orphan", key)
        if refs:
            yield Item(CONTROLLER, "attempt", key)

    # Work ----------------------------------------------------------------------------------

    def handle(self, item: Item) -> Iterator[Item]:
        obj = self.objects.read(item.key)
        if obj is None:
            return iter(())
        if item.action == "attempt":
            return self._attempt(item.key, obj)
        if item.action == "foreground":
            return self._foreground(item.key, obj)
        return self._orphan(item.key, obj)

    def _attempt(self, key: Key, obj: dict[str, Any]) -> Iterator[Item]:
        """A dependent: collect it when no owner is solid (present and not deleting in foreground)."""
        refs = list(metadata(obj).get("ownerReferences") or ())
        absent, waiting, solid = [], [], []
        for ref in refs:
            owner_key = self._owner_key(key, ref)
            owner = self.objects.read(owner_key) if owner_key is not None else None
            if owner_key is None:
                solid.append(ref)
            elif owner is None or metadata(owner).get("uid") != ref.get("uid"):
                absent.append(ref)
            elif deleting(owner, FOREGROUND):
                waiting.append(ref)
            else:
                solid.append(ref)
        uid = metadata(obj)["uid"]
        if not absent and not waiting:
            return iter(())
        if solid:
            gone = {ref.get("uid") for ref in absent + waiting}

            def strip(current: dict[str, Any]) -> None:
                meta = metadata(current)
                meta["ownerReferences"] = [r for r in meta.get("ownerReferences") or () if r.get("uid") not in gone]
                if not meta["ownerReferences"]:
                    del meta["ownerReferences"]

            self.objects.update(key, uid, strip)
            return iter(())
        if deleting(obj):
            return iter(())  # already going: its own finalizers decide when
        has_dependents = bool(self.dependents.get(uid))
        self.objects.delete(key, uid, "Foreground" if waiting and has_dependents else "Background")
        return iter(())

    def _foreground(self, key: Key, obj: dict[str, Any]) -> Iterator[Item]:
        """An owner deleting in foreground: delete its dependents; free it when none blocks."""
        if not deleting(obj, FOREGROUND):
            return
        uid = metadata(obj)["uid"]
        blocking = False
        for dependent in sorted(self.dependents.get(uid, ())):
            yield Item(CONTROLLER, "attempt", dependent)
            refs = self.owners.get(dependent, [])
            blocking = blocking or any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in refs)
        if not blocking:
            self.objects.update(key, uid, without_finalizer(FOREGROUND))

    def _orphan(self, key: Key, obj: dict[str, Any]) -> Iterator[Item]:
        """An owner deleting with Orphan: remove the references to it, then let it go."""
        if not deleting(obj, ORPHAN):
            return iter(())
        uid = metadata(obj)["uid"]

        def unlink(current: dict[str, Any]) -> None:
            meta = metadata(current)
            meta["ownerReferences"] = [r for r in meta.get("ownerReferences") or () if r.get("uid") != uid]
            if not meta["ownerReferences"]:
                del meta["ownerReferences"]

        for dependent in sorted(self.dependents.get(uid, ())):
            dependent_obj = self.objects.read(dependent)
            if dependent_obj is not None:
                self.objects.update(dependent, metadata(dependent_obj)["uid"], unlink)
        self.objects.update(key, uid, without_finalizer(ORPHAN))
        return iter(())
