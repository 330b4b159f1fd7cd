"""Acting as someone else: kube-apiserver's ``Impersonate-*`` headers.

``Impersonate-User`` (a service account when it reads ``system:serviceaccount:<ns>:<name>``),
``Impersonate-Group`` (repeatable), ``Impersonate-Uid`` and ``Impersonate-Extra-<key>`` each need
the ``impersonate`` verb on ``users``, ``serviceaccounts``, ``groups``, ``uids`` or
``userextras/<key>``, asked of the authorizer for the real user; one refusal is the 403 for that
check. Groups, UID or extras without a user are a 400. The new user gets ``system:authenticated``
(``system:unauthenticated`` when it is ``system:anonymous``); the audit event records both.
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from ark.machinery import errors
from ark.security.authn import ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, UserInfo, split_values
from ark.security.authz import Attributes, Authorizer

USER, GROUP, UID, EXTRA_PREFIX = "impersonate-user", "impersonate-group", "impersonate-uid", "impersonate-extra-"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
AUTHENTICATION_GROUP = "authentication.k8s.io"


def requested(headers: Mapping[str, str]) -> bool:
    return any(name in (USER, GROUP, UID) or name.startswith(EXTRA_PREFIX) for name in headers)


def impersonate(requestor: UserInfo, headers: Mapping[str, str], authorizer: Authorizer) -> UserInfo:
    """The user the request acts as, every step authorized for ``requestor`` (headers lower-cased)."""
    name = (headers.get(USER) or "").strip()
    groups = split_values(headers.get(GROUP))
    uid = (headers.get(UID) or "").strip()
    extra = {unquote(header[len(EXTRA_PREFIX):]): split_values(value) for header, value in headers.items()
             if header.startswith(EXTRA_PREFIX)}
    if not name:
        raise errors.bad_request("requested impersonation of groups, a UID or extra attributes without "
                                 "impersonating a user")

    def check(**attributes: str) -> None:
        authorizer.authorize(Attributes(requestor, "impersonate", True, **attributes))

    service_account = name[len(SERVICE_ACCOUNT_PREFIX):].split(":") if name.startswith(SERVICE_ACCOUNT_PREFIX) \
        else None
    if service_account is not None and len(service_account) == 2 and all(service_account):
        namespace, account = service_account
        check(resource="serviceaccounts", namespace=namespace, name=account)
        if not groups and GROUP not in headers:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    else:
        check(resource="users", name=name)
    for group in split_values(headers.get(GROUP)):
        check(resource="groups", name=group)
    for key, values in extra.items():
        for value in values:
            check(group=AUTHENTICATION_GROUP, version="v1", resource="userextras", subresource=key, name=value)
    if uid:
        check(group=AUTHENTICATION_GROUP, version="v1", resource="uids", name=uid)
    marker = ALL_UNAUTHENTICATED if name == ANONYMOUS else ALL_AUTHENTICATED
    if marker not in groups and (name == ANONYMOUS or ALL_UNAUTHENTICATED not in groups):
        groups.append(marker)
    return UserInfo(name, uid, tuple(groups), {key: tuple(values) for key, values in extra.items()})
