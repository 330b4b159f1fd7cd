"""The patch types a CRD accepts: JSON merge patch, JSON patch and apply patch (server-side
apply, merged with field ownership by ``ark.machinery.managedfields``).

Strategic merge patch is answered 415, exactly as kube-apiserver does for custom resources;
garbage collector and kubectl fall back to merge patch on that answer.
"""
from __future__ import annotations

import copy
from typing import Any

import json_merge_patch
import jsonpatch

from ark.machinery.errors import ApiError, bad_request, request_entity_too_large, unsupported_media_type

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE, JSON, APPLY)
MAX_JSON_PATCH_OPERATIONS = 10_000


def patch_type(media: str) -> str:
    """The patch type of a request's media type (parameters already stripped), else 415."""
    if media not in PATCH_TYPES:
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


def apply(kind_of_patch: str, original: dict, patch: Any) -> Any:
    """``original`` with a merge or JSON ``patch`` (already checked) applied; an apply patch is
    field ownership's (``ark.machinery.managedfields``)."""
    if kind_of_patch == MERGE:
        return apply_merge(original, patch)
    return apply_json_patch(original, patch)


def apply_merge(original: dict, patch: dict) -> dict:
    """RFC 7386: ``null`` removes a key, objects merge, everything else replaces."""
    return json_merge_patch.merge(copy.deepcopy(original), patch)


def apply_json_patch(original: dict, patch: list) -> dict:
    """RFC 6902, including ``test``; a failing operation is 422 with the library's reason."""
    try:
        return jsonpatch.JsonPatch(patch).apply(original, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError,
            IndexError) as err:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {err}",
                       {}) from None
