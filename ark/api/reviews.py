"""The reviews tools ask a server about themselves, in standalone mode (``--auth-mode off``):
``SelfSubjectAccessReview`` and ``SelfSubjectRulesReview`` (everything is allowed) and
``SelfSubjectReview`` (the anonymous development user), so ``kubectl auth can-i`` and
``kubectl auth whoami`` answer. In delegated mode kube-apiserver answers them; none is served here.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from ark.api.decoding import object_media_type, read_body
from ark.machinery import codec, errors
from ark.security.authn import ANONYMOUS_USER
from ark.services import services

blueprint = Blueprint("ark_reviews", __name__)

AUTHORIZATION = "authorization.k8s.io/v1"
AUTHENTICATION = "authentication.k8s.io/v1"
ALLOWED_REASON = "standalone mode (--auth-mode off) allows every request"


def _review(api_version: str, kind: str) -> dict[str, Any]:
    """The posted review (404 in delegated mode; 400 when it is not a ``kind``)."""
    if services().core is None:
        raise errors.not_found_path()
    body, _ = codec.decode(read_body(services().settings.max_body_bytes), object_media_type(),
                           services().settings.max_object_bytes)
    sent = (body.get("kind", kind), body.get("apiVersion", api_version)) if isinstance(body, dict) else None
    if sent != (kind, api_version):
        raise errors.bad_request(f"the body must be a {kind} of {api_version}")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    return {"kind": kind, "apiVersion": api_version, "metadata": {"creationTimestamp": None}, "spec": spec}


def _created(review: dict[str, Any]) -> Response:
    return Response(codec.dumps(review), status=201, mimetype="application/json")


@blueprint.post(f"/apis/{AUTHORIZATION}/selfsubjectaccessreviews")
def self_subject_access_review() -> Response:
    review = _review(AUTHORIZATION, "SelfSubjectAccessReview")
    review["status"] = {"allowed": True, "reason": ALLOWED_REASON}
    return _created(review)


@blueprint.post(f"/apis/{AUTHORIZATION}/selfsubjectrulesreviews")
def self_subject_rules_review() -> Response:
    review = _review(AUTHORIZATION, "SelfSubjectRulesReview")
    review["status"] = {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    }
    return _created(review)


@blueprint.post(f"/apis/{AUTHENTICATION}/selfsubjectreviews")
def self_subject_review() -> Response:
    review = _review(AUTHENTICATION, "SelfSubjectReview")
    review.pop("spec")
    review["status"] = {"userInfo": ANONYMOUS_USER.as_json()}
    return _created(review)
