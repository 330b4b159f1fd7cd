"""API discovery: ``/apis`` (aggregated v2/v2beta1 or legacy), ``/apis/G``, ``/apis/G/V``, and
in standalone mode ``/api`` (aggregated or ``APIVersions``) and ``/api/v1`` for the core kinds.

CONTRACT section 1. Every document is derived from the kind registry alone, serialized once
when the app registers the blueprint (into ``services(app).discovery``) and served from
memory: discovery never touches the database (the aggregator's availability probe has a 5 s
budget).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState

from ark.api.negotiation import Document, Offer, require, serve
from ark.kinds.registry import GROUP, Kind, Registry
from ark.machinery.errors import not_found_path
from ark.services import services

blueprint = Blueprint("ark_discovery", __name__)

#: Where the app keeps the serialized :class:`DiscoveryDocs`.

#: What CRD discovery publishes for a resource, in the legacy (``APIResourceList``) order.
RESOURCE_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")
SUBRESOURCE_VERBS = {"status": STATUS_VERBS, "finalize": ("update",)}

DISCOVERY_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"


def aggregated_content_type(version: str) -> str:
    """``application/json;g=apidiscovery.k8s.io;v=<version>;as=APIGroupDiscoveryList``."""
    return f"application/json;g={DISCOVERY_GROUP};v={version};as={AGGREGATED_KIND}"


#: ``/apis`` offers, in server preference order (``wrapper.go``: aggregated when asked for).
APIS_OFFERS = (
    Offer("application/json", {"g": DISCOVERY_GROUP, "v": "v2", "as": AGGREGATED_KIND}, value="v2",
          content_type=aggregated_content_type("v2")),
    Offer("application/json", {"g": DISCOVERY_GROUP, "v": "v2beta1", "as": AGGREGATED_KIND}, value="v2beta1",
          content_type=aggregated_content_type("v2beta1")),
    Offer("application/json", value="legacy"),
)
JSON_OFFERS = (Offer("application/json"),)


# ---------------------------------------------------------------------------------------------
# Documents


def _group_version(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group(registry: Registry, group: str = GROUP) -> dict[str, Any]:
    """The ``APIGroup`` entry (without kind/apiVersion inside an ``APIGroupList``)."""
    versions = registry.versions()
    return {
        "name": group,
        "versions": [_group_version(group, v) for v in versions],
        "preferredVersion": _group_version(group, versions[0]),
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [api_group(registry)] if registry.versions() else []
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _legacy_resources(kind: Kind) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(RESOURCE_VERBS),
    }
    if kind.short_names:
        main["shortNames"] = list(kind.short_names)
    if kind.categories:
        main["categories"] = list(kind.categories)
    main["storageVersionHash"] = kind.storage_version_hash
    subresources = [
        {"name": f"{kind.plural}/{sub}", "singularName": "", "namespaced": kind.namespaced, "kind": kind.kind,
         "verbs": list(SUBRESOURCE_VERBS[sub])}
        for sub in kind.subresources
    ]
    return [main, *subresources]


def api_resource_list(registry: Registry, version: str, group: str = GROUP) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for kind in registry.in_version(version):
        resources.extend(_legacy_resources(kind))
    resources.sort(key=lambda r: r["name"])
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def api_versions(registry: Registry) -> dict[str, Any]:
    """``/api`` for a client that does not ask for aggregated discovery."""
    return {"kind": "APIVersions", "versions": registry.versions(),
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]}


def _response_kind(kind: Kind) -> dict[str, str]:
    return {"group": kind.group, "version": kind.version, "kind": kind.kind}


def _aggregated_resource(kind: Kind) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resource": kind.plural,
        "responseKind": _response_kind(kind),
        "scope": "Namespaced" if kind.namespaced else "Cluster",
        "singularResource": kind.singular,
        "verbs": sorted(RESOURCE_VERBS),
    }
    if kind.short_names:
        resource["shortNames"] = list(kind.short_names)
    if kind.categories:
        resource["categories"] = list(kind.categories)
    if kind.subresources:
        resource["subresources"] = [
            {"subresource": sub, "responseKind": _response_kind(kind), "verbs": sorted(SUBRESOURCE_VERBS[sub])}
            for sub in kind.subresources
        ]
    return resource


def _aggregated_resources(registry: Registry, version: str) -> list[dict[str, Any]]:
    """Sorted by name, as the CRD discovery controller publishes them."""
    return sorted((_aggregated_resource(k) for k in registry.in_version(version)), key=lambda r: str(r["resource"]))


def aggregated_discovery(registry: Registry, api_version: str = "v2", group: str = GROUP) -> dict[str, Any]:
    """``APIGroupDiscoveryList``; v2beta1 has the same fields, only ``apiVersion`` differs. The
    core group (``/api``) is the item named ""."""
    versions = [
        {"version": version, "resources": _aggregated_resources(registry, version), "freshness": "Current"}
        for version in registry.versions()
    ]
    items = [{"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}] if versions else []
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{DISCOVERY_GROUP}/{api_version}",
        "metadata": {},
        "items": items,
    }


@dataclass(frozen=True)
class DiscoveryDocs:
    """Every discovery response of one registry (and the core kinds'), serialized."""

    aggregated: dict[str, Document]  # "v2" / "v2beta1"
    group_list: Document
    group: Document
    resource_lists: dict[str, Document]  # version -> APIResourceList
    #: ``/api`` aggregated ("v2" / "v2beta1") and ``/api/v1``; empty without core kinds.
    core_aggregated: dict[str, Document]
    core_resource_list: Document | None

    @classmethod
    def build(cls, registry: Registry, core: Registry | None = None) -> DiscoveryDocs:
        aggregated = {
            offer.value: Document.of(aggregated_discovery(registry, offer.value), offer.header)
            for offer in APIS_OFFERS
            if offer.value != "legacy"
        }
        core_aggregated = {} if core is None else {
            offer.value: Document.of(aggregated_discovery(core, offer.value, ""), offer.header)
            for offer in APIS_OFFERS
            if offer.value != "legacy"
        }
        group = dict(kind="APIGroup", apiVersion="v1", **api_group(registry)) if registry.versions() else None
        return cls(
            aggregated=aggregated,
            group_list=Document.of(api_group_list(registry)),
            group=Document.of(group),
            resource_lists={v: Document.of(api_resource_list(registry, v)) for v in registry.versions()},
            core_aggregated=core_aggregated,
            core_resource_list=None if core is None else Document.of(api_resource_list(core, "v1", "")),
        )


@blueprint.record_once
def _build_documents(state: BlueprintSetupState) -> None:
    """Serialize every document once, when the app registers the blueprint."""
    app_services = services(state.app)
    app_services.discovery = DiscoveryDocs.build(app_services.registry, app_services.core)


def _docs() -> DiscoveryDocs:
    docs = services().discovery
    assert docs is not None, "built when the blueprint was registered"
    return docs


# ---------------------------------------------------------------------------------------------
# Views


@blueprint.get("/apis")
@blueprint.get("/apis/")
def apis() -> Response:
    docs = _docs()
    match = require(request.headers.get("Accept"), APIS_OFFERS)
    if match.offer.value == "legacy":
        return serve(docs.group_list)
    return serve(docs.aggregated[match.offer.value])


@blueprint.get(f"/apis/{GROUP}")
@blueprint.get(f"/apis/{GROUP}/")
def api_group_view() -> Response:
    docs = _docs()
    require(request.headers.get("Accept"), JSON_OFFERS)
    if not docs.resource_lists:
        raise not_found_path()
    return serve(docs.group)


@blueprint.get(f"/apis/{GROUP}/<version>")
@blueprint.get(f"/apis/{GROUP}/<version>/")
def api_resource_list_view(version: str) -> Response:
    document = _docs().resource_lists.get(version)
    if document is None:
        raise not_found_path()
    require(request.headers.get("Accept"), JSON_OFFERS)
    return serve(document)


@blueprint.get("/api")
@blueprint.get("/api/")
def legacy_api() -> Response:
    """The core group in standalone mode. In delegated mode there is none here; client-go
    tolerates the 404 (``downloadLegacy``)."""
    docs = _docs()
    if not docs.core_aggregated:
        raise not_found_path()
    match = require(request.headers.get("Accept"), APIS_OFFERS)
    if match.offer.value == "legacy":
        return serve(Document.of(api_versions(services().core or Registry())))
    return serve(docs.core_aggregated[match.offer.value])


@blueprint.get("/api/v1")
@blueprint.get("/api/v1/")
def core_resource_list_view() -> Response:
    document = _docs().core_resource_list
    if document is None:
        raise not_found_path()
    require(request.headers.get("Accept"), JSON_OFFERS)
    return serve(document)
