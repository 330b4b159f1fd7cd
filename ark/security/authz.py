"""May they: kube-apiserver's delegated authorization.

Allowed without asking: the ``--authorization-always-allow-paths`` (``/healthz``, ``/readyz``,
``/livez``; a trailing ``*`` matches a prefix; paths outside the resource APIs only) and members of
``system:masters``. Everything else is a SubjectAccessReview at the cluster, built from the
request's RequestInfo (verb, group, version, resource, subresource, namespace, name; paths outside
the APIs by path and verb). Allowed and denied answers are cached (10 s each); a refusal is
kube-apiserver's 403 (``queries.ark.mckinsey.com "q" is forbidden: User "alice" cannot delete
resource "queries" in API group "ark.mckinsey.com" in the namespace "default"``, with the review's
reason after a colon); a review that cannot be made is 503.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ark.api.request_info import RequestInfo
from ark.cluster.client import ClusterClient
from ark.machinery import errors
from ark.machinery.errors import ApiError
from ark.security.authn import UserInfo, review
from ark.security.cache import ExpiringCache

SUBJECTACCESSREVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
ALWAYS_ALLOWED_GROUPS = ("system:masters",)
DECISION_CACHE_SIZE = 8192
MAX_CACHED_ATTRIBUTES = 10000  # longer attributes (names, paths) are asked every time, as kube-apiserver does


@dataclass(frozen=True)
class Attributes:
    """What a user asks to do, in SubjectAccessReview terms."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @classmethod
    def of(cls, user: UserInfo, info: RequestInfo) -> Attributes:
        if not info.is_resource_request:
            return cls(user, info.verb, False, path=info.path)
        return cls(user, info.verb, True, group=info.group, version=info.version, resource=info.resource,
                   subresource=info.subresource, namespace=info.namespace, name=info.name)

    def review_spec(self) -> dict[str, Any]:
        spec = self.user.as_json("user")
        if self.resource_request:
            spec["resourceAttributes"] = {"namespace": self.namespace, "verb": self.verb, "group": self.group,
                                          "version": self.version, "resource": self.resource,
                                          "subresource": self.subresource, "name": self.name}
        else:
            spec["nonResourceAttributes"] = {"path": self.path, "verb": self.verb}
        return spec

    def forbidden(self, reason: str) -> ApiError:
        """kube-apiserver's 403 for these attributes (``forbiddenMessage`` with the review's reason)."""
        user = self.user.name
        if not self.resource_request:
            why = f'User "{user}" cannot {self.verb} path "{self.path}"'
        else:
            resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
            where = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
            why = f'User "{user}" cannot {self.verb} resource "{resource}" in API group "{self.group}" {where}'
        why = why.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # no HTML-looking errors
        if reason:
            why = f"{why}: {reason}"
        if not self.resource_request:
            return errors.forbidden("", "", "", why)
        return errors.forbidden(self.group, self.resource, self.name, why)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class Authorizer:
    def __init__(self, client: ClusterClient, always_allow_paths: tuple[str, ...], allowed_ttl: float,
                 denied_ttl: float) -> None:
        self.client = client
        self.exact_paths = {path for path in always_allow_paths if not path.endswith("*")}
        self.path_prefixes = tuple(path[:-1] for path in always_allow_paths if path.endswith("*"))
        self.allowed_ttl = allowed_ttl
        self.denied_ttl = denied_ttl
        self.cache: ExpiringCache[Decision] = ExpiringCache(DECISION_CACHE_SIZE)

    def always_allowed_path(self, path: str) -> bool:
        return path in self.exact_paths or (bool(self.path_prefixes) and path.startswith(self.path_prefixes))

    def decide(self, attributes: Attributes) -> Decision:
        if not attributes.resource_request and self.always_allowed_path(attributes.path):
            return Decision(True)
        if any(group in ALWAYS_ALLOWED_GROUPS for group in attributes.user.groups):
            return Decision(True)
        spec = attributes.review_spec()
        key = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        if len(key) > MAX_CACHED_ATTRIBUTES:
            return self._ask(spec)
        return self.cache.get_or_compute(key, lambda: self._ask(spec),
                                         lambda decision: self.allowed_ttl if decision.allowed else self.denied_ttl)

    def authorize(self, attributes: Attributes) -> Decision:
        """The decision if allowed; else raises the 403 (503 when the review cannot be made)."""
        decision = self.decide(attributes)
        if not decision.allowed:
            raise attributes.forbidden(decision.reason)
        return decision

    def _ask(self, spec: dict[str, Any]) -> Decision:
        status = review(self.client, SUBJECTACCESSREVIEWS, "SubjectAccessReview", spec, "authorize the request")
        allowed = bool(status.get("allowed")) and not status.get("denied")
        return Decision(allowed, str(status.get("reason") or ""))
