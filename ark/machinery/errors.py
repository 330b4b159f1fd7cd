"""The one error type of the server: every failure leaves as a Kubernetes ``Status``.

Messages follow apimachinery ``pkg/api/errors`` so that clients (kubectl, client-go's
``IsNotFound``/``IsConflict``..., kopf) recognise them.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ark.machinery.field import FieldError, aggregate

if TYPE_CHECKING:
    from ark.kinds.registry import Kind


class ApiError(Exception):
    """An HTTP error with a Kubernetes Status body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(kind: Kind, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"group": kind.group, "kind": kind.plural}
    if name:
        details["name"] = name
    return details


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind.resource} "{name}" not found', _details(kind, name))


def already_exists(kind: Kind, name: str, generated: bool = False) -> ApiError:
    message = f'{kind.resource} "{name}" already exists'
    details = _details(kind, name)
    if generated:
        message += ", the server was not able to generate a unique name for the object"
        details["retryAfterSeconds"] = 1
    return ApiError(409, "AlreadyExists", message, details)


def conflict(kind: Kind, name: str, why: str) -> ApiError:
    return ApiError(
        409, "Conflict", f'Operation cannot be fulfilled on {kind.resource} "{name}": {why}', _details(kind, name)
    )


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: Kind, name: str, errors: Iterable[FieldError]) -> ApiError:
    """422 Invalid with one cause per field error (apimachinery ``NewInvalid``)."""
    errors = list(errors)
    details = {"name": name, "group": kind.group, "kind": kind.kind, "causes": [e.cause() for e in errors]}
    return ApiError(422, "Invalid", f'{kind.qualified_kind} "{name}" is invalid: {aggregate(errors)}', details)


def invalid_options(kind_name: str, errors: Iterable[FieldError]) -> ApiError:
    """422 for bad query options (``ListOptions.meta.k8s.io "" is invalid: ...``)."""
    errors = list(errors)
    details = {"group": "meta.k8s.io", "kind": kind_name, "causes": [e.cause() for e in errors]}
    return ApiError(422, "Invalid", f'{kind_name}.meta.k8s.io "" is invalid: {aggregate(errors)}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(verb: str, kind: Kind) -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", f'{verb} is not supported on resources of kind "{kind.resource}"', _details(kind, None)
    )


def not_acceptable(accepted: str) -> ApiError:
    return ApiError(406, "NotAcceptable", f"only the following media types are accepted: {accepted}")


PATCH_TYPES = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"


def unsupported_media_type(accepted: str = PATCH_TYPES) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {accepted}",
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def request_timed_out() -> ApiError:
    """504: the request ran past ``--request-timeout`` (kube-apiserver's timeout filter)."""
    return ApiError(504, "Timeout", "Timeout: request did not complete within requested timeout - context deadline "
                    "exceeded", {})


def too_many_requests(message: str, retry_after_seconds: int = 1) -> ApiError:
    return ApiError(429, "TooManyRequests", message, {"retryAfterSeconds": retry_after_seconds},
                    {"Retry-After": str(retry_after_seconds)})


def too_large_resource_version(requested: int, current: int) -> ApiError:
    return ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
         "retryAfterSeconds": 1},
    )


def request_entity_too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def object_too_large(size: int, limit: int) -> ApiError:
    """An object too large to store: etcd's "request is too large", said as a 413 about the object."""
    return ApiError(413, "RequestEntityTooLarge",
                    f"Request entity too large: the object would take {size} bytes once stored, limit is {limit}")


def unauthorized() -> ApiError:
    """401: the request's credentials were presented and refused (kube-apiserver says no more)."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(group: str, resource: str, name: str, why: str) -> ApiError:
    """403 (apimachinery ``NewForbidden``): ``queries.ark.mckinsey.com "q1" is forbidden: <why>``;
    ``forbidden: <why>`` for a path that is not a resource."""
    qualified = f"{resource}.{group}" if group else resource
    if not qualified:
        message = f"forbidden: {why}"
    elif not name:
        message = f"{qualified} is forbidden: {why}"
    else:
        message = f'{qualified} "{name}" is forbidden: {why}'
    details = {key: value for key, value in (("name", name), ("group", group), ("kind", resource)) if value}
    return ApiError(403, "Forbidden", message, details)


def namespace_not_found(namespace: str) -> ApiError:
    """404 for a create into a namespace the cluster does not have (NamespaceLifecycle)."""
    return ApiError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})


def namespace_terminating(kind: Kind, name: str, namespace: str) -> ApiError:
    """403 for a create into a namespace being deleted (NamespaceLifecycle), with the cause clients check."""
    error = forbidden(kind.group, kind.plural, name, f"unable to create new content in namespace {namespace} "
                                                     "because it is being terminated")
    assert error.details is not None
    error.details["causes"] = [{"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being "
                                "terminated", "field": "metadata.namespace"}]
    return error


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def service_unavailable(message: str, retry_after_seconds: int = 1) -> ApiError:
    """503 with ``Retry-After``: the storage cannot serve now; clients retry."""
    return ApiError(503, "ServiceUnavailable", message, {"retryAfterSeconds": retry_after_seconds},
                    {"Retry-After": str(retry_after_seconds)})
