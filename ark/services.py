"""The services one app serves with, held in one typed object (``services(app)``).

Building them does no I/O (an engine connects lazily), so tests can make an app in-process on
a SQLite file. What does I/O — checking that the schema is current, the change feed and the
history compactor — begins in :meth:`Services.start`, which gunicorn's worker hook calls once
per worker process after fork.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from flask.sansio.app import App

from ark.controllers import Controllers
from ark.kinds import REGISTRY
from ark.kinds.core import CORE
from ark.kinds.registry import Registry
from ark.registry.standalone import StoreCoreObjects, StoreNamespaces
from ark.registry.store import NamespaceLifecycle, ResourceStore
from ark.registry.strategy import AdmissionOptions, CoreObjects
from ark.security.access import Security
from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.feed import ChangeFeed, Compactor
from ark.storage.migrations import check_current_engine
from ark.storage.store import Store

if TYPE_CHECKING:
    from ark.api.discovery import DiscoveryDocs
    from ark.api.openapi import OpenAPIDocs

EXTENSION = "ark"


@dataclass
class Services:
    settings: Settings
    registry: Registry
    #: The core v1 kinds served in standalone mode (``--auth-mode off``); None in delegated
    #: mode, where kube-apiserver owns them.
    core: Registry | None
    store: Store
    resources: ResourceStore
    feed: ChangeFeed
    compactor: Compactor
    security: Security
    #: The controllers of standalone mode (garbage collector, namespaces, event expiry); None
    #: in delegated mode, where the cluster's controller manager does their work.
    controllers: Controllers | None = None
    #: Extra ``/readyz`` checks by name: each raises while the server is not ready.
    readyz_checks: dict[str, Callable[[], object]] = field(default_factory=dict)
    #: Documents built once from the registry when their blueprint is registered.
    discovery: DiscoveryDocs | None = None
    openapi: OpenAPIDocs | None = None

    @classmethod
    def create(cls, settings: Settings, store: Store | None = None, registry: Registry = REGISTRY) -> Services:
        store = store if store is not None else Store(create_engine_for(settings), settings.max_object_bytes)
        security = Security.create(settings)
        delegation = security.delegation
        core_objects: CoreObjects | None
        namespaces: NamespaceLifecycle | None
        if delegation is not None:
            core, core_objects, namespaces = None, delegation.core_objects, delegation.namespaces
        else:
            core, core_objects, namespaces = CORE, StoreCoreObjects(store), StoreNamespaces(store)
        resources = ResourceStore(store, core=core_objects, namespaces=namespaces,
                                  admission=admission_options(settings))
        feed = ChangeFeed(store, settings.watch_poll_interval)
        controllers = None if core is None else Controllers(store, resources, feed, [*registry, *core],
                                                            settings.event_ttl)
        return cls(
            settings=settings,
            registry=registry,
            core=core,
            store=store,
            resources=resources,
            feed=feed,
            controllers=controllers,
            compactor=Compactor(store, settings.history_retention, settings.history_min_revisions,
                                settings.history_compaction_interval),
            security=security,
            readyz_checks=dict(security.readyz_checks),
        )

    def start(self) -> None:
        """Refuse a database whose schema is behind, then start the feed, the compactor and
        what keeps the security configuration current."""
        check_current_engine(self.store.engine)
        self.feed.start()
        self.compactor.start()
        self.security.start()
        if self.controllers is not None:
            self.controllers.start()

    def stop(self) -> None:
        if self.controllers is not None:
            self.controllers.stop()
        self.feed.stop()
        self.compactor.stop()
        self.security.stop()


def admission_options(settings: Settings) -> AdmissionOptions:
    return AdmissionOptions(
        warn_missing_references=settings.admission_references == "warn",
        model_private_networks=tuple(ipaddress.ip_network(cidr, strict=False)
                                     for cidr in settings.model_allowed_private_ranges),
        model_domains=settings.model_allowed_domains,
    )


def find_services(app: object) -> Services | None:
    """The services of ``app`` if it is an Ark app (gunicorn can serve any WSGI app)."""
    extensions = getattr(app, "extensions", None)
    found = extensions.get(EXTENSION) if isinstance(extensions, dict) else None
    return found if isinstance(found, Services) else None


def services(app: App | None = None) -> Services:
    """The services of ``app`` (default: the app of the current request)."""
    target = app if app is not None else current_app
    try:
        found: Services = target.extensions[EXTENSION]
    except KeyError:
        raise KeyError(f"app {target.name!r} has no Ark services: build it with ark.app.create_app") from None
    return found
