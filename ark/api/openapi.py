"""OpenAPI v3 (per group-version) and v2 (swagger 2.0) documents, generated from the kinds.

CONTRACT section 2. Schemas come from each kind's marshmallow ``spec``/``status`` Schemas
through apispec's :class:`MarshmallowPlugin` (with mappings for the CRD-typed fields of
:mod:`ark.kinds.fields`); paths mirror what apiextensions-apiserver publishes for a CRD
(``pkg/controller/openapi/builder/builder.go``): model names reverse the group
(``com.mckinsey.ark.v1alpha1.Query``), every operation carries ``x-kubernetes-action`` and
``x-kubernetes-group-version-kind``, PATCH lists ``fieldValidation`` among its *operation*
parameters and accepts JSON patch, merge patch and apply patch only (never strategic merge
patch). Nested schemas are inlined, as in a CRD's ``openAPIV3Schema``, so two kinds' classes
can never collide; only the shared ``io.k8s.apimachinery`` meta types are components.

Documents are built once, when the app registers the blueprint (into
``services(app).openapi``), and served as cached bytes. ``python -m
ark.api.openapi --write`` refreshes the snapshot in ``docs/openapi/``; ``--check`` fails
when it is stale.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import marshmallow
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.field_converter import DEFAULT_FIELD_MAPPING
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Blueprint, Response, redirect, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields
from werkzeug.http import http_date

from ark.api.negotiation import ALL_PARAMS, Document, Offer, require, serve
from ark.kinds import fields as ark_fields
from ark.kinds.registry import GROUP, Kind, Registry
from ark.machinery import names
from ark.machinery.errors import not_found_path
from ark.services import services

blueprint = Blueprint("ark_openapi", __name__)

#: Where the app keeps the serialized :class:`OpenAPIDocs`.

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
PATCH_CONTENT_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
STRATEGIC_PATCH = "application/strategic-merge-patch+json"  # the core kinds take it too
SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "openapi"
SWAGGER_FILE = "swagger.json"

_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    f"{_CONVENTIONS}#resources"
)
KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    f"{_CONVENTIONS}#types-kinds"
)
METADATA_DOC = f"Standard object's metadata. More info: {_CONVENTIONS}#metadata"
LIST_METADATA_DOC = f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds"


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"description": text, **extra}


# ---------------------------------------------------------------------------------------------
# The shared meta.k8s.io/v1 types, as marshmallow schemas (rendered by the same plugin).

S, I, B, T, L = ark_fields.String, ark_fields.Integer, ark_fields.Boolean, ark_fields.DateTime, fields.List  # noqa: E741


def _strings(text: str) -> fields.Dict:
    return fields.Dict(keys=S(), values=S(), metadata=_doc(text))


class _Unregistered(Schema):
    class Meta:
        register = False


class ManagedFieldsEntry(_Unregistered):
    apiVersion = S(metadata=_doc(
        "APIVersion defines the version of this resource that this field set applies to, in the format "
        '"group/version" just like the top-level APIVersion field.'))
    fieldsType = S(metadata=_doc('FieldsType is the discriminator for the fields format. The only valid value '
                                 'is "FieldsV1".'))
    fieldsV1 = ark_fields.FreeObject(metadata=_doc('FieldsV1 holds the first JSON version format as described in '
                                                   'the "FieldsV1" type.'))
    manager = S(metadata=_doc("Manager is an identifier of the workflow managing these fields."))
    operation = S(metadata=_doc("Operation is the type of operation which lead to this ManagedFieldsEntry being "
                                "created. The only valid values for this field are 'Apply' and 'Update'."))
    subresource = S(metadata=_doc("Subresource is the name of the subresource used to update that object, or "
                                  "empty string if the object was updated through the main resource."))
    time = T(metadata=_doc("Time is the timestamp of when the ManagedFields entry was added."))


class OwnerReference(_Unregistered):
    class Meta:
        register = False
        description = (
            "OwnerReference contains enough information to let you identify an owning object. An owning object "
            "must be in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.")

    apiVersion = S(required=True, metadata=_doc("API version of the referent."))
    blockOwnerDeletion = B(metadata=_doc(
        'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from '
        "the key-value store until this reference is removed."))
    controller = B(metadata=_doc("If true, this reference points to the managing controller."))
    kind = S(required=True, metadata=_doc(f"Kind of the referent. More info: {_CONVENTIONS}#types-kinds"))
    name = S(required=True, metadata=_doc(
        "Name of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"))
    uid = S(required=True, metadata=_doc(
        "UID of the referent. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"))


class ObjectMeta(_Unregistered):
    class Meta:
        register = False
        description = ("ObjectMeta is metadata that all persisted resources must have, which includes all objects "
                       "users must create.")

    annotations = _strings(
        "Annotations is an unstructured key value map stored with a resource that may be set by external tools to "
        "store and retrieve arbitrary metadata. They are not queryable and should be preserved when modifying "
        "objects. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations")
    creationTimestamp = T(metadata=_doc(
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
        "represented in RFC3339 form and is in UTC. Populated by the system. Read-only. Null for lists."))
    deletionGracePeriodSeconds = I(metadata=_doc(
        "Number of seconds allowed for this object to gracefully terminate before it will be removed from the "
        "system. Only set when deletionTimestamp is also set. Read-only.", format="int64"))
    deletionTimestamp = T(metadata=_doc(
        "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. It is set by the "
        "server when a graceful deletion is requested by the user, and the resource is removed once its "
        "finalizers are empty. Populated by the system. Read-only."))
    finalizers = L(S(), metadata=_doc(
        "Must be empty before the object is deleted from the registry. Each entry is an identifier for the "
        "responsible component that will remove the entry from the list. If the deletionTimestamp of the object "
        "is non-nil, entries in this list can only be removed.",
        **{"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"}))
    generateName = S(metadata=_doc(
        "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name "
        "field has not been provided. The server appends a random suffix to it. More info: "
        f"{_CONVENTIONS}#idempotency"))
    generation = I(metadata=_doc(
        "A sequence number representing a specific generation of the desired state. Populated by the system. "
        "Read-only.", format="int64"))
    labels = _strings(
        "Map of string keys and values that can be used to organize and categorize (scope and select) objects. "
        "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels")
    managedFields = L(fields.Nested(ManagedFieldsEntry), metadata=_doc(
        "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow. This "
        "is mostly for internal housekeeping, and users typically shouldn't need to set or understand this "
        "field.", **{"x-kubernetes-list-type": "atomic"}))
    name = S(metadata=_doc(
        "Name must be unique within a namespace. Is required when creating resources, although some resources "
        "may allow a client to request the generation of an appropriate name automatically. Cannot be updated. "
        "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"))
    namespace = S(metadata=_doc(
        "Namespace defines the space within which each name must be unique. Cannot be updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces"))
    ownerReferences = L(fields.Nested(OwnerReference), metadata=_doc(
        "List of objects depended by this object. If ALL objects in the list have been deleted, this object will "
        "be garbage collected. There cannot be more than one managing controller.",
        **{"x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map",
           "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge"}))
    resourceVersion = S(metadata=_doc(
        "An opaque value that represents the internal version of this object that can be used by clients to "
        "determine when objects have changed. May be used for optimistic concurrency, change detection, and the "
        "watch operation on a resource or set of resources. Populated by the system. Read-only. More info: "
        f"{_CONVENTIONS}#concurrency-control-and-consistency"))
    selfLink = S(metadata=_doc("Deprecated: selfLink is a legacy read-only field that is no longer populated by "
                               "the system."))
    uid = S(metadata=_doc(
        "UID is the unique in time and space value for this object. It is typically generated by the server on "
        "successful creation of a resource and is not allowed to change on PUT operations. Populated by the "
        "system. Read-only. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"))


class ListMeta(_Unregistered):
    class Meta:
        register = False
        description = "ListMeta describes metadata that synthetic resources must have, including lists."

    _continue = S(data_key="continue", metadata=_doc(
        "continue may be set if the user set a limit on the number of items returned, and indicates that the "
        "server has more data available. The value is opaque and may be used to issue another request to the "
        "endpoint that served this list to retrieve the next set of available objects."))
    remainingItemCount = I(metadata=_doc(
        "remainingItemCount is the number of subsequent items in the list which are not included in this list "
        "response.", format="int64"))
    resourceVersion = S(metadata=_doc(
        "String that identifies the server's internal version of this object that can be used by clients to "
        "determine when objects have changed. Populated by the system. Read-only. More info: "
        f"{_CONVENTIONS}#concurrency-control-and-consistency"))
    selfLink = S(metadata=_doc("Deprecated: selfLink is a legacy read-only field that is no longer populated by "
                               "the system."))


class StatusCause(_Unregistered):
    class Meta:
        register = False
        description = ("StatusCause provides more information about an api.Status failure, including cases when "
                       "multiple errors are encountered.")

    field = S(metadata=_doc('The field of the resource that has caused this error, as named by its JSON '
                            'serialization, e.g. "spec.target.name".'))
    message = S(metadata=_doc("A human-readable description of the cause of the error."))
    reason = S(metadata=_doc("A machine-readable description of the cause of the error."))


class StatusDetails(_Unregistered):
    class Meta:
        register = False
        description = ("StatusDetails is a set of additional properties that MAY be set by the server to provide "
                       "additional information about a response.")

    causes = L(fields.Nested(StatusCause), metadata=_doc(
        "The Causes array includes more details associated with the StatusReason failure.",
        **{"x-kubernetes-list-type": "atomic"}))
    group = S(metadata=_doc("The group attribute of the resource associated with the status StatusReason."))
    kind = S(metadata=_doc("The kind attribute of the resource associated with the status StatusReason."))
    name = S(metadata=_doc("The name attribute of the resource associated with the status StatusReason."))
    retryAfterSeconds = I(metadata=_doc("If specified, the time in seconds before the operation should be "
                                        "retried.", format="int32"))
    uid = S(metadata=_doc("UID of the resource."))


class Status(_Unregistered):
    class Meta:
        register = False
        description = "Status is a return value for calls that don't return other objects."

    apiVersion = S(metadata=_doc(API_VERSION_DOC))
    code = I(metadata=_doc("Suggested HTTP return code for this status, 0 if not set.", format="int32"))
    details = fields.Nested(StatusDetails, metadata=_doc(
        "Extended data associated with the reason. Each reason may define its own extended details."))
    kind = S(metadata=_doc(KIND_DOC))
    message = S(metadata=_doc("A human-readable description of the status of this operation."))
    metadata = fields.Nested(ListMeta, metadata=_doc(LIST_METADATA_DOC))
    reason = S(metadata=_doc('A machine-readable description of why this operation is in the "Failure" status.'))
    status = S(metadata=_doc('Status of the operation. One of: "Success" or "Failure".'))


class Preconditions(_Unregistered):
    class Meta:
        register = False
        description = "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out."

    resourceVersion = S(metadata=_doc("Specifies the target ResourceVersion"))
    uid = S(metadata=_doc("Specifies the target UID."))


class DeleteOptions(_Unregistered):
    class Meta:
        register = False
        description = "DeleteOptions may be provided when deleting an API object."

    apiVersion = S(metadata=_doc(API_VERSION_DOC))
    dryRun = L(S(), metadata=_doc(
        "When present, indicates that modifications should not be persisted. The only valid value is All.",
        **{"x-kubernetes-list-type": "atomic"}))
    gracePeriodSeconds = I(metadata=_doc("The duration in seconds before the object should be deleted.",
                                         format="int64"))
    kind = S(metadata=_doc(KIND_DOC))
    orphanDependents = B(metadata=_doc('Deprecated: please use the PropagationPolicy. Should the dependent '
                                       'objects be orphaned.'))
    preconditions = fields.Nested(Preconditions, metadata=_doc(
        "Must be fulfilled before a deletion is carried out. If not possible, a 409 Conflict status will be "
        "returned."))
    propagationPolicy = S(metadata=_doc(
        "Whether and how garbage collection will be performed: 'Orphan', 'Background' (the default) or "
        "'Foreground'."))


#: Registered first, leaves first, so that references to them resolve to ``$ref``.
META_SCHEMAS: tuple[tuple[str, type[Schema]], ...] = (
    (f"{META}.ManagedFieldsEntry", ManagedFieldsEntry),
    (f"{META}.OwnerReference", OwnerReference),
    (f"{META}.ObjectMeta", ObjectMeta),
    (f"{META}.ListMeta", ListMeta),
    (f"{META}.StatusCause", StatusCause),
    (f"{META}.StatusDetails", StatusDetails),
    (f"{META}.Status", Status),
    (f"{META}.Preconditions", Preconditions),
    (f"{META}.DeleteOptions", DeleteOptions),
)


# ---------------------------------------------------------------------------------------------
# apispec: field mappings for the CRD-typed fields and the x-kubernetes-* extensions.

FIELD_MAPPING: dict[type, tuple[str | None, str | None]] = {
    ark_fields.String: ("string", None),
    ark_fields.Integer: ("integer", None),  # format (int32/int64) comes from the field's metadata
    ark_fields.Number: ("number", None),
    ark_fields.Boolean: ("boolean", None),
    ark_fields.IntOrString: (None, None),
    ark_fields.FreeForm: (None, None),
    ark_fields.FreeObject: ("object", None),
    ark_fields.DateTime: ("string", "date-time"),
}


def kubernetes_extensions(self, field: marshmallow.fields.Field, ret: dict, **kwargs: Any) -> dict:
    """apispec attribute function: the ``x-kubernetes-*`` markers of the CRD-typed fields."""
    if isinstance(field, ark_fields.IntOrString):
        return {"x-kubernetes-int-or-string": True}
    if isinstance(field, (ark_fields.FreeForm, ark_fields.FreeObject)):
        return {"x-kubernetes-preserve-unknown-fields": True}
    return {}


class ArkConverter(OpenAPIConverter):
    """apispec's converter with our field mapping (per instance: apispec's default is global)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.field_mapping = dict(DEFAULT_FIELD_MAPPING)
        for field_cls, mapping in FIELD_MAPPING.items():
            self.map_to_openapi_type(field_cls, *mapping)
        self.add_attribute_function(kubernetes_extensions)

    def schema2jsonschema(self, schema: Any) -> dict:
        """A structural schema: no ``additionalProperties: false`` (pruning, not rejection)."""
        jsonschema = super().schema2jsonschema(schema)
        if isinstance(jsonschema.get("additionalProperties"), bool):
            preserve = jsonschema.pop("additionalProperties")
            if preserve:
                jsonschema["x-kubernetes-preserve-unknown-fields"] = True
        if not jsonschema.get("properties"):
            jsonschema.pop("properties", None)
        return jsonschema


def _inline(schema: type[Schema]) -> str:
    """apispec's name resolver; an empty name makes it inline the nested schema."""
    return ""


class ArkMarshmallowPlugin(MarshmallowPlugin):
    Converter = ArkConverter

    def __init__(self) -> None:
        # No name for nested schemas: they are inlined, as in a CRD's openAPIV3Schema.
        super().__init__(schema_name_resolver=_inline)


# ---------------------------------------------------------------------------------------------
# Names


CORE_MODELS = "io.k8s.api.core"


def model_name(group: str, version: str, kind: str) -> str:
    """``com.mckinsey.ark.v1alpha1.Query`` (apiextensions ``gvkToModelName``);
    ``io.k8s.api.core.v1.Secret`` for the core group, as kube-apiserver names its models."""
    prefix = reversed(group.split(".")) if group else [CORE_MODELS]
    return ".".join([*prefix, version, kind])


def _gvk(kind: Kind, name: str | None = None) -> dict[str, str]:
    return {"group": kind.group, "kind": name or kind.kind, "version": kind.version}


def _op_prefix(kind: Kind) -> str:
    """``ArkMckinseyComV1alpha1``: the group-version part of CRD operation ids."""
    words = [*(kind.group or "core").split("."), kind.version]
    return "".join(w[:1].upper() + w[1:] for w in words)


def _tag(kind: Kind) -> str:
    first, *rest = (kind.group or "core").split(".")
    return first + "".join(w.capitalize() for w in rest) + "_" + kind.version


# ---------------------------------------------------------------------------------------------
# Kind schemas


def _kind_schema(kind: Kind) -> type[Schema]:
    attrs: dict[str, Any] = {
        "Meta": type("Meta", (), {"register": False}),
        "apiVersion": S(metadata=_doc(API_VERSION_DOC)),
        "kind": S(metadata=_doc(KIND_DOC)),
        "metadata": fields.Nested(ObjectMeta, metadata=_doc(METADATA_DOC)),
    }
    if kind.body is not None:
        attrs.update((name, copy.copy(f)) for name, f in kind.body.fields.items())
    else:
        attrs["spec"] = fields.Nested(kind.spec, required=kind.spec_required, metadata=_doc(
            f"Spec defines the desired state of the {kind.kind}."))
        attrs["status"] = fields.Nested(kind.status, metadata=_doc(
            f"Status is the observed state of the {kind.kind}; it is written through the status subresource."))
    return type(f"{kind.kind}{kind.version.capitalize()}Object", (Schema,), attrs)


def _list_schema(kind: Kind, item: type[Schema]) -> type[Schema]:
    attrs: dict[str, Any] = {
        "Meta": type("Meta", (), {"register": False}),
        "apiVersion": S(metadata=_doc(API_VERSION_DOC)),
        "items": L(fields.Nested(item), required=True, metadata=_doc(
            f"List of {kind.plural}. More info: {_CONVENTIONS}")),
        "kind": S(metadata=_doc(KIND_DOC)),
        "metadata": fields.Nested(ListMeta, metadata=_doc(LIST_METADATA_DOC)),
    }
    return type(f"{kind.kind}{kind.version.capitalize()}ListObject", (Schema,), attrs)


def _register_kind(spec: APISpec, kind: Kind) -> None:
    item = _kind_schema(kind)
    header: dict[str, Any] = {"description": kind.description} if kind.description else {}
    header["x-kubernetes-group-version-kind"] = [_gvk(kind)]
    spec.components.schema(model_name(kind.group, kind.version, kind.kind), header, schema=item)
    spec.components.schema(
        model_name(kind.group, kind.version, kind.list_kind),
        {"description": f"{kind.list_kind} is a list of {kind.kind}",
         "x-kubernetes-group-version-kind": [_gvk(kind, kind.list_kind)]},
        schema=_list_schema(kind, item),
    )


# ---------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class _Param:
    name: str
    type: str
    description: str
    location: str = "query"
    constraints: tuple[tuple[str, Any], ...] = ()  # pattern, maxLength: what the server accepts

    def render(self, v3: bool) -> dict[str, Any]:
        if v3:
            return {"name": self.name, "in": self.location, "description": self.description,
                    "schema": {"type": self.type, "uniqueItems": True, **dict(self.constraints)}}
        return {"name": self.name, "in": self.location, "description": self.description, "type": self.type,
                "uniqueItems": True, **dict(self.constraints)}


_P = {
    p.name: p
    for p in (
        _Param("allowWatchBookmarks", "boolean", 'allowWatchBookmarks requests watch events with type "BOOKMARK".'),
        _Param("continue", "string", "The continue option should be set when retrieving more results from the "
                                     "server. Its value is the metadata.continue of the previous page."),
        _Param("dryRun", "string", "When present, indicates that modifications should not be persisted. The only "
                                   "valid value is: All."),
        _Param("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is "
                                         "making these changes. It must be at most 128 printable characters. "
                                         "Required for apply requests (application/apply-patch+yaml)."),
        _Param("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. "
                                          "Defaults to everything."),
        _Param("fieldValidation", "string",
               "fieldValidation instructs the server on how to handle objects in the request containing unknown "
               "or duplicate fields. Valid values are: - Ignore: drops them silently. - Warn: drops them and "
               "sends a warning for each (the default). - Strict: fails the request with a BadRequest error."),
        _Param("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire "
                                   "conflicting fields owned by other people. Must be unset for non-apply patch "
                                   "requests."),
        _Param("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
        _Param("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. "
                                          "Defaults to everything."),
        _Param("limit", "integer", "limit is a maximum number of responses to return for a list call. If more "
                                   "items exist, the server sets the continue field on the list metadata."),
        _Param("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy. Should the dependent "
                                              "objects be orphaned."),
        _Param("propagationPolicy", "string", "Whether and how garbage collection will be performed: 'Orphan', "
                                              "'Background' (the default) or 'Foreground'."),
        _Param("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request "
                                            "may be served from. Defaults to unset."),
        _Param("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied "
                                                 "to list calls: NotOlderThan or Exact."),
        _Param("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`: "
                                               "the stream then begins with synthetic events for the current "
                                               "state, followed by a bookmark annotated "
                                               "\"k8s.io/initial-events-end\"."),
        _Param("timeoutSeconds", "integer", "Timeout for the list/watch call, regardless of any activity or "
                                            "inactivity."),
        _Param("watch", "boolean", "Watch for changes to the described resources and return them as a stream of "
                                   "add, update, and remove notifications."),
    )
}

LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
               "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
DELETECOLLECTION_PARAMS = ("continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "labelSelector", "limit",
                           "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch",
                           "sendInitialEvents", "timeoutSeconds")


def _path_params(kind: Kind, named: bool, v3: bool) -> list[dict[str, Any]]:
    params = []
    if named:
        params.append(_Param("name", "string", f"name of the {kind.kind}", "path",
                             (("pattern", names.SUBDOMAIN_PATTERN), ("maxLength", names.SUBDOMAIN_MAX))).render(v3))
    if not kind.namespaced:
        for p in params:
            p["required"] = True
        return params
    params.append(_Param("namespace", "string", "object name and auth scope, such as for teams and projects",
                         "path", (("pattern", names.LABEL_PATTERN), ("maxLength", names.LABEL_MAX))).render(v3))
    for p in params:
        p["required"] = True
    return params


#: The failures the server answers with a Status, and (below) the actions that can meet each one.
STATUS_RESPONSES = {
    400: "BadRequest: a malformed body, selector, option, resourceVersion or continue token",
    404: "NotFound: no such object",
    406: "NotAcceptable: no representation the server offers matches the Accept header",
    408: "Timeout: the request body stalled",
    409: "Conflict (a stale resourceVersion or precondition) or AlreadyExists",
    410: "Expired: the resourceVersion or continue token is older than the kept history",
    413: "RequestEntityTooLarge: the body, or the object it makes, is over the limit",
    415: "UnsupportedMediaType: the body's Content-Type is not one the operation accepts",
    422: "Invalid: the object or the options fail validation",
    500: "InternalError",
    503: "ServiceUnavailable: the database cannot be reached; retry after Retry-After",
    504: "Timeout: the request did not complete in time, or its resourceVersion is not reached yet",
}
_READ = (400, 404, 406, 500, 503, 504)
_BODY = (408, 413, 415)
ERRORS_BY_ACTION = {
    "get": _READ,
    "list": (400, 406, 410, 422, 500, 503, 504),
    "post": (400, 406, 409, 422, 500, 503, 504, *_BODY),
    "put": (*_READ, 409, 422, *_BODY),
    "patch": (*_READ, 409, 422, *_BODY),
    "delete": (*_READ, 409, 422, *_BODY),
    "deletecollection": (400, 406, 410, 422, 500, 503, 504, *_BODY),
}


def _operation(
    kind: Kind,
    v3: bool,
    *,
    op_id: str,
    action: str,
    description: str,
    params: tuple[str, ...],
    responses: dict[int, tuple[str, str]],
    body: str | None = None,
    body_required: bool = True,
    body_types: tuple[str, ...] = ("application/json",),
    produces: tuple[str, ...] = ("application/json",),
) -> dict[str, Any]:
    """One operation; ``body``/``responses`` name schemas (a model name, or "" for a bare object)."""

    def schema(name: str) -> dict[str, Any]:
        if not name:
            return {"type": "object"}
        return {"$ref": ("#/components/schemas/" if v3 else "#/definitions/") + name}

    op: dict[str, Any] = {"tags": [_tag(kind)], "description": description, "operationId": op_id}
    rendered = [_P[name].render(v3) for name in params]
    if body is not None and not v3:
        rendered.insert(0, {"name": "body", "in": "body", "required": body_required, "schema": schema(body)})
    if rendered:
        op["parameters"] = rendered
    if body is not None and v3:
        op["requestBody"] = {"content": {t: {"schema": schema(body)} for t in body_types}}
        if body_required:
            op["requestBody"]["required"] = True
    out: dict[Any, Any] = {}
    failures = {code: (STATUS_RESPONSES[code], f"{META}.Status") for code in ERRORS_BY_ACTION[action]}
    for code, (text, name) in {**responses, **failures}.items():
        if v3:
            types = produces if code < 300 else ("application/json",)
            out[code] = {"description": text, "content": {t: {"schema": schema(name)} for t in types}}
        else:
            out[code] = {"description": text, "schema": schema(name)}
    out[401] = {"description": "Unauthorized"}
    op["responses"] = dict(sorted(out.items()))
    if not v3:
        op["consumes"] = list(body_types) if body is not None else ["*/*"]
        op["produces"] = list(produces)
        op["schemes"] = ["https"]
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = _gvk(kind)
    return op


def _add_paths(spec: APISpec, kind: Kind, v3: bool) -> None:
    k = kind.kind
    gv = f"{_op_prefix(kind)}"
    scope = "Namespaced" if kind.namespaced else ""
    model = model_name(kind.group, kind.version, kind.kind)
    list_model = model_name(kind.group, kind.version, kind.list_kind)
    status_model = f"{META}.Status"
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    collection = f"{base}/namespaces/{{namespace}}/{kind.plural}" if kind.namespaced else f"{base}/{kind.plural}"
    item = f"{collection}/{{name}}"
    list_produces = ("application/json", "application/json;stream=watch")
    patch_types = PATCH_CONTENT_TYPES if kind.group else (*PATCH_CONTENT_TYPES, STRATEGIC_PATCH)
    ok, created, accepted = "OK", "Created", "Accepted"

    def op(**kwargs: Any) -> dict[str, Any]:
        return _operation(kind, v3, **kwargs)

    spec.path(
        collection,
        parameters=_path_params(kind, False, v3),
        operations={
            "get": op(op_id=f"list{gv}{scope}{k}", action="list", description=f"list or watch objects of kind {k}",
                      params=LIST_PARAMS, responses={200: (ok, list_model)}, produces=list_produces),
            "post": op(op_id=f"create{gv}{scope}{k}", action="post", description=f"create a {k}",
                       params=WRITE_PARAMS, body=model,
                       responses={200: (ok, model), 201: (created, model), 202: (accepted, model)}),
            "delete": op(op_id=f"delete{gv}Collection{scope}{k}", action="deletecollection",
                         description=f"delete collection of {k}", params=DELETECOLLECTION_PARAMS,
                         body=f"{META}.DeleteOptions", body_required=False, responses={200: (ok, status_model)}),
        },
    )
    spec.path(
        item,
        parameters=_path_params(kind, True, v3),
        operations={
            "get": op(op_id=f"read{gv}{scope}{k}", action="get", description=f"read the specified {k}",
                      params=(), responses={200: (ok, model)}),
            "put": op(op_id=f"replace{gv}{scope}{k}", action="put", description=f"replace the specified {k}",
                      params=WRITE_PARAMS, body=model, responses={200: (ok, model), 201: (created, model)}),
            "patch": op(op_id=f"patch{gv}{scope}{k}", action="patch",
                        description=f"partially update the specified {k}", params=PATCH_PARAMS, body="",
                        body_types=patch_types, responses={200: (ok, model), 201: (created, model)}),
            "delete": op(op_id=f"delete{gv}{scope}{k}", action="delete", description=f"delete a {k}",
                         params=DELETE_PARAMS, body=f"{META}.DeleteOptions", body_required=False,
                         responses={200: (ok, status_model), 202: (accepted, status_model)}),
        },
    )
    if kind.has_status:
        spec.path(
            f"{item}/status",
            parameters=_path_params(kind, True, v3),
            operations={
                "get": op(op_id=f"read{gv}{scope}{k}Status", action="get",
                          description=f"read status of the specified {k}", params=(), responses={200: (ok, model)}),
                "put": op(op_id=f"replace{gv}{scope}{k}Status", action="put",
                          description=f"replace status of the specified {k}", params=WRITE_PARAMS, body=model,
                          responses={200: (ok, model), 201: (created, model)}),
                "patch": op(op_id=f"patch{gv}{scope}{k}Status", action="patch",
                            description=f"partially update status of the specified {k}", params=PATCH_PARAMS,
                            body="", body_types=patch_types, responses={200: (ok, model), 201: (created, model)}),
            },
        )
    if "finalize" in kind.subresources:
        spec.path(
            f"{item}/finalize",
            parameters=_path_params(kind, True, v3),
            operations={
                "put": op(op_id=f"replace{gv}{scope}{k}Finalize", action="put",
                          description=f"replace finalize of the specified {k}", params=WRITE_PARAMS, body=model,
                          responses={200: (ok, model), 201: (created, model)}),
            },
        )
    if kind.namespaced:
        spec.path(
            f"{base}/{kind.plural}",
            operations={
                "get": op(op_id=f"list{gv}{k}ForAllNamespaces", action="list",
                          description=f"list or watch objects of kind {k}", params=LIST_PARAMS,
                          responses={200: (ok, list_model)}, produces=list_produces),
            },
        )


# ---------------------------------------------------------------------------------------------
# Documents


def _new_spec(openapi_version: str, title: str, version: str) -> APISpec:
    spec = APISpec(title=title, version=version, openapi_version=openapi_version, plugins=[ArkMarshmallowPlugin()])
    for name, schema in META_SCHEMAS:
        spec.components.schema(name, schema=schema)
    return spec


def _build(kinds: list[Kind], openapi_version: str, version: str) -> dict[str, Any]:
    spec = _new_spec(openapi_version, "Ark API Server", version)
    v3 = openapi_version.startswith("3")
    for kind in kinds:
        _register_kind(spec, kind)
    for kind in kinds:
        _add_paths(spec, kind, v3)
    # apispec shares dicts between uses (e.g. the same inlined sub-schema): make the tree independent.
    return copy.deepcopy(spec.to_dict())


def build_v3(registry: Registry, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group-version."""
    return _build(registry.in_version(version), "3.0.0", version)


def build_v2(registry: Registry) -> dict[str, Any]:
    """The swagger 2.0 document of every served kind."""
    kinds = [k for v in registry.versions() for k in registry.in_version(v)]
    return _build(kinds, "2.0", "unversioned")


def render_snapshot(document: Any) -> str:
    """The committed form: pretty, sorted keys, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def gv_key(version: str) -> str:
    """``apis/ark.mckinsey.com/v1alpha1``: the key in ``/openapi/v3`` and the path suffix."""
    return f"apis/{GROUP}/{version}"


CORE_KEY = "api/v1"


@dataclass(frozen=True)
class OpenAPIDocs:
    v3: dict[str, Document]  # "apis/<group>/<version>" (and "api/v1" in standalone mode) -> document
    v3_root: Document
    v2: Document

    @classmethod
    def build(cls, registry: Registry, core: Registry | None = None) -> OpenAPIDocs:
        """The documents, each group-version's built once per process (``_built``)."""
        v3 = {gv_key(version): _built(registry, gv_key(version), functools.partial(build_v3, registry, version))
              for version in registry.versions()}
        if core is not None:
            v3[CORE_KEY] = _built(core, CORE_KEY, lambda: build_v3(core, "v1"))
        root = {
            "paths": {
                key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={document.hash}"} for key, document in v3.items()
            }
        }
        return cls(v3=v3, v3_root=Document.of(root), v2=_built(registry, "v2", lambda: build_v2(registry)))


_BUILT: dict[tuple[int, str], tuple[Registry, Document]] = {}


def _built(registry: Registry, key: str, build: Callable[[], dict[str, Any]]) -> Document:
    """A document of ``registry``, built once per process (a few hundred ms of CPU): the gunicorn
    master builds them before it forks (ark.server), so that no worker spends its start on them."""
    found = _BUILT.get((id(registry), key))
    if found is None or found[0] is not registry:
        found = _BUILT[(id(registry), key)] = (registry, Document.of(build()))
    return found[1]


def documents_of(registry: Registry, core: Registry | None = None) -> OpenAPIDocs:
    """The documents of ``registry`` (and of the core kinds of standalone mode, ``core``)."""
    return OpenAPIDocs.build(registry, core)


@blueprint.record_once
def _build_documents(state: BlueprintSetupState) -> None:
    """Serialize every document once, when the app registers the blueprint."""
    app_services = services(state.app)
    app_services.openapi = documents_of(app_services.registry, app_services.core)


def _docs() -> OpenAPIDocs:
    docs = services().openapi
    assert docs is not None, "built when the blueprint was registered"
    return docs


# ---------------------------------------------------------------------------------------------
# Views (kube-openapi pkg/handler3/handler.go, pkg/handler/handler.go)

#: kube-openapi matches on type/subtype only; we serve JSON (no protobuf).
JSON_OFFERS = (Offer("application/json"),)


def _require_json() -> None:
    require(request.headers.get("Accept"), JSON_OFFERS, ignore=ALL_PARAMS)


@blueprint.get("/openapi/v3")
@blueprint.get("/openapi/v3/")
def openapi_v3_root() -> Response:
    _require_json()
    return serve(_docs().v3_root)


@blueprint.get(f"/openapi/v3/apis/{GROUP}/<version>")
def openapi_v3(version: str) -> ResponseReturnValue:
    return _serve_v3(gv_key(version))


@blueprint.get(f"/openapi/v3/{CORE_KEY}")
def openapi_v3_core() -> ResponseReturnValue:
    """The core kinds of standalone mode (absent in delegated mode)."""
    return _serve_v3(CORE_KEY)


def _serve_v3(key: str) -> ResponseReturnValue:
    document = _docs().v3.get(key)
    if document is None:
        raise not_found_path()
    _require_json()
    wanted = request.args.get("hash")
    if wanted and wanted != document.hash:
        response = redirect(f"/openapi/v3/{key}?hash={document.hash}", code=301)
        response.headers["Vary"] = "Accept"
        return response
    headers = {}
    if wanted:
        headers = {"Cache-Control": "public, immutable", "Expires": http_date(time.time() + 365 * 24 * 3600)}
    return serve(document, headers)


@blueprint.get("/openapi/v2")
def openapi_v2() -> Response:
    _require_json()
    return serve(_docs().v2)


# ---------------------------------------------------------------------------------------------
# Snapshot (docs/openapi/)


def snapshot_files(registry: Registry) -> dict[str, str]:
    """File name -> content of the committed snapshot."""
    files = {f"{version}.json": render_snapshot(build_v3(registry, version)) for version in registry.versions()}
    files[SWAGGER_FILE] = render_snapshot(build_v2(registry))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ark.api.openapi", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write the snapshot files")
    action.add_argument("--check", action="store_true", help="exit 1 when the snapshot is stale")
    parser.add_argument("--dir", type=Path, default=SNAPSHOT_DIR, help=f"snapshot directory (default {SNAPSHOT_DIR})")
    args = parser.parse_args(argv)

    from ark.kinds import REGISTRY

    files = snapshot_files(REGISTRY)
    if args.check:
        stale = [n for n, text in files.items() if not (args.dir / n).is_file() or (args.dir / n).read_text() != text]
        for name in stale:
            print(f"stale: {args.dir / name}", file=sys.stderr)
        if stale:
            print("the OpenAPI snapshot is out of date: run `make generate`", file=sys.stderr)
        return 1 if stale else 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.dir / name).write_text(text)
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
