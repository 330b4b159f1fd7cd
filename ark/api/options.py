"""Request decoding shared by every verb: query options and bodies.

Option rules follow apimachinery ``CreateOptions``/``UpdateOptions``/``PatchOptions``/
``DeleteOptions``/``ListOptions`` validation; invalid options are 422, bad bodies 400/413/415.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from ark.api.negotiation import parse_media_type
from ark.kinds.registry import Kind
from ark.kinds.validation import FieldError
from ark.machinery import codec
from ark.machinery.errors import (
    ApiError,
    bad_request,
    invalid_options,
    request_entity_too_large,
    too_large_resource_version,
    unsupported_media_type,
)

IGNORE, WARN, STRICT = "Ignore", "Warn", "Strict"
BODY_TYPES = "application/json, application/yaml"


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool
    field_manager: str
    field_validation: str
    force: bool


def write_options(options_kind: str, allow_force: bool = False) -> WriteOptions:
    args = request.args
    errors = []
    dry_run_values = args.getlist("dryRun")
    for value in dry_run_values:
        if value != "All":
            errors.append(FieldError("dryRun", f'Unsupported value: "{value}": supported values: "All"'))
    manager = args.get("fieldManager", "")
    if len(manager) > 128:
        errors.append(FieldError("fieldManager", 'Too long: may not be more than 128 bytes'))
    elif manager and not manager.isprintable():
        errors.append(FieldError("fieldManager", f'Invalid value: "{manager}": must be composed of printable characters'))
    validation = args.get("fieldValidation", "") or WARN
    if validation not in (IGNORE, WARN, STRICT):
        errors.append(FieldError("fieldValidation", f'Unsupported value: "{validation}": supported values: '
                                 '"Ignore", "Strict", "Warn"'))
    force_value = args.get("force")
    force = force_value in ("true", "1")
    if force_value is not None and not allow_force:
        errors.append(FieldError("force", "Forbidden: may not be specified for non-apply patch"))
    if errors:
        raise invalid_options(options_kind, errors)
    return WriteOptions(bool(dry_run_values), manager, validation, force)


def read_body() -> bytes:
    limit = current_app.extensions["ark.settings"].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise request_entity_too_large(limit)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise request_entity_too_large(limit)
    return body


def decode_object(kind: Kind, body: bytes, content_type: str) -> tuple[dict[str, Any], list[str]]:
    """Decode a create/update body into an object of ``kind``; returns it and duplicated fields."""
    if not body.strip():
        raise bad_request("the request body is empty: send the object as JSON or YAML")
    obj, duplicates = codec.decode(body, content_type)
    if not isinstance(obj, dict):
        raise bad_request(f"{kind.kind} in version \"{kind.version}\" cannot be handled as a {kind.kind}: "
                          "the body must be a JSON object")
    api_version = obj.get("apiVersion")
    if api_version != kind.api_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({kind.api_version})")
    if obj.get("kind") != kind.kind:
        raise bad_request(f"{kind.kind} in version \"{kind.version}\" cannot be handled as a {kind.kind}: "
                          f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({kind.kind})")
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request(f"{kind.kind} in version \"{kind.version}\" cannot be handled as a {kind.kind}: "
                          "metadata must be an object")
    obj.setdefault("metadata", {})
    return obj, duplicates


def request_media_type() -> str:
    """The request's Content-Type without parameters (JSON when absent)."""
    return parse_media_type(request.content_type)[0] or "application/json"


def body_media_type() -> str:
    media = request_media_type()
    if media not in ("application/json", "application/yaml", "application/x-yaml", "text/yaml"):
        raise unsupported_media_type(BODY_TYPES)
    return media


def strict_decoding_error(kind: Kind, problems: list[str]) -> ApiError:
    return bad_request(
        f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: strict decoding error: '
        + ", ".join(problems)
    )


# resourceVersion rules shared by get, list and watch ----------------------------------------

TOO_NEW_WAIT_SECONDS = 3.0


def parse_resource_version(value: str) -> int:
    """A request's ``resourceVersion``: a non-negative integer, else 400."""
    if not value.isdigit():
        raise bad_request(f'invalid resource version "{value}": resourceVersion must be a non-negative integer')
    return int(value)


def wait_not_older_than(store, wanted: int) -> int:
    """"Not older than N" with N ahead of the store: wait at most 3 s, as kube-apiserver's
    cache does, then 504 Timeout. Returns the store's revision."""
    current = store.wait_for_revision(wanted, TOO_NEW_WAIT_SECONDS)
    if current < wanted:
        raise too_large_resource_version(wanted, current)
    return current
