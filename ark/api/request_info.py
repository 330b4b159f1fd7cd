"""What a request asks for, worked out once before any view runs (the request seam).

The same reading as Kubernetes' ``RequestInfoFactory``: the verb (``get``, ``list``, ``watch``,
``create``, ``update``, ``patch``, ``delete``, ``deletecollection``; for paths outside the APIs,
the lower-case HTTP method), the API group and version, the resource, subresource, namespace and
name. Authentication, authorization, audit and metrics read it from here, and the resource views
dispatch on it, so every part of the server agrees on what a request is.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import g, request

from ark.machinery import params, selectors
from ark.machinery.errors import ApiError

API_PREFIXES = ("api", "apis")
GROUPLESS_PREFIXES = ("api",)
NAMESPACE_SUBRESOURCES = ("status", "finalize")
_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class RequestInfo:
    path: str
    verb: str
    is_resource_request: bool = False
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()

    @property
    def collection(self) -> bool:
        """A request on a collection (list, watch, create, deletecollection), not on one object."""
        return len(self.parts) == 1


def _name_from_field_selector(text: str) -> str:
    """``metadata.name=x`` names the object a list or watch is about (for authorization)."""
    try:
        requirements = selectors.parse_field_selector(text)
    except ApiError:
        return ""
    for requirement in requirements:
        if requirement.field == "metadata.name" and requirement.equal and requirement.value not in ("", ".", ".."):
            return requirement.value
    return ""


def parse_request_info(method: str, path: str, args: params.QueryArgs) -> RequestInfo:
    parts = [p for p in path.strip("/").split("/") if p] if path.strip("/") else []
    non_resource = RequestInfo(path=path, verb=method.lower())
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return non_resource
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix not in GROUPLESS_PREFIXES:
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = _VERBS.get(method.upper(), "")
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if params.boolean(args, "watch") else "list"
        name = _name_from_field_selector(params.string(args, "fieldSelector"))
    elif not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(path, verb, True, prefix, group, version, namespace, resource, subresource, name, tuple(rest))


def request_info() -> RequestInfo:
    """The current request's RequestInfo (computed by the app before any view)."""
    info: RequestInfo = g.request_info
    return info


def compute_request_info() -> None:
    """``before_request`` hook: the seam every later stage reads."""
    g.request_info = parse_request_info(request.method, request.path, request.args)
