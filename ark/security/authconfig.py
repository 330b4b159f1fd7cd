"""Which client certificates the server trusts, and for what: the authentication configuration.

kube-apiserver publishes its settings for aggregated servers in the ConfigMap
``kube-system/extension-apiserver-authentication`` and rotates them there:

* ``client-ca-file``: the CA of client certificates (user = CN, groups = O);
* ``requestheader-client-ca-file``: the CA of the front proxy (kube-apiserver's own client
  certificate when it proxies), with ``requestheader-allowed-names`` (the CNs that may act as the
  front proxy; empty means any) and the headers that carry the user (``requestheader-username-
  headers``, ``-uid-headers``, ``-group-headers``, ``-extra-headers-prefix``), each a JSON array.

The flags override it as k8s.io/apiserver's do: ``--client-ca-file`` replaces the ConfigMap's
client CA; ``--requestheader-client-ca-file`` replaces all of its front-proxy settings with the
``--requestheader-*`` flags. With both files given the ConfigMap is not read at all.

:class:`AuthConfigSource` keeps the ConfigMap current with a watch and re-reads the files given
by flags when they change, and hands out immutable :class:`AuthenticationConfig` snapshots: the
TLS layer trusts the union of the CAs (:meth:`AuthenticationConfig.trusted_pem`), the
authenticator checks per request which CA signed the client certificate.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent.event
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import crypto

from ark.cluster.client import ClusterClient
from ark.cluster.informer import Object, Reflector
from ark.settings import ConfigError, Settings

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"
CONFIGMAP = f"ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}"
CONFIGMAP_PATH = f"/api/v1/namespaces/{CONFIGMAP_NAMESPACE}/configmaps"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CABundle:
    """PEM certificates trusted as roots, and a verifier for client certificates."""

    pem: bytes
    source: str
    store: crypto.X509Store = field(compare=False, repr=False)

    @classmethod
    def parse(cls, pem: bytes, source: str) -> CABundle:
        """Raises ValueError (one line) unless ``pem`` holds at least one certificate."""
        try:
            certificates = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise ValueError(f"{source}: not a PEM bundle of certificates") from None
        store = crypto.X509Store()
        # Every certificate of the bundle is a trust anchor, intermediates too, as in Go's x509.
        store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)
        for certificate in certificates:
            store.add_cert(crypto.X509.from_cryptography(certificate))
        canonical = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
        return cls(canonical, source, store)

    def verifies(self, certificate: crypto.X509) -> bool:
        """The certificate chains to this bundle and is valid now."""
        try:
            crypto.X509StoreContext(self.store, certificate).verify_certificate()
        except crypto.X509StoreContextError:
            return False
        return True


@dataclass(frozen=True)
class RequestHeaderConfig:
    """When a front-proxy certificate is trusted, and which headers then name the user."""

    ca: CABundle
    allowed_names: tuple[str, ...]
    username_headers: tuple[str, ...]
    uid_headers: tuple[str, ...]
    group_headers: tuple[str, ...]
    extra_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class AuthenticationConfig:
    client_ca: CABundle | None = None
    request_header: RequestHeaderConfig | None = None

    def trusted_pem(self) -> bytes:
        """Every CA a client certificate may chain to (the TLS handshake checks these)."""
        bundles = [self.client_ca, self.request_header.ca if self.request_header else None]
        return b"".join(bundle.pem for bundle in bundles if bundle is not None)


@dataclass(frozen=True)
class _ClusterPart:
    """What the ConfigMap said (None when it has no such entry)."""

    client_ca: CABundle | None
    request_header: RequestHeaderConfig | None


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    """A ConfigMap entry holding a JSON array of strings ("" or absent: none)."""
    text = data.get(key) or ""
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{CONFIGMAP} key {key}: must be a JSON array of strings, got {text!r}")
    return tuple(value)


def parse_configmap(configmap: Object | None) -> _ClusterPart:
    """The authentication settings of the ConfigMap (none for a missing one). ValueError if bad."""
    data = (configmap or {}).get("data") or {}
    client_ca = None
    if data.get("client-ca-file"):
        client_ca = CABundle.parse(data["client-ca-file"].encode(), f"{CONFIGMAP} key client-ca-file")
    request_header = None
    if data.get("requestheader-client-ca-file"):
        source = f"{CONFIGMAP} key requestheader-client-ca-file"
        request_header = RequestHeaderConfig(
            CABundle.parse(data["requestheader-client-ca-file"].encode(), source),
            _strings(data, "requestheader-allowed-names"),
            _strings(data, "requestheader-username-headers"),
            _strings(data, "requestheader-uid-headers"),
            _strings(data, "requestheader-group-headers"),
            _strings(data, "requestheader-extra-headers-prefix"),
        )
    return _ClusterPart(client_ca, request_header)


def _file_identity(path: str) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size


class _CAFile:
    """A CA bundle file given by a flag, re-read when it changes; the last good one is kept."""

    def __init__(self, path: str, flag: str) -> None:
        self.path = path
        self.flag = flag
        self.identity: tuple[int, int, int, int] | None = None
        self.bundle: CABundle | None = None

    def load(self) -> CABundle:
        """Read it now: ConfigError when it cannot be used (at start, with the flag's name)."""
        try:
            self.identity = _file_identity(self.path)
            self.bundle = CABundle.parse(Path(self.path).read_bytes(), f"{self.flag} {self.path}")
        except OSError as err:
            raise ConfigError(f"{self.flag}: cannot read {self.path}: {err.strerror or err}") from None
        except ValueError as err:
            raise ConfigError(str(err)) from None
        return self.bundle

    def current(self) -> CABundle | None:
        try:
            changed = _file_identity(self.path) != self.identity
        except OSError:
            changed = False  # being replaced: keep the last good bundle
        if changed or self.bundle is None:
            try:
                self.load()
            except ConfigError as err:
                log.warning("authentication: keeping the previous CA bundle: %s", err)
        return self.bundle


class AuthConfigSource:
    """The current :class:`AuthenticationConfig` from the flags and the cluster's ConfigMap."""

    def __init__(self, settings: Settings, client: ClusterClient) -> None:
        self.client_ca_file = _CAFile(settings.client_ca_file, "--client-ca-file") if settings.client_ca_file \
            else None
        self.requestheader_file = (_CAFile(settings.requestheader_client_ca_file, "--requestheader-client-ca-file")
                                   if settings.requestheader_client_ca_file else None)
        self.settings = settings
        self.cluster: _ClusterPart | None = None  # None until the ConfigMap was read
        self.reflector: Reflector | None = None
        if self.client_ca_file is None or self.requestheader_file is None:
            self.reflector = Reflector(client, CONFIGMAP_PATH, CONFIGMAP, self._replace, self._event,
                                       field_selector=f"metadata.name={CONFIGMAP_NAME}")
        self._snapshot: tuple[tuple[Any, ...], AuthenticationConfig] | None = None
        self._loaded = gevent.event.Event()
        if self.reflector is None:
            self._loaded.set()

    def check_files(self) -> None:
        """Read the CA files given by flags (ConfigError names the flag when one is unusable)."""
        for ca_file in (self.client_ca_file, self.requestheader_file):
            if ca_file is not None:
                ca_file.load()

    def start(self) -> None:
        self.check_files()
        if self.reflector is not None:
            self.reflector.start()

    def wait_loaded(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the first read of the ConfigMap; True once read."""
        return bool(self._loaded.wait(timeout))

    def stop(self) -> None:
        if self.reflector is not None:
            self.reflector.stop()

    # The ConfigMap ---------------------------------------------------------------------------

    def _replace(self, items: list[Object]) -> None:
        found = next((item for item in items if item.get("metadata", {}).get("name") == CONFIGMAP_NAME), None)
        if found is None:
            log.warning("authentication: %s does not exist: client certificates and the front proxy are not "
                        "trusted until it does", CONFIGMAP)
        self._take(found)

    def _event(self, kind: str, configmap: Object) -> None:
        if kind == "DELETED":
            log.warning("authentication: %s was deleted; keeping its last settings", CONFIGMAP)
            return
        self._take(configmap)

    def _take(self, configmap: Object | None) -> None:
        try:
            part = parse_configmap(configmap)
        except ValueError as err:
            if self.reflector is not None and self.cluster is None:
                self.reflector.error = str(err)
            log.error("authentication: %s is not usable, keeping the previous settings: %s", CONFIGMAP, err)
            return
        if part != self.cluster:
            log.info("authentication: loaded %s (client CA: %s, front proxy: %s)", CONFIGMAP,
                     "yes" if part.client_ca else "no", "yes" if part.request_header else "no")
        self.cluster = part
        self._loaded.set()

    # Snapshots -------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.reflector is None or self.cluster is not None

    def problem(self) -> str | None:
        """Why there is no configuration yet (None once there is)."""
        if self.loaded:
            return None
        assert self.reflector is not None
        return f"{CONFIGMAP} is not loaded yet" + (f": {self.reflector.error}" if self.reflector.error else "")

    def check_loaded(self) -> None:
        """A /readyz check: raises until the ConfigMap has been read."""
        problem = self.problem()
        if problem:
            raise RuntimeError(problem)

    def current(self) -> AuthenticationConfig | None:
        """The configuration now, or None while the ConfigMap has not been read."""
        if not self.loaded:
            return None
        client_ca = self.client_ca_file.current() if self.client_ca_file else None
        header_ca = self.requestheader_file.current() if self.requestheader_file else None
        key = (self.cluster, client_ca, header_ca)
        if self._snapshot is None or self._snapshot[0] != key:
            self._snapshot = (key, self._compose(client_ca, header_ca))
        return self._snapshot[1]

    def _compose(self, client_ca: CABundle | None, header_ca: CABundle | None) -> AuthenticationConfig:
        cluster = self.cluster or _ClusterPart(None, None)
        request_header = cluster.request_header
        if self.requestheader_file is not None:
            settings = self.settings
            request_header = None if header_ca is None else RequestHeaderConfig(
                header_ca, settings.requestheader_allowed_names, settings.requestheader_username_headers,
                settings.requestheader_uid_headers, settings.requestheader_group_headers,
                settings.requestheader_extra_headers_prefix)
        return AuthenticationConfig(client_ca if self.client_ca_file is not None else cluster.client_ca,
                                    request_header)
