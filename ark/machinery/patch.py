"""The patch types a CRD accepts: JSON merge patch, JSON patch and apply patch (server-side
apply, merged with field ownership by ``ark.machinery.managedfields``).

Strategic merge patch is answered 415 for the Ark kinds, exactly as kube-apiserver does for
custom resources; garbage collector and kubectl fall back to merge patch on that answer. The
core kinds of standalone mode take it (kubectl sends it to them): their fields are maps and
scalars, where a strategic merge patch is a merge patch once its ``$`` directives are dropped.

A patch may not build what a body could not carry: every result stays within the nesting
bound of :mod:`ark.machinery.codec` (422) and the stored-object limit (413). JSON patch is
applied one operation at a time so that ``copy`` cannot double the object ten thousand times
before anything is measured, and so that a failing operation is named in the message.
"""
from __future__ import annotations

import copy
from typing import Any

import json_merge_patch
import jsonpatch
import jsonpointer

from ark.machinery import codec
from ark.machinery.errors import (
    ApiError,
    bad_request,
    object_too_large,
    request_entity_too_large,
    unsupported_media_type,
)

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
STRATEGIC = "application/strategic-merge-patch+json"
PATCH_TYPES = (MERGE, JSON, APPLY)
MAX_JSON_PATCH_OPERATIONS = 10_000
#: The members each JSON patch operation needs besides ``op`` (RFC 6902 section 4).
OPERATIONS = {"add": ("path", "value"), "remove": ("path",), "replace": ("path", "value"), "move": ("from", "path"),
              "copy": ("from", "path"), "test": ("path", "value")}


def patch_type(media: str, strategic: bool = False) -> str:
    """The patch type of a request's media type (parameters already stripped), else 415;
    ``strategic``: the kind takes strategic merge patch (a built-in kind)."""
    if media not in PATCH_TYPES and not (strategic and media == STRATEGIC):
        raise unsupported_media_type()
    return media


def check_patch_body(kind_of_patch: str, patch: Any) -> None:
    if kind_of_patch == JSON:
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        if len(patch) > MAX_JSON_PATCH_OPERATIONS:
            raise request_entity_too_large(MAX_JSON_PATCH_OPERATIONS)
    elif not isinstance(patch, dict):
        raise bad_request(f"the patch body must be a JSON object for {kind_of_patch}")


def apply(kind_of_patch: str, original: dict, patch: Any, max_object_bytes: int = codec.MAX_OBJECT_BYTES) -> Any:
    """``original`` with a merge or JSON ``patch`` (already checked) applied; an apply patch is
    field ownership's (``ark.machinery.managedfields``)."""
    if kind_of_patch == MERGE:
        return apply_merge(original, patch, max_object_bytes)
    if kind_of_patch == STRATEGIC:
        return apply_merge(original, _without_directives(patch), max_object_bytes)
    return apply_json_patch(original, patch, max_object_bytes)


def _without_directives(patch: Any) -> Any:
    """A strategic merge patch without its ``$patch``, ``$retainKeys``, ``$setElementOrder/...``
    and ``$deleteFromPrimitiveList/...`` keys."""
    if isinstance(patch, dict):
        return {k: _without_directives(v) for k, v in patch.items() if not k.startswith("$")}
    return patch


def _rejected(message: str) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {message}", {})


def _check_result(patched: Any, max_object_bytes: int) -> Any:
    if codec.nesting_depth(patched) > codec.MAX_NESTING_DEPTH:
        raise _rejected(f"the patched object would nest objects and arrays more than {codec.MAX_NESTING_DEPTH} "
                        "levels deep")
    codec.check_object_size(patched, max_object_bytes)
    return patched


def apply_merge(original: dict, patch: dict, max_object_bytes: int = codec.MAX_OBJECT_BYTES) -> dict:
    """RFC 7386: ``null`` removes a key, objects merge, everything else replaces."""
    return _check_result(json_merge_patch.merge(copy.deepcopy(original), patch), max_object_bytes)


def apply_json_patch(original: dict, patch: list, max_object_bytes: int = codec.MAX_OBJECT_BYTES) -> Any:
    """RFC 6902, including ``test``; a failing operation is 422 naming it, as Kubernetes words it.

    The bytes that ``add``, ``replace`` and ``copy`` bring in are counted as they go: once they
    pass the object limit the patch is 413, however the operations would have ended.
    """
    doc: Any = copy.deepcopy(original)
    budget = max_object_bytes
    for operation in patch:
        op, path = _check_operation(operation)
        value = operation.get("value")
        if op in ("move", "copy"):
            value = _resolve(doc, operation["from"], f"{op} operation does not apply: doc is missing from path: "
                                                     f"{operation['from']}: missing value")
        deepens = op in ("add", "replace", "move", "copy")
        if deepens and _pointer_depth(path) + codec.nesting_depth(value) > codec.MAX_NESTING_DEPTH:
            raise _rejected(f"{op} operation at {path} would nest objects and arrays more than "
                            f"{codec.MAX_NESTING_DEPTH} levels deep")
        if op in ("add", "replace", "copy"):
            budget -= codec.encoded_size(value)
            if budget < 0:
                raise object_too_large(max_object_bytes - budget, max_object_bytes)
        try:
            doc = jsonpatch.JsonPatch([operation]).apply(doc, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise _rejected(f"testing value {path} failed: test failed") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError, ValueError,
                IndexError):
            raise _rejected(_failure(op, path)) from None
    return _check_result(doc, max_object_bytes)


def _check_operation(operation: Any) -> tuple[str, str]:
    """(op, path) of a well-formed operation, else 422 saying what is missing."""
    if not isinstance(operation, dict):
        raise _rejected("a JSON patch operation must be an object with \"op\" and \"path\"")
    op = operation.get("op")
    if op not in OPERATIONS:
        raise _rejected(f"Unexpected kind: {op if isinstance(op, str) else codec.dumps(op)}")
    for member in OPERATIONS[op]:
        if member not in operation:
            raise _rejected(f"{op} operation does not apply: missing \"{member}\"")
        if member in ("path", "from") and not isinstance(operation[member], str):
            raise _rejected(f"{op} operation does not apply: \"{member}\" must be a JSON pointer string")
    path = operation["path"]
    for pointer in (path, operation.get("from", "")):
        if pointer and not pointer.startswith("/"):
            raise _rejected(f"{op} operation does not apply: {pointer!r} is not a JSON pointer: it must be empty or "
                            "start with /")
    return op, path


def _pointer_depth(path: str) -> int:
    return path.count("/")


def _resolve(doc: Any, pointer: str, missing: str) -> Any:
    try:
        return jsonpointer.resolve_pointer(doc, pointer)
    except (jsonpointer.JsonPointerException, TypeError, KeyError, IndexError, ValueError):
        raise _rejected(missing) from None


def _failure(op: str, path: str) -> str:
    if op == "replace":
        return f"replace operation does not apply: doc is missing key: {path}: missing value"
    if op == "test":
        return f"testing value {path} failed: missing value"
    if op in ("move", "copy"):
        return f"{op} operation does not apply: cannot {op} to {path}: missing value, or into its own child"
    return f"{op} operation does not apply: doc is missing path: {path}: missing value"
