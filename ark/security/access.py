"""Who may do what, and the record of it: the security services of one app.

``--auth-mode off`` (development, loopback only): every request is served as
``system:anonymous``, the audit log and the certificate reloading still work.
``--auth-mode delegated``: authentication and authorization are delegated to the cluster's API
as kube-apiserver expects of an aggregated server (:mod:`ark.security.authn`,
:mod:`ark.security.authz`), and creates are checked against the cluster's namespaces.

Building this does no I/O; :meth:`Security.start` (in each worker) reads the CA files and
starts keeping the authentication ConfigMap and the namespaces current.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ark.cluster.client import ClusterClient, load_config
from ark.cluster.namespaces import ClusterCoreObjects, ClusterNamespaces
from ark.security.audit import AuditLog
from ark.security.authconfig import AuthConfigSource
from ark.security.authn import Authenticator, TokenReviewer
from ark.security.authz import Authorizer
from ark.security.serving import ServingTLS
from ark.security.tls import serving_files
from ark.settings import Settings

AUTHENTICATION_KUBECONFIG, AUTHORIZATION_KUBECONFIG = "--authentication-kubeconfig", "--authorization-kubeconfig"
#: How long a worker waits for the authentication ConfigMap before it accepts connections: a probe
#: finding one worker ready should not send clients to another that would still answer 503.
STARTUP_WAIT_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass
class Delegation:
    """The delegated-mode parts, all talking to the cluster's API."""

    config: AuthConfigSource
    authenticator: Authenticator
    authorizer: Authorizer
    namespaces: ClusterNamespaces
    core_objects: ClusterCoreObjects
    clients: list[ClusterClient]


@dataclass
class Security:
    mode: str
    serving: ServingTLS
    audit: AuditLog | None = None
    delegation: Delegation | None = None
    readyz_checks: dict[str, Callable[[], object]] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Security:
        audit = AuditLog(settings.audit_log_path, settings.audit_log_maxsize, settings.audit_log_maxbackup) \
            if settings.audit_log_path else None
        cert_file, key_file = serving_files(settings)
        if settings.auth_mode == "off":
            return cls("off", ServingTLS(cert_file, key_file), audit)
        authentication = ClusterClient(lambda: load_config(settings.authentication_kubeconfig,
                                                           AUTHENTICATION_KUBECONFIG))
        authorization = authentication
        if settings.authorization_kubeconfig != settings.authentication_kubeconfig:
            authorization = ClusterClient(lambda: load_config(settings.authorization_kubeconfig,
                                                              AUTHORIZATION_KUBECONFIG))
        config = AuthConfigSource(settings, authentication)
        delegation = Delegation(
            config=config,
            authenticator=Authenticator(config, TokenReviewer(authentication,
                                                              settings.authentication_token_webhook_cache_ttl)),
            authorizer=Authorizer(authorization, settings.authorization_always_allow_paths,
                                  settings.authorization_webhook_cache_authorized_ttl,
                                  settings.authorization_webhook_cache_unauthorized_ttl),
            namespaces=ClusterNamespaces(authentication),
            core_objects=ClusterCoreObjects(authentication),
            clients=[authentication] if authorization is authentication else [authentication, authorization],
        )

        def client_cas() -> bytes:
            current = config.current()
            return current.trusted_pem() if current is not None else b""

        return cls("delegated", ServingTLS(cert_file, key_file, client_cas), audit, delegation,
                   {"authentication-configuration": config.check_loaded})

    def start(self) -> None:
        if self.delegation is not None:
            for client in self.delegation.clients:
                client.config()
            self.delegation.config.start()
            self.delegation.namespaces.start()
            if not self.delegation.config.wait_loaded(STARTUP_WAIT_SECONDS):
                log.warning("authentication: serving before %s: /readyz fails and requests are answered 503 "
                            "until it is", self.delegation.config.problem())

    def stop(self) -> None:
        if self.delegation is not None:
            self.delegation.config.stop()
            self.delegation.namespaces.stop()
            for client in self.delegation.clients:
                client.close()
        if self.audit is not None:
            self.audit.close()


def check_delegated(settings: Settings) -> None:
    """At start, before any worker: the cluster's API can be configured and the CA files read
    (ConfigError, one line, when not)."""
    if settings.auth_mode != "delegated":
        return
    load_config(settings.authentication_kubeconfig, AUTHENTICATION_KUBECONFIG)
    if settings.authorization_kubeconfig != settings.authentication_kubeconfig:
        load_config(settings.authorization_kubeconfig, AUTHORIZATION_KUBECONFIG)
    AuthConfigSource(settings, ClusterClient(lambda: load_config(settings.authentication_kubeconfig,
                                                                 AUTHENTICATION_KUBECONFIG))).check_files()
