"""The resource endpoints: one view serves every verb of every kind (CONTRACT 3-7).

The request's :class:`~ark.api.request_info.RequestInfo` says what is asked; this module only
parses the options and the body, calls the generic resource store
(:class:`~ark.registry.store.ResourceStore`) and renders what it returns as JSON, a Table or
PartialObjectMetadata.
"""
from __future__ import annotations

import copy
from typing import Any

import gevent
from flask import Blueprint, Response, g, request

from ark.api import representation, security, watch
from ark.api.decoding import FieldPruner, decode_object, object_media_type, read_body, request_media_type
from ark.api.request_info import RequestInfo, request_info
from ark.kinds.registry import GROUP, Kind
from ark.machinery import codec, errors, managedfields, meta, pagination, params, patch, table
from ark.machinery import field as fe
from ark.machinery.errors import ApiError
from ark.machinery.options import WriteOptions, parse_delete_options, parse_list_options, parse_write_options
from ark.registry.store import ResourceStore, WriteContext
from ark.registry.strategy import Strategy
from ark.services import services

blueprint = Blueprint("resources", __name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: What each shape of path allows (the ``Allow`` header of a 405).
_ALLOWED = {
    "cluster collection": ("GET",),
    "collection": ("GET", "POST", "DELETE"),
    "object": ("GET", "PUT", "PATCH", "DELETE"),
    "status": ("GET", "PUT", "PATCH"),
    "finalize": ("PUT",),
}


def _resources() -> ResourceStore:
    return services().resources


def _warnings() -> list[str]:
    """The request's warnings, sent as ``Warning`` headers by the app (errors included)."""
    found: list[str] = g.setdefault("warnings", [])
    return found


def _body() -> bytes:
    return read_body(services().settings.max_body_bytes)


def _max_object_bytes() -> int:
    return services().settings.max_object_bytes


def _json(payload: Any, status: int = 200) -> Response:
    body = payload if isinstance(payload, str) else codec.dumps(payload)
    return Response(body, status=status, mimetype="application/json")


def _render_object(kind: Kind, body: str, status: int = 200) -> Response:
    """One object, as JSON (the stored text, unparsed), a one-row Table or PartialObjectMetadata."""
    rep = representation.negotiate(is_list=False)
    if rep.form == representation.JSON:
        return _json(body, status)
    obj = codec.loads(body)
    if rep.form == representation.TABLE:
        list_meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        return _json(table.table(kind, [obj], list_meta, request.args.get("includeObject", "Metadata"), rep.version),
                     status)
    return _json(table.partial_object_metadata(obj, rep.version), status)


# Routing ----------------------------------------------------------------------------------

@blueprint.route(f"/apis/{GROUP}/<version>/<path:rest>", methods=METHODS, provide_automatic_options=False)
def resource_request(version: str, rest: str) -> Response:
    info = request_info()
    return _serve(info, services().registry.lookup(info.version, info.resource))


@blueprint.route("/api/v1/<path:rest>", methods=METHODS, provide_automatic_options=False)
def core_request(rest: str) -> Response:
    """The core v1 kinds of standalone mode; nothing here in delegated mode (the cluster's)."""
    info = request_info()
    core = services().core
    return _serve(info, core.lookup(info.version, info.resource) if core is not None else None)


def _serve(info: RequestInfo, kind: Kind | None) -> Response:
    if kind is None or len(info.parts) > 3 or (len(info.parts) == 3 and info.subresource not in kind.subresources):
        raise errors.not_found_path()
    for what, segment in (("namespace", info.namespace), ("resource name", info.name)):
        problems = _path_segment_problems(segment)
        if problems:
            raise errors.bad_request(f'invalid {what} "{segment}": [{", ".join(problems)}]')
    if info.verb == "watch":
        return _dispatch(info, kind)
    deadline = gevent.Timeout(services().settings.request_timeout)
    deadline.start()
    try:
        return _dispatch(info, kind)
    except gevent.Timeout as fired:
        if fired is not deadline:
            raise
        raise errors.request_timed_out() from None
    finally:
        deadline.close()


def _path_segment_problems(segment: str) -> list[str]:
    """A namespace or name that is a dot segment would be read as a path step, not a name
    (apimachinery's ``IsValidPathSegmentName`` wording). Other unusual names simply do not exist."""
    return [f"may not be '{segment}'"] if segment in (".", "..") else []


def _dispatch(info: RequestInfo, kind: Kind) -> Response:
    shape = _shape(info, kind)
    if request.method not in _ALLOWED[shape]:
        raise _method_not_allowed(info, kind, shape)
    namespace = info.namespace if kind.namespaced else ""
    if shape == "cluster collection":
        return _list_or_watch(kind, None)
    if shape == "collection":
        if info.verb == "create":
            return _create(kind, namespace)
        if info.verb == "deletecollection":
            return _delete_collection(kind, namespace)
        return _list_or_watch(kind, namespace if kind.namespaced else None)
    if info.verb == "get":
        return _render_object(kind, _resources().get(kind, namespace, info.name,
                                                     params.string(request.args, "resourceVersion")))
    if shape == "finalize":
        return _update(kind, namespace, info.name, False, kind.strategy.for_subresource(shape))
    status = shape == "status"
    if info.verb == "update":
        return _update(kind, namespace, info.name, status)
    if info.verb == "patch":
        return _patch(kind, namespace, info.name, status)
    return _delete(kind, namespace, info.name)


def _shape(info: RequestInfo, kind: Kind) -> str:
    if len(info.parts) == 1:
        return "collection" if info.namespace or not kind.namespaced else "cluster collection"
    if len(info.parts) == 3:
        return info.subresource
    return "object"


def _method_not_allowed(info: RequestInfo, kind: Kind, shape: str) -> ApiError:
    error = errors.method_not_allowed(info.verb or request.method.lower(), kind)
    error.headers["Allow"] = ", ".join(_ALLOWED[shape])
    return error


# Reads ------------------------------------------------------------------------------------

def _list_or_watch(kind: Kind, namespace: str | None) -> Response:
    options = parse_list_options(request.args, kind.field_labels)
    if options.watch:
        return watch.serve(kind, namespace, options)
    page = _resources().list(kind, namespace, options)
    list_meta: dict[str, Any] = {"resourceVersion": str(page.rv)}
    if page.next_key is not None:
        list_meta["continue"] = pagination.encode(page.rv, *page.next_key)
    rep = representation.negotiate(is_list=True)
    if rep.form == representation.JSON:
        head = codec.dumps({"apiVersion": kind.api_version, "kind": kind.list_kind, "metadata": list_meta})
        return _json(head[:-1] + ',"items":[' + ",".join(page.items) + "]}")
    objs = [codec.loads(item) for item in page.items]
    if rep.form == representation.TABLE:
        return _json(table.table(kind, objs, list_meta, request.args.get("includeObject", "Metadata"), rep.version))
    return _json({"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{rep.version}",
                  "metadata": list_meta, "items": [table.partial_object_metadata(o, rep.version) for o in objs]})


# Writes -----------------------------------------------------------------------------------

def _context(options: WriteOptions) -> WriteContext:
    return WriteContext(dry_run=options.dry_run, warnings=_warnings())


def _name_check(obj: dict, name: str) -> None:
    """PUT and PATCH bodies must name the object of the URL (apiserver ``rest.go`` ``checkName``)."""
    sent = obj["metadata"].get("name")
    if sent != name:
        raise errors.bad_request(f"the name of the object ({sent or ''}) does not match the name on the URL ({name})")


def _namespace_check(obj: dict, namespace: str) -> None:
    """The object's namespace is the URL's; a cluster-scoped object has none (``namespace`` "")."""
    sent = obj["metadata"].get("namespace")
    if not namespace:
        obj["metadata"].pop("namespace", None)
        return
    if sent and sent != namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
    obj["metadata"]["namespace"] = namespace


# Field ownership (server-side apply): every write records what its manager changed.

def _manager(options: WriteOptions) -> str:
    """The ``fieldManager`` parameter, else the User-Agent's prefix (``kubectl-edit``), as kube-apiserver."""
    return managedfields.manager_name(options.field_manager, request.headers.get("User-Agent", ""))


def _tracked(kind: Kind, live: dict[str, Any] | None, new: dict[str, Any], manager: str,
             subresource: str = "") -> dict[str, Any]:
    """``new`` with the managedFields that an update (or create, ``live`` None) by ``manager`` leaves."""
    try:
        entries = managedfields.update(kind, live, new, manager, meta.now(), subresource)
    except managedfields.ManagedFieldsError as err:
        raise errors.invalid(kind, new["metadata"].get("name") or "", err.errors) from None
    if entries:
        new["metadata"]["managedFields"] = entries
    else:
        new["metadata"].pop("managedFields", None)
    return new


def _applied(kind: Kind, live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool,
             subresource: str = "") -> managedfields.ApplyResult:
    try:
        return managedfields.apply(kind, live, config, manager, meta.now(), force, subresource)
    except managedfields.ManagedFieldsError as err:
        raise errors.invalid(kind, config["metadata"].get("name") or "", err.errors) from None


def _create(kind: Kind, namespace: str) -> Response:
    options = parse_write_options(request.args, "CreateOptions")
    obj, duplicates = decode_object(kind, _body(), object_media_type(), _max_object_bytes())
    _namespace_check(obj, namespace)
    FieldPruner(kind, options, _warnings(), duplicates).normalize(obj)
    _tracked(kind, None, obj, _manager(options))
    written = _resources().create(kind, namespace, obj, _context(options))
    security.note_written(written.obj["metadata"]["name"])
    return _render_object(kind, written.body, 201)


def _update(kind: Kind, namespace: str, name: str, status: bool, strategy: Strategy | None = None) -> Response:
    options = parse_write_options(request.args, "UpdateOptions")
    obj, duplicates = decode_object(kind, _body(), object_media_type(), _max_object_bytes())
    _name_check(obj, name)
    _namespace_check(obj, namespace)
    FieldPruner(kind, options, _warnings(), duplicates).normalize(obj)
    manager, subresource = _manager(options), "status" if status else ""

    def replaced(current: dict[str, Any]) -> dict[str, Any]:
        return _tracked(kind, current, copy.deepcopy(obj), manager, subresource)

    written = _resources().update(kind, namespace, name, replaced, _context(options), status=status,
                                  strategy=strategy)
    return _render_object(kind, written.body)


def _patch(kind: Kind, namespace: str, name: str, status: bool) -> Response:
    patch_type = patch.patch_type(request_media_type(), strategic=not kind.group)
    options = parse_write_options(request.args, "PatchOptions", allow_force=patch_type == patch.APPLY)
    if patch_type == patch.APPLY and not options.field_manager:
        raise errors.invalid_options("PatchOptions", [fe.required("fieldManager", "is required for apply patch")])
    body, duplicates = codec.decode(_body(), patch_type, _max_object_bytes())
    patch.check_patch_body(patch_type, body)
    pruner = FieldPruner(kind, options, _warnings(), duplicates)
    manager, subresource = _manager(options), "status" if status else ""

    def patched(current: dict[str, Any]) -> dict[str, Any]:
        if patch_type == patch.APPLY:
            result = _applied(kind, current, body, manager, options.force, subresource)
            if not result.changed:  # the same configuration again: nothing to write
                return current
            new = copy.deepcopy(result.object)  # it shares parts with the configuration, reused on a retry
        else:
            new = patch.apply(patch_type, current, body, _max_object_bytes())
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise errors.bad_request("the patch produced an object without metadata")
        if new.get("apiVersion") != kind.api_version or new.get("kind") != kind.kind:
            raise errors.bad_request("the patch may not change apiVersion or kind")
        _name_check(new, name)
        _namespace_check(new, namespace)
        if not new["metadata"].get("resourceVersion"):  # the patch is not a precondition: it applies to now
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        pruner.normalize(new)
        return new if patch_type == patch.APPLY else _tracked(kind, current, new, manager, subresource)

    def created() -> dict[str, Any]:
        """Server-side apply of a missing object creates it from the applied configuration."""
        if body.get("apiVersion") != kind.api_version or body.get("kind") != kind.kind:
            raise errors.bad_request(f"the API version in the data ({body.get('apiVersion')}) does not match the "
                                     f"expected API version ({kind.api_version})")
        if not isinstance(body.setdefault("metadata", {}), dict):
            raise errors.bad_request("metadata must be an object")
        if body["metadata"].get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({body['metadata'].get('name')}) does not match the "
                                     f"name on the URL ({name})")
        body["metadata"]["name"] = name
        obj = copy.deepcopy(_applied(kind, None, body, manager, options.force).object)
        _namespace_check(obj, namespace)
        return pruner.normalize(obj)

    create = created if patch_type == patch.APPLY and not status else None
    written = _resources().update(kind, namespace, name, patched, _context(options), status=status, create=create)
    return _render_object(kind, written.body, 201 if written.created else 200)


# Deletes ----------------------------------------------------------------------------------

def _deleted_status(kind: Kind, obj: dict) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": obj["metadata"]["name"], "group": kind.group, "kind": kind.plural,
                        "uid": obj["metadata"]["uid"]}}


def _delete(kind: Kind, namespace: str, name: str) -> Response:
    options = parse_delete_options(_body(), request_media_type(), request.args)
    written = _resources().delete(kind, namespace, name, options)
    if written.deleted:
        return _json(_deleted_status(kind, written.obj))
    return _render_object(kind, written.body)


def _delete_collection(kind: Kind, namespace: str) -> Response:
    options = parse_delete_options(_body(), request_media_type(), request.args)
    selection = parse_list_options(request.args, kind.field_labels)
    items, rv = _resources().delete_collection(kind, namespace, selection, options)
    return _json({"apiVersion": kind.api_version, "kind": kind.list_kind, "metadata": {"resourceVersion": str(rv)},
                  "items": items})
