"""Ark's admission rules in-process: the generic resource store on both databases, with a
stand-in for the cluster's Secrets, ConfigMaps and Services.

The server has no source of core objects yet (standalone core objects and the cluster
connection are other work), so rules that need one are skipped there. Here a small
:class:`Cluster` plays that source, handed to ``ResourceStore(store, core=...)`` as the server
will hand its own; the ``standalone`` fixture is the server as it is today, without one.
"""
from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ark.kinds import REGISTRY
from ark.kinds.validation import prune_and_default
from ark.machinery.errors import ApiError
from ark.machinery.options import DeleteOptions
from ark.registry.store import ResourceStore, WriteContext
from ark.registry.strategy import AdmissionOptions

NS = "team-a"
KINDS = {kind.kind: kind for kind in REGISTRY}


class Cluster:
    """Core objects as the cluster holds them (Secret data base64-encoded, as the API returns it)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.reads: list[tuple[str, str, str]] = []

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append((resource, namespace, name))
        return copy.deepcopy(self.objects.get((resource, namespace, name)))

    def secret(self, name: str, namespace: str = NS, **data: str) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.objects["secrets", namespace, name] = {"kind": "Secret", "metadata": {"name": name}, "data": encoded}

    def config_map(self, name: str, namespace: str = NS, **data: str) -> None:
        self.objects["configmaps", namespace, name] = {"kind": "ConfigMap", "metadata": {"name": name}, "data": data}

    def service(self, name: str, namespace: str = NS, ports: tuple[tuple[str, int], ...] = (("http", 80),)) -> None:
        self.objects["services", namespace, name] = {
            "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"name": port_name, "port": port} for port_name, port in ports]}}


@dataclass
class Created:
    obj: dict[str, Any]
    warnings: list[str]


@dataclass
class Refusal:
    """A 422 Invalid: its causes, its message and the warnings sent with it."""

    causes: list[dict[str, str]]
    message: str
    warnings: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[str]:
        return [cause["field"] for cause in self.causes]

    def cause(self, path: str) -> dict[str, str]:
        (found,) = [cause for cause in self.causes if cause["field"] == path]
        return found


@dataclass
class Admission:
    """Writes of Ark objects in one namespace, as the API layer hands them to the store."""

    resources: ResourceStore
    namespace: str = NS

    def body(self, kind: str, name: str, spec: Any, *, labels: dict | None = None,
             annotations: dict | None = None, namespace: str | None = None) -> dict[str, Any]:
        """The object as a client sends it, after the schema's pruning and defaults."""
        k = KINDS[kind]
        metadata: dict[str, Any] = {"name": name, "namespace": namespace or self.namespace}
        if labels is not None:
            metadata["labels"] = labels
        if annotations is not None:
            metadata["annotations"] = annotations
        sent = prune_and_default(k.spec, copy.deepcopy(spec), "spec", []) if isinstance(spec, dict) else spec
        return {"apiVersion": k.api_version, "kind": kind, "metadata": metadata, "spec": sent}

    def create(self, kind: str, name: str, spec: Any, *, dry_run: bool = False, **meta: Any) -> Created:
        ctx = WriteContext(dry_run=dry_run)
        body = self.body(kind, name, spec, **meta)
        written = self.resources.create(KINDS[kind], body["metadata"]["namespace"], body, ctx)
        return Created(written.obj, ctx.warnings)

    def refuse(self, kind: str, name: str, spec: Any, **meta: Any) -> Refusal:
        ctx = WriteContext()
        body = self.body(kind, name, spec, **meta)
        with pytest.raises(ApiError) as raised:
            self.resources.create(KINDS[kind], body["metadata"]["namespace"], body, ctx)
        return _refusal(raised.value, ctx)

    def update(self, kind: str, name: str, change: Callable[[dict[str, Any]], None], *,
               status: bool = False) -> Created:
        ctx = WriteContext()
        written = self.resources.update(KINDS[kind], self.namespace, name, _changed(change), ctx, status=status)
        return Created(written.obj, ctx.warnings)

    def refuse_update(self, kind: str, name: str, change: Callable[[dict[str, Any]], None]) -> Refusal:
        ctx = WriteContext()
        with pytest.raises(ApiError) as raised:
            self.resources.update(KINDS[kind], self.namespace, name, _changed(change), ctx)
        return _refusal(raised.value, ctx)

    def delete(self, kind: str, name: str) -> None:
        self.resources.delete(KINDS[kind], self.namespace, name, DeleteOptions())

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.resources.lookup.get(KINDS[kind], self.namespace, name)


def _changed(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def transform(current: dict[str, Any]) -> dict[str, Any]:
        change(current)
        return current
    return transform


def _refusal(error: ApiError, ctx: WriteContext) -> Refusal:
    assert (error.code, error.reason) == (422, "Invalid"), error.message
    assert error.details is not None
    return Refusal(error.details["causes"], error.message, ctx.warnings)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


@pytest.fixture
def admission(store, cluster) -> Admission:
    """The store with a source of core objects (delegated mode), on each database."""
    return Admission(ResourceStore(store, core=cluster))


@pytest.fixture
def standalone(store) -> Admission:
    """The store as the server runs it today: no source of Secrets, ConfigMaps or Services."""
    return Admission(ResourceStore(store))


def admission_with(store, cluster: Cluster | None = None, **options: Any) -> Admission:
    """The store with other admission options (``AdmissionOptions`` fields)."""
    return Admission(ResourceStore(store, core=cluster, admission=AdmissionOptions(**options)))


# Small valid specs the tests start from (a test changes what it is about).

def agent_spec(**extra: Any) -> dict[str, Any]:
    return {"prompt": "You help.", "modelRef": {"name": "default"}, **extra}


def model_spec(base_url: str = "https://api.openai.com/v1", **config: Any) -> dict[str, Any]:
    return {"provider": "openai", "model": {"value": "gpt-4o"},
            "config": {"openai": {"baseUrl": {"value": base_url}, "apiKey": {"value": "sk-test"}, **config}}}


def query_spec(**extra: Any) -> dict[str, Any]:
    return {"input": "hello", "target": {"type": "agent", "name": "helper"}, **extra}


def team_spec(*members: str, strategy: str = "sequential", **extra: Any) -> dict[str, Any]:
    return {"strategy": strategy, "members": [{"type": "agent", "name": m} for m in members], **extra}
