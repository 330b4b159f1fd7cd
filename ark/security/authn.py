"""Who is asking: kube-apiserver's delegated authentication, in its order.

1. **Front proxy.** A client certificate that chains to the front-proxy CA and whose CN is an
   allowed name (any, when none are listed) makes the user headers trusted: the user is the first
   non-empty username header, the groups every value of the group headers, the extra attributes
   every ``<prefix><key>`` header (key lower-cased and %-unescaped), the UID the UID header. On
   any other connection these headers mean nothing.
2. **Client certificate.** One that chains to the client CA: user = CN, groups = O.
3. **Bearer token**, checked by a TokenReview at the cluster, answers cached (10 s).
4. Otherwise ``system:anonymous`` in ``system:unauthenticated``.

An authenticated user also gets ``system:authenticated``. A credential that was presented and
refused (a certificate of neither CA, a front-proxy CN not allowed, a token the cluster rejects)
is 401 when no other credential succeeds; a TokenReview that cannot be made is 503.

Headers are handed in as a mapping of lower-case names to values. WSGI joins repeated headers
with commas, so group and extra values are split on commas: a group name cannot contain one here.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import NameOID
from OpenSSL import crypto

from ark.cluster.client import ClusterClient, ClusterError
from ark.machinery import errors
from ark.security.authconfig import AuthConfigSource, AuthenticationConfig, RequestHeaderConfig
from ark.security.cache import ExpiringCache

log = logging.getLogger(__name__)

ANONYMOUS = "system:anonymous"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
TOKENREVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
TOKEN_CACHE_SIZE = 4096


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_json(self, name_key: str = "username") -> dict[str, Any]:
        """The user as Kubernetes writes it (empty fields left out): audit events use
        ``username``, SubjectAccessReviews ``user``."""
        out: dict[str, Any] = {name_key: self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {key: list(values) for key, values in self.extra.items()}
        return out

    def with_authenticated_group(self) -> UserInfo:
        """``system:authenticated`` added, unless anonymous or already marked either way."""
        if self.name == ANONYMOUS or ALL_AUTHENTICATED in self.groups or ALL_UNAUTHENTICATED in self.groups:
            return self
        return UserInfo(self.name, self.uid, (*self.groups, ALL_AUTHENTICATED), self.extra)


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(ALL_UNAUTHENTICATED,))


def split_values(value: str | None) -> list[str]:
    """The values of a header that may have been sent several times (WSGI joins them with commas)."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        value = (headers.get(name.lower()) or "").strip()
        if value:
            return value
    return ""


def user_from_headers(config: RequestHeaderConfig, headers: Mapping[str, str]) -> UserInfo | None:
    """The user a trusted front proxy named (None when it named none)."""
    name = _first_header(headers, config.username_headers)
    if not name:
        return None
    groups = [group for header in config.group_headers for group in split_values(headers.get(header.lower()))]
    extra: dict[str, list[str]] = {}
    for header, value in headers.items():
        for prefix in config.extra_prefixes:
            if len(header) > len(prefix) and header.startswith(prefix.lower()):
                extra.setdefault(unquote(header[len(prefix):]), []).extend(split_values(value))
    return UserInfo(name, _first_header(headers, config.uid_headers), tuple(groups),
                    {key: tuple(values) for key, values in extra.items()})


def _names(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(oid)]


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (any other scheme is not ours to read)."""
    parts = (headers.get("authorization") or "").strip().split(" ")
    if len(parts) >= 2 and parts[0].lower() == "bearer" and parts[1]:
        return parts[1]
    return None


def review(client: ClusterClient, path: str, kind: str, spec: dict[str, Any], doing: str) -> dict[str, Any]:
    """The status of a TokenReview or SubjectAccessReview the cluster answered; a 503 saying what
    could not be done when it did not."""
    group = path.split("/")[2]
    body = {"apiVersion": f"{group}/v1", "kind": kind, "spec": spec}
    try:
        answer = client.create(path, body)
    except ClusterError as err:
        raise errors.service_unavailable(f"cannot {doing}: the {kind} failed: {err}") from None
    status: dict[str, Any] = answer.get("status") or {}
    return status


class TokenReviewer:
    """Bearer tokens checked by the cluster (TokenReview); answers, yes and no, cached ``ttl`` s."""

    def __init__(self, client: ClusterClient, ttl: float) -> None:
        self.client = client
        self.ttl = ttl
        self.cache: ExpiringCache[UserInfo | None] = ExpiringCache(TOKEN_CACHE_SIZE)

    def review(self, token: str) -> UserInfo | None:
        key = hashlib.sha256(token.encode()).hexdigest()  # the cache never holds the token itself
        return self.cache.get_or_compute(key, lambda: self._ask(token), lambda _answer: self.ttl)

    def _ask(self, token: str) -> UserInfo | None:
        status = review(self.client, TOKENREVIEWS, "TokenReview", {"token": token}, "authenticate the bearer token")
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return None
        extra = {str(key): tuple(str(v) for v in values or ()) for key, values in (user.get("extra") or {}).items()}
        return UserInfo(str(user["username"]), str(user.get("uid") or ""),
                        tuple(str(group) for group in user.get("groups") or ()), extra)


@dataclass(frozen=True)
class _Verdict:
    """What a client certificate is, for one authentication configuration."""

    config: AuthenticationConfig
    good_until: float  # time.monotonic(): a minute after the check, or when the certificate expires
    common_name: str
    organizations: tuple[str, ...]
    by_front_proxy_ca: bool
    by_client_ca: bool


class Authenticator:
    #: Verifying a certificate costs about half a millisecond; the front proxy sends the same one
    #: with every request, so verdicts are kept a little while (and dropped when the CAs change).
    VERDICT_SECONDS = 60.0
    VERDICTS = 256

    def __init__(self, config: AuthConfigSource, tokens: TokenReviewer) -> None:
        self.config = config
        self.tokens = tokens
        self._verdicts: OrderedDict[bytes, _Verdict] = OrderedDict()

    def authenticate(self, peer_certificate: bytes | None, headers: Mapping[str, str]) -> UserInfo:
        """The request's user; raises 401 for refused credentials, 503 when they cannot be checked."""
        refused: list[str] = []
        user = None
        if peer_certificate is not None:
            user = self._certificate_user(peer_certificate, headers, refused)
        if user is None:
            token = bearer_token(headers)
            if token is not None:
                user = self.tokens.review(token)
                if user is None:
                    refused.append("the bearer token was rejected by the TokenReview")
        if user is not None:
            return user.with_authenticated_group()
        if refused:
            log.info("authentication refused: %s", "; ".join(refused))
            raise errors.unauthorized()
        return ANONYMOUS_USER

    def _certificate_user(self, der: bytes, headers: Mapping[str, str], refused: list[str]) -> UserInfo | None:
        config = self.config.current()
        if config is None:
            return None
        verdict = self._verdict(config, der)
        common_name = verdict.common_name
        proxy = config.request_header
        if proxy is not None:
            if not verdict.by_front_proxy_ca:
                refused.append(f"the client certificate (CN {common_name!r}) is not signed by the front-proxy CA")
            elif proxy.allowed_names and common_name not in proxy.allowed_names:
                refused.append(f"the front-proxy certificate's CN {common_name!r} is not an allowed name "
                               f"({', '.join(proxy.allowed_names)})")
            else:
                named = user_from_headers(proxy, headers)
                if named is not None:
                    return named
        if config.client_ca is not None:
            if not verdict.by_client_ca:
                refused.append(f"the client certificate (CN {common_name!r}) is not signed by the client CA")
            elif common_name:
                fingerprint = hashlib.sha256(der).hexdigest()
                return UserInfo(common_name, groups=verdict.organizations,
                                extra={CREDENTIAL_ID: (f"X509SHA256={fingerprint}",)})
        return None

    def _verdict(self, config: AuthenticationConfig, der: bytes) -> _Verdict:
        now = time.monotonic()
        known = self._verdicts.get(der)
        if known is not None and known.config is config and now < known.good_until:
            self._verdicts.move_to_end(der)
            return known
        certificate = crypto.load_certificate(crypto.FILETYPE_ASN1, der)
        parsed = certificate.to_cryptography()
        common_names = _names(parsed, NameOID.COMMON_NAME)
        proxy, client = config.request_header, config.client_ca
        expires_in = (parsed.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()
        verdict = _Verdict(config, now + min(self.VERDICT_SECONDS, expires_in), common_names[0] if common_names else "",
                           tuple(_names(parsed, NameOID.ORGANIZATION_NAME)),
                           proxy is not None and proxy.ca.verifies(certificate),
                           client is not None and client.verifies(certificate))
        self._verdicts[der] = verdict
        self._verdicts.move_to_end(der)
        while len(self._verdicts) > self.VERDICTS:
            self._verdicts.popitem(last=False)
        return verdict
