"""The generic resource endpoints: one set of views serves every kind (CONTRACT 3-7).

Views only translate HTTP to calls and back: decoding and options (``ark.api.options``),
admission (``ark.api.admission``), Kubernetes semantics (``ark.machinery``), persistence
(``ark.storage.store``).
"""
from __future__ import annotations

import copy
import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from ark.api import representation, watch
from ark.api.admission import Admission
from ark.api.options import (
    body_media_type,
    decode_object,
    parse_resource_version,
    read_body,
    request_media_type,
    wait_not_older_than,
    write_options,
)
from ark.kinds.registry import GROUP, Kind
from ark.kinds.validation import FieldError
from ark.machinery import codec, errors, meta, pagination, patch, selectors, table
from ark.machinery.errors import ApiError
from ark.storage.store import Compacted, Delete, KeyExists, ListQuery, Store, Unchanged, Write

blueprint = Blueprint("resources", __name__)

GENERATE_NAME_ATTEMPTS = 8
MAX_PAGE = 1_000_000  # a larger limit means "everything" in practice, and keeps SQL LIMIT in range
_BASE = f"/apis/{GROUP}/<version>"


def _store() -> Store:
    return current_app.extensions["ark.store"]


def _kind(version: str, plural: str) -> Kind:
    kind = current_app.extensions["ark.registry"].lookup(version, plural)
    if kind is None:
        raise errors.not_found_path()
    return kind


def _json(payload: Any, status: int = 200) -> Response:
    body = payload if isinstance(payload, str) else codec.dumps(payload)
    return Response(body, status=status, mimetype="application/json")


def _render_object(kind: Kind, body: str, status: int = 200) -> Response:
    """One object, as JSON (the stored text, unparsed), a one-row Table or PartialObjectMetadata."""
    rep = representation.negotiate(is_list=False)
    if rep.form == representation.JSON:
        return _json(body, status)
    obj = json.loads(body)
    if rep.form == representation.TABLE:
        list_meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        return _json(table.table(kind, [obj], list_meta, request.args.get("includeObject", "Metadata"), rep.version),
                     status)
    return _json(table.partial_object_metadata(obj, rep.version), status)


# Routing ----------------------------------------------------------------------------------

@blueprint.route(f"{_BASE}/<plural>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def cluster_collection(version: str, plural: str) -> Response:
    kind = _kind(version, plural)
    if request.method != "GET":
        raise errors.method_not_allowed(_verb(request.method, False), kind)
    return _list_or_watch(kind, None)


@blueprint.route(f"{_BASE}/namespaces/<namespace>/<plural>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def collection(version: str, namespace: str, plural: str) -> Response:
    kind = _kind(version, plural)
    if request.method == "GET":
        return _list_or_watch(kind, namespace)
    if request.method == "POST":
        return _create(kind, namespace)
    if request.method == "DELETE":
        return _delete_collection(kind, namespace)
    raise errors.method_not_allowed(_verb(request.method, False), kind)


@blueprint.route(f"{_BASE}/namespaces/<namespace>/<plural>/<name>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                 defaults={"subresource": None})
@blueprint.route(f"{_BASE}/namespaces/<namespace>/<plural>/<name>/<any(status):subresource>",
                 methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def item(version: str, namespace: str, plural: str, name: str, subresource: str | None) -> Response:
    """One object, or its ``/status`` subresource (GET returns the whole object for both)."""
    kind = _kind(version, plural)
    status_only = subresource == "status"
    if request.method == "GET":
        return _get(kind, namespace, name)
    if request.method == "PUT":
        return _update(kind, namespace, name, status_only)
    if request.method == "PATCH":
        return _patch(kind, namespace, name, status_only)
    if request.method == "DELETE" and not status_only:
        return _delete(kind, namespace, name)
    raise errors.method_not_allowed(_verb(request.method, True), kind)


def _verb(method: str, named: bool) -> str:
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete" if named else "deletecollection",
            "GET": "get"}.get(method, method.lower())


# Reads ------------------------------------------------------------------------------------

def _get(kind: Kind, namespace: str, name: str) -> Response:
    rv_text = request.args.get("resourceVersion", "")
    if rv_text and rv_text != "0":  # "not older than": wait for it, as the watch cache does
        wait_not_older_than(_store(), parse_resource_version(rv_text))
    body = _store().get(kind.resource, namespace, name)
    if body is None:
        raise errors.not_found(kind, name)
    return _render_object(kind, body)


def _list_or_watch(kind: Kind, namespace: str | None) -> Response:
    args = request.args
    label_selector = selectors.parse_label_selector(args.get("labelSelector"))
    field_selector = selectors.parse_field_selector(args.get("fieldSelector"))
    if args.get("watch") in ("true", "1"):
        return watch.serve(kind, namespace, label_selector, field_selector)
    rv_text = args.get("resourceVersion", "")
    rv_match = args.get("resourceVersionMatch", "")
    token = args.get("continue", "")
    limit_text = args.get("limit", "")
    problems = []
    if rv_match and rv_match not in ("NotOlderThan", "Exact"):
        problems.append(FieldError("resourceVersionMatch", f'Unsupported value: "{rv_match}": supported values: '
                                   '"Exact", "NotOlderThan"'))
    if rv_match and not rv_text:
        problems.append(FieldError("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden unless "
                                   "resourceVersion is provided"))
    if rv_match and token:
        problems.append(FieldError("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden when "
                                   "continue is provided"))
    if rv_match == "Exact" and rv_text == "0":
        problems.append(FieldError("resourceVersionMatch", 'Forbidden: resourceVersionMatch "exact" is forbidden '
                                   'for resourceVersion "0"'))
    if "sendInitialEvents" in args:
        problems.append(FieldError("sendInitialEvents", "Forbidden: sendInitialEvents is forbidden for list"))
    if problems:
        raise errors.invalid_options("ListOptions", problems)
    limit = None
    if limit_text:  # a 64-bit integer; zero or negative means no limit, as in Go
        if not limit_text.lstrip("-").isdigit() or not -(2**63) <= int(limit_text) < 2**63:
            raise errors.bad_request(f'invalid limit "{limit_text}": must be a 64-bit integer')
        limit = min(int(limit_text), MAX_PAGE) if int(limit_text) > 0 else None
    at, after = None, None
    if token:
        if rv_text not in ("", "0"):
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        at, after = pagination.decode(token)
    elif rv_text and rv_text != "0":
        wanted = parse_resource_version(rv_text)
        current = wait_not_older_than(_store(), wanted)
        if rv_match == "Exact" or (not rv_match and limit is not None):
            at = wanted if wanted != current else None
    query = ListQuery(kind.resource, namespace, label_selector, field_selector, limit, at, after)
    try:
        page = _store().list(query)
    except Compacted as err:
        if token:
            raise errors.expired("The provided continue parameter is too old to display a consistent list result. "
                                 "You can start a new list without the continue parameter.") from None
        raise errors.expired(f"too old resource version: {err.requested} ({err.floor})") from None
    list_meta: dict[str, Any] = {"resourceVersion": str(page.rv)}
    if page.next_key is not None:
        list_meta["continue"] = pagination.encode(page.rv, *page.next_key)
    rep = representation.negotiate(is_list=True)
    if rep.form == representation.JSON:
        head = codec.dumps({"apiVersion": kind.api_version, "kind": kind.list_kind, "metadata": list_meta})
        return _json(head[:-1] + ',"items":[' + ",".join(page.items) + "]}")
    objs = [json.loads(item) for item in page.items]
    if rep.form == representation.TABLE:
        return _json(table.table(kind, objs, list_meta, args.get("includeObject", "Metadata"), rep.version))
    return _json({"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{rep.version}",
                  "metadata": list_meta, "items": [table.partial_object_metadata(o, rep.version) for o in objs]})


# Writes -----------------------------------------------------------------------------------

def _name_check(obj: dict, name: str) -> None:
    """PUT and PATCH bodies must name the object of the URL (apiserver ``rest.go`` ``checkName``)."""
    sent = obj["metadata"].get("name")
    if sent != name:
        raise errors.bad_request(f"the name of the object ({sent or ''}) does not match the name on the URL ({name})")


def _namespace_check(obj: dict, namespace: str) -> None:
    sent = obj["metadata"].get("namespace")
    if sent and sent != namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
    obj["metadata"]["namespace"] = namespace


def _create(kind: Kind, namespace: str) -> Response:
    options = write_options("CreateOptions")
    obj, duplicates = decode_object(kind, read_body(), body_media_type())
    _namespace_check(obj, namespace)
    admission = Admission(kind, options, duplicates)
    admission.normalize(obj)
    generate = not obj["metadata"].get("name") and obj["metadata"].get("generateName")
    if generate:
        obj["metadata"]["name"] = meta.generate_name(obj["metadata"]["generateName"])
    admission.check(obj)
    meta.prepare_for_create(obj)
    if options.dry_run:
        return _render_object(kind, codec.dumps(obj), 201)
    for _attempt in range(GENERATE_NAME_ATTEMPTS if generate else 1):
        name = obj["metadata"]["name"]

        def decide(current: dict | None, name: str = name) -> Write:
            if current is not None:
                raise KeyExists(name)
            return Write(obj)

        try:
            result = _store().write(kind.resource, namespace, name, decide)
            return _render_object(kind, result.body, 201)
        except KeyExists:
            if generate:
                obj["metadata"]["name"] = meta.generate_name(obj["metadata"]["generateName"])
    raise errors.already_exists(kind, obj["metadata"]["name"], generated=bool(generate))


def _finish_update(kind: Kind, admission: Admission, current: dict, new: dict, status_only: bool):
    """The outcome of replacing ``current`` by ``new`` (already normalized)."""
    new = meta.prepare_for_update(current, new, status_only)
    admission.check(new, ("status",) if status_only else ("spec",), meta.validate_update(current, new))
    new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    if new == current:
        return Unchanged(current)
    if meta.should_delete_on_update(new):
        return Delete(new)
    return Write(new)


def _check_precondition(kind: Kind, name: str, current: dict, sent_rv: Any) -> None:
    if sent_rv is not None and str(sent_rv) != current["metadata"]["resourceVersion"]:
        raise errors.conflict(kind, name, errors.STALE_OBJECT)


def _written(kind: Kind, result, dry_run: bool, status: int = 200) -> Response:
    return _render_object(kind, codec.dumps(result.obj) if dry_run else result.body, status)


def _update(kind: Kind, namespace: str, name: str, status_only: bool) -> Response:
    options = write_options("UpdateOptions")
    obj, duplicates = decode_object(kind, read_body(), body_media_type())
    _name_check(obj, name)
    _namespace_check(obj, namespace)
    admission = Admission(kind, options, duplicates)
    admission.normalize(obj)
    sent_rv = obj["metadata"].get("resourceVersion")
    if not sent_rv:
        raise errors.invalid(kind, name, [FieldError("metadata.resourceVersion",
                                                     "Invalid value: 0x0: must be specified for an update")])

    def decide(current: dict | None):
        if current is None:
            raise errors.not_found(kind, name)
        _check_precondition(kind, name, current, sent_rv)
        outcome = _finish_update(kind, admission, current, obj, status_only)
        return Unchanged(outcome.obj) if options.dry_run else outcome

    result = _store().write(kind.resource, namespace, name, decide)
    return _written(kind, result, options.dry_run)


def _patch(kind: Kind, namespace: str, name: str, status_only: bool) -> Response:
    patch_type = patch.patch_type(request_media_type())
    options = write_options("PatchOptions", allow_force=patch_type == patch.APPLY)
    if patch_type == patch.APPLY and not options.field_manager:
        raise errors.invalid_options("PatchOptions", [FieldError("fieldManager",
                                                                  "Required value: is required for apply patch")])
    body, duplicates = codec.decode(read_body(), patch_type)
    patch.check_patch_body(patch_type, body)
    admission = Admission(kind, options, duplicates)
    created = False

    def decide(current: dict | None):
        nonlocal created
        if current is None:
            if patch_type != patch.APPLY:
                raise errors.not_found(kind, name)
            created = True
            return _apply_create(kind, namespace, name, body, admission, options)
        if patch_type == patch.MERGE:
            patched = patch.apply_merge(current, body)
        elif patch_type == patch.JSON:
            patched = patch.apply_json_patch(current, body)
        else:
            patched = patch.apply_configuration(current, body)
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise errors.bad_request("the patch produced an object without metadata")
        if patched.get("apiVersion") != kind.api_version or patched.get("kind") != kind.kind:
            raise errors.bad_request("the patch may not change apiVersion or kind")
        _name_check(patched, name)
        _namespace_check(patched, namespace)
        _check_precondition(kind, name, current, patched["metadata"].get("resourceVersion"))
        patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        admission.normalize(patched)
        outcome = _finish_update(kind, admission, current, patched, status_only)
        return Unchanged(outcome.obj) if options.dry_run else outcome

    result = _store().write(kind.resource, namespace, name, decide)
    return _written(kind, result, options.dry_run, 201 if created else 200)


def _apply_create(kind: Kind, namespace: str, name: str, applied: dict, admission: Admission, options):
    """Server-side apply of a missing object creates it (201)."""
    obj = copy.deepcopy(applied)
    if obj.get("apiVersion") != kind.api_version or obj.get("kind") != kind.kind:
        raise errors.bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                                 f"expected API version ({kind.api_version})")
    obj.setdefault("metadata", {})
    if not isinstance(obj["metadata"], dict):
        raise errors.bad_request("metadata must be an object")
    if obj["metadata"].get("name", name) != name:
        raise errors.bad_request(f"the name of the object ({obj['metadata'].get('name')}) does not match the name "
                                 f"on the URL ({name})")
    obj["metadata"]["name"] = name
    _namespace_check(obj, namespace)
    admission.normalize(obj)
    admission.check(obj)
    meta.prepare_for_create(obj)
    if options.dry_run:
        obj["metadata"]["resourceVersion"] = "0"
        return Unchanged(obj)
    return Write(obj)


# Deletes ----------------------------------------------------------------------------------

def _delete_options() -> dict[str, Any]:
    """DeleteOptions from the JSON body, or from query parameters when the body is empty."""
    body = read_body()
    if body.strip():
        options, _ = codec.decode(body, request_media_type())
        if not isinstance(options, dict):
            raise errors.bad_request("the DeleteOptions body must be a JSON object")
    else:
        args = request.args
        options = {key: args.get(key) for key in ("propagationPolicy", "gracePeriodSeconds") if key in args}
        if "orphanDependents" in args:
            options["orphanDependents"] = args.get("orphanDependents") in ("true", "1")
        if args.getlist("dryRun"):
            options["dryRun"] = args.getlist("dryRun")
        preconditions = {k: args.get(f"preconditions.{k}") for k in ("uid", "resourceVersion")
                         if f"preconditions.{k}" in args}
        if preconditions:
            options["preconditions"] = preconditions
    _check_delete_option_types(options)
    problems = []
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in ("Background", "Foreground", "Orphan"):
        problems.append(FieldError("propagationPolicy", f'Unsupported value: "{policy}": supported values: '
                                   '"Background", "Foreground", "Orphan"'))
    for value in options.get("dryRun") or ():
        if value != "All":
            problems.append(FieldError("dryRun", f'Unsupported value: "{value}": supported values: "All"'))
    if problems:
        raise errors.invalid_options("DeleteOptions", problems)
    return options


_DELETE_OPTION_TYPES = {
    "propagationPolicy": (str,), "gracePeriodSeconds": (int, str), "orphanDependents": (bool,),
    "dryRun": (list,), "preconditions": (dict,),
}


def _check_delete_option_types(options: dict[str, Any]) -> None:
    """DeleteOptions that do not even decode are a 400, as in Go's strict JSON decoding."""
    for key, types in _DELETE_OPTION_TYPES.items():
        value = options.get(key)
        if value is not None and not isinstance(value, types):
            raise errors.bad_request(f"DeleteOptions: {key} has the wrong type ({type(value).__name__})")
    if not all(isinstance(v, str) for v in options.get("dryRun") or ()):
        raise errors.bad_request("DeleteOptions: dryRun must be a list of strings")
    if not all(isinstance(v, (str, type(None))) for v in (options.get("preconditions") or {}).values()):
        raise errors.bad_request("DeleteOptions: preconditions.uid and preconditions.resourceVersion are strings")


def _deletion(kind: Kind, name: str, options: dict[str, Any]):
    """The ``decide`` function of one delete (shared by delete and deletecollection)."""
    preconditions = options.get("preconditions") or {}
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is True:
        policy = "Orphan"
    extra = {"Foreground": ("foregroundDeletion",), "Orphan": ("orphan",)}.get(policy, ())
    dry_run = bool(options.get("dryRun"))

    def decide(current: dict | None):
        if current is None:
            raise errors.not_found(kind, name)
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if uid and uid != current["metadata"]["uid"]:
            raise errors.conflict(kind, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                                              f"{current['metadata']['uid']}")
        if rv and str(rv) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(kind, name, f"Precondition failed: ResourceVersion in precondition: {rv}, "
                                              f"ResourceVersion in object meta: {current['metadata']['resourceVersion']}")
        if current["metadata"].get("finalizers") or extra:
            marked = copy.deepcopy(current)
            changed = meta.mark_deleting(marked, extra)
            if dry_run or (not changed and marked == current):
                return Unchanged(marked)
            return Write(marked)
        return Unchanged(current) if dry_run else Delete(current)

    return decide


def _deleted_status(kind: Kind, obj: dict) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": obj["metadata"]["name"], "group": kind.group, "kind": kind.plural,
                        "uid": obj["metadata"]["uid"]}}


def _delete(kind: Kind, namespace: str, name: str) -> Response:
    options = _delete_options()
    result = _store().write(kind.resource, namespace, name, _deletion(kind, name, options))
    if result.event == "DELETED" or (result.event is None and not result.obj["metadata"].get("deletionTimestamp")):
        return _json(_deleted_status(kind, result.obj))
    return _render_object(kind, result.body)


def _delete_collection(kind: Kind, namespace: str) -> Response:
    options = _delete_options()
    query = ListQuery(kind.resource, namespace, selectors.parse_label_selector(request.args.get("labelSelector")),
                      selectors.parse_field_selector(request.args.get("fieldSelector")))
    page = _store().list(query)
    items = []
    for body in page.items:
        name = json.loads(body)["metadata"]["name"]
        try:
            result = _store().write(kind.resource, namespace, name, _deletion(kind, name, options))
        except ApiError as err:
            if err.code == 404:  # deleted meanwhile by someone else: nothing left to do
                continue
            raise
        items.append(result.obj)
    current, _ = _store().revisions()
    return _json({"apiVersion": kind.api_version, "kind": kind.list_kind,
                  "metadata": {"resourceVersion": str(current)}, "items": items})
