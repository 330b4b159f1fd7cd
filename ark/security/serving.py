"""The TLS context gunicorn serves with, renewed without a restart.

gunicorn's gevent worker builds one SSL context when it starts and wraps every accepted
connection with it. That context's ``sni_callback`` runs in every handshake (SNI or not) and may
hand the connection another context, whose certificate is then served and whose CAs verify the
client's certificate: so each handshake checks whether the certificate or key file changed
(cert-manager, a Secret volume's symlink swap) or the trusted client CAs did (the authentication
ConfigMap), and if so builds a fresh context first. Connections already open — watches — keep
the context they were made with; the next connection gets the new one. A file pair that does not
load (cert written, key not yet) keeps the previous context until it does.

TLS 1.2 or newer. With client CAs (delegated mode) client certificates are requested and, when
sent, verified against them in the handshake (so a certificate of an unknown CA fails it); every
certificate of a bundle is a trust anchor, as in Go.
"""
from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Identity = tuple[int, int, int, int]


def _identity(path: str) -> Identity:
    stat = os.stat(path)  # follows symlinks: a Secret volume's ..data swap changes the inode
    return stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size


class ServingTLS:
    def __init__(self, cert_file: str, key_file: str, client_cas: Callable[[], bytes] | None = None) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_cas = client_cas  # None: client certificates are not asked for
        self.reloads = 0
        self._key: tuple[Identity, Identity, bytes] | None = None
        self._current: ssl.SSLContext | None = None
        self._failed: tuple[Identity, Identity, bytes] | None = None

    def context(self) -> ssl.SSLContext:
        """The context to give gunicorn: the current one, choosing a newer one at each handshake."""
        context = self.current()
        context.sni_callback = self._choose
        return context

    def current(self) -> ssl.SSLContext:
        """A context for the files and CAs as they are now (the previous one if they do not load)."""
        try:
            key = (_identity(self.cert_file), _identity(self.key_file), self.client_cas() if self.client_cas else b"")
        except OSError as err:
            if self._current is None:
                raise
            log.warning("serving TLS: cannot read %s (%s); serving the previous certificate", self.cert_file, err)
            return self._current
        if self._current is not None and key in (self._key, self._failed):
            return self._current
        try:
            context = self._build(key[2])
        except (OSError, ssl.SSLError, ValueError) as err:
            if self._current is None:
                raise
            self._failed = key
            log.warning("serving TLS: %s and %s do not load (%s); serving the previous certificate",
                        self.cert_file, self.key_file, " ".join(str(err).split()))
            return self._current
        if self._current is not None:
            self.reloads += 1
            log.info("serving TLS: reloaded the certificate and client CAs for new connections")
        self._current, self._key, self._failed = context, key, None
        return context

    def _build(self, client_cas: bytes) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        context.set_alpn_protocols(["http/1.1"])
        if self.client_cas is not None:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            if client_cas:
                context.load_verify_locations(cadata=client_cas.decode("ascii"))
        return context

    def _choose(self, connection: Any, _server_name: str | None, original: ssl.SSLContext) -> None:
        try:
            context = self.current()
            if context is not original:
                connection.context = context
        except Exception:  # a failing callback aborts the handshake: serve with what it has instead
            log.exception("serving TLS: choosing the context failed; using the one the connection has")
