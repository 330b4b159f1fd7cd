"""An HTTPS client for the cluster's own API: TokenReviews, SubjectAccessReviews, the
authentication ConfigMap, namespaces and core objects.

The server makes a handful of JSON calls, so this is ``http.client`` over a verified TLS context
rather than the official client: every call has a deadline (10 s unless told), reviews retry
transient failures with kube-apiserver's webhook backoff (0.5 s, x1.5, 20 % jitter, 5 tries)
inside that deadline, and in the gunicorn workers the sockets are gevent's, so a slow cluster
stalls only the requests waiting on it. A failure is a :class:`ClusterError` whose message names
the call, the server and the reason in one line.

Credentials come from the pod's service account (its token file is re-read whenever it changes,
since the kubelet rotates it) or from a kubeconfig's current context: a token, a token file or a
client certificate, with the cluster's CA (or ``insecure-skip-tls-verify``). Exec and
auth-provider plugins are refused with a message saying so.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import random
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ark.settings import SERVICE_ACCOUNT_DIR, ConfigError, in_cluster

DEFAULT_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_FACTOR, BACKOFF_JITTER, BACKOFF_ATTEMPTS = 0.5, 1.5, 0.2, 5
RETRYABLE_CODES = (429, 500, 502, 503, 504)
MAX_EVENT_BYTES = 16 * 1024 * 1024
POOL_SIZE = 16
USER_AGENT = "ark-apiserver"


class ClusterError(Exception):
    """A call to the cluster's API failed. The message is one line; ``code`` is the HTTP status
    when the cluster answered."""

    def __init__(self, message: str, code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class ClusterConfig:
    """Where the cluster's API is and how to prove who we are to it."""

    server: str
    source: str  # for messages: "the in-cluster service account", "kubeconfig /path"
    ca_file: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    token: str | None = None
    token_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None

    def ssl_context(self) -> ssl.SSLContext:
        if self.insecure:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            cadata = self.ca_data.decode("ascii", "replace") if self.ca_data else None
            context = ssl.create_default_context(cafile=self.ca_file, cadata=cadata)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        elif self.cert_data and self.key_data:
            _load_cert_data(context, self.cert_data, self.key_data)
        return context


def _load_cert_data(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl loads client certificates from files only: a private directory, gone right after."""
    with tempfile.TemporaryDirectory(prefix="ark-client-cert-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(str(cert_path), str(key_path))


# ------------------------------------------------------------------------------------------ config

def load_config(kubeconfig: str | None, flag: str, env: Mapping[str, str] = os.environ,
                service_account_dir: str = SERVICE_ACCOUNT_DIR) -> ClusterConfig:
    """The config ``flag`` names, or the in-cluster service account. ConfigError says why not."""
    if kubeconfig:
        config = kubeconfig_config(kubeconfig, flag)
    elif in_cluster(env, service_account_dir):
        config = in_cluster_config(env, service_account_dir)
    else:
        raise ConfigError(f"--auth-mode delegated needs the cluster's API: no in-cluster service account here "
                          f"(KUBERNETES_SERVICE_HOST and {service_account_dir}/token); give {flag}")
    try:
        config.ssl_context()
    except (OSError, ssl.SSLError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"{flag}: the TLS settings of {config.source} cannot be used: {reason}") from None
    return config


def in_cluster_config(env: Mapping[str, str], service_account_dir: str = SERVICE_ACCOUNT_DIR) -> ClusterConfig:
    host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    ca = Path(service_account_dir) / "ca.crt"
    return ClusterConfig(server=f"https://{host}:{port}", source="the in-cluster service account",
                         ca_file=str(ca) if ca.is_file() else None,
                         token_file=str(Path(service_account_dir) / "token"))


def kubeconfig_config(path: str, flag: str) -> ClusterConfig:
    """The current context of a kubeconfig file, as client-go reads it (paths relative to the file)."""
    where = f"{flag} {path}"
    try:
        document = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{where}: not a kubeconfig (invalid YAML)") from None
    if not isinstance(document, dict) or not document.get("current-context"):
        raise ConfigError(f"{where}: not a kubeconfig with a current-context")
    base = Path(path).expanduser().resolve().parent
    context = _named(document, "contexts", "context", document["current-context"], where)
    cluster = _named(document, "clusters", "cluster", context.get("cluster"), where)
    user = _named(document, "users", "user", context.get("user"), where) if context.get("user") else {}
    for unsupported in ("exec", "auth-provider", "username"):
        if user.get(unsupported):
            raise ConfigError(f"{where}: user credentials by {unsupported} are not supported; use a token, a token "
                              "file or a client certificate")
    server = str(cluster.get("server") or "")
    if urlsplit(server).scheme != "https" or not urlsplit(server).hostname:
        raise ConfigError(f"{where}: the cluster's server must be an https:// URL, got {server!r}")

    def file(key: str) -> str | None:
        value = cluster.get(key) if key == "certificate-authority" else user.get(key)
        return str(base / str(value)) if value else None

    def data(section: dict[str, Any], key: str) -> bytes | None:
        value = section.get(key)
        if not value:
            return None
        try:
            return base64.b64decode(str(value), validate=True)
        except ValueError:
            raise ConfigError(f"{where}: {key} is not base64") from None

    token_file = user.get("tokenFile")
    return ClusterConfig(
        server=server.rstrip("/"), source=f"kubeconfig {path}",
        ca_file=file("certificate-authority"), ca_data=data(cluster, "certificate-authority-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        token=user.get("token"), token_file=str(base / str(token_file)) if token_file else None,
        cert_file=file("client-certificate"), key_file=file("client-key"),
        cert_data=data(user, "client-certificate-data"), key_data=data(user, "client-key-data"),
    )


def _named(document: dict[str, Any], section: str, key: str, name: Any, where: str) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(key), dict):
            found: dict[str, Any] = entry[key]
            return found
    raise ConfigError(f"{where}: no {key} named {name!r}")


# ------------------------------------------------------------------------------------------ client

class ClusterClient:
    """Calls to one cluster API with one identity; connections are kept alive in a small pool."""

    def __init__(self, load: Callable[[], ClusterConfig], timeout: float = DEFAULT_TIMEOUT) -> None:
        self._load = load
        self.timeout = timeout
        self._config: ClusterConfig | None = None
        self._context: ssl.SSLContext | None = None
        self._idle: list[http.client.HTTPSConnection] = []
        self._token: tuple[tuple[int, int, int], str] | None = None  # (file identity, token)

    def config(self) -> ClusterConfig:
        """Loaded on first use (building the app does no I/O); ConfigError when unusable."""
        if self._config is None:
            config = self._load()
            self._context = config.ssl_context()
            self._config = config
        return self._config

    def describe(self) -> str:
        config = self.config()
        return f"{config.server} ({config.source})"

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    # Calls ----------------------------------------------------------------------------------

    def get(self, path: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The object at ``path``, or None when the cluster says 404."""
        try:
            return self.call("GET", path, timeout=timeout)
        except ClusterError as err:
            if err.code == 404:
                return None
            raise

    def create(self, path: str, body: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """POST a review: transient failures are retried with backoff until the deadline."""
        return self.call("POST", path, body, timeout=timeout, retry=True)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None,
             retry: bool = False) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        delay = BACKOFF_FIRST
        for attempt in range(1, (BACKOFF_ATTEMPTS if retry else 1) + 1):
            try:
                return self._once(method, path, body, deadline)
            except ClusterError as err:
                if not (retry and err.retryable) or attempt == BACKOFF_ATTEMPTS:
                    raise
                pause = delay * (1 + BACKOFF_JITTER * random.random())
                if time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)  # gevent's sleep in the workers
                delay *= BACKOFF_FACTOR
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _once(self, method: str, path: str, body: dict[str, Any] | None, deadline: float) -> dict[str, Any]:
        self._config_or_error(method, path)
        payload = json.dumps(body).encode() if body is not None else None
        for reused in (True, False):
            connection = self._connection(reused, deadline)
            if connection is None:
                continue
            try:
                _set_timeout(connection, deadline)
                connection.request(method, path, body=payload, headers=self._headers(payload is not None))
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as err:
                connection.close()
                if reused and isinstance(err, (http.client.RemoteDisconnected, ConnectionResetError,
                                               BrokenPipeError)):
                    continue  # the cluster closed an idle keep-alive connection: once more on a fresh one
                raise self._error(method, path, _reason(err), retryable=_transient(err)) from None
            if response.will_close:
                connection.close()
            else:
                self._release(connection)
            return self._decode(method, path, response, data)
        raise AssertionError("unreachable: the fresh connection returns or raises")

    def _decode(self, method: str, path: str, response: http.client.HTTPResponse, data: bytes) -> dict[str, Any]:
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = None
        if 200 <= response.status < 300:
            if not isinstance(decoded, dict):
                raise self._error(method, path, f"the answer ({response.status}) is not a JSON object")
            return decoded
        message = decoded.get("message") if isinstance(decoded, dict) else None
        why = f"{response.status} {response.reason}" + (f": {message}" if message else "")
        retryable = response.status in RETRYABLE_CODES or response.getheader("Retry-After") is not None
        raise self._error(method, path, why, code=response.status, retryable=retryable)

    @contextlib.contextmanager
    def stream(self, path: str, read_timeout: float) -> Iterator[Iterator[dict[str, Any]]]:
        """A watch: the decoded events of ``path`` (one JSON object a line) until the cluster ends
        the stream; a stream silent for ``read_timeout`` seconds raises ClusterError."""
        self._config_or_error("GET", path)
        connection = self._new_connection(time.monotonic() + self.timeout)
        try:
            try:
                connection.request("GET", path, headers=self._headers(False))
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as err:
                raise self._error("GET", path, _reason(err), retryable=True) from None
            if response.status != 200:
                self._decode("GET", path, response, response.read())
            assert connection.sock is not None
            connection.sock.settimeout(read_timeout)
            yield self._events(path, response)
        finally:
            connection.close()

    def _events(self, path: str, response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
        while True:
            try:
                line = response.readline(MAX_EVENT_BYTES)
            except (OSError, http.client.HTTPException) as err:
                raise self._error("GET", path, f"the watch broke off: {_reason(err)}", retryable=True) from None
            if not line:
                return
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                raise self._error("GET", path, "the watch sent a line that is not JSON") from None
            if isinstance(event, dict):
                yield event

    # Plumbing -------------------------------------------------------------------------------

    def _config_or_error(self, method: str, path: str) -> ClusterConfig:
        try:
            return self.config()
        except (ConfigError, OSError, ssl.SSLError) as err:
            raise ClusterError(f"{method} {path}: the cluster's API cannot be used: {err}") from None

    def _connection(self, reused: bool, deadline: float) -> http.client.HTTPSConnection | None:
        if reused:
            return self._idle.pop() if self._idle else None
        return self._new_connection(deadline)

    def _new_connection(self, deadline: float) -> http.client.HTTPSConnection:
        config = self.config()
        url = urlsplit(config.server)
        assert url.hostname is not None
        return http.client.HTTPSConnection(url.hostname, url.port or 443, context=self._context,
                                           timeout=max(0.01, deadline - time.monotonic()))

    def _release(self, connection: http.client.HTTPSConnection) -> None:
        if len(self._idle) < POOL_SIZE:
            self._idle.append(connection)
        else:
            connection.close()

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if has_body:
            headers["Content-Type"] = "application/json"
        token = self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _bearer(self) -> str | None:
        """The token, re-read from its file whenever the file changed (the kubelet rotates it)."""
        config = self.config()
        if config.token:
            return config.token
        if not config.token_file:
            return None
        try:
            stat = os.stat(config.token_file)
            identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if self._token is None or self._token[0] != identity:
                self._token = (identity, Path(config.token_file).read_text(encoding="utf-8").strip())
        except OSError as err:
            raise ClusterError(f"cannot read the token file {config.token_file}: {err.strerror or err}") from None
        return self._token[1]

    def _error(self, method: str, path: str, why: str, code: int | None = None,
               retryable: bool = False) -> ClusterError:
        server = self._config.server if self._config is not None else "the cluster"
        return ClusterError(f"{method} {server}{path.split('?', 1)[0]}: {why}", code, retryable)


def _set_timeout(connection: http.client.HTTPSConnection, deadline: float) -> None:
    remaining = max(0.01, deadline - time.monotonic())
    connection.timeout = remaining
    if connection.sock is not None:
        connection.sock.settimeout(remaining)


def _transient(err: BaseException) -> bool:
    """Worth another try within the deadline (kube-apiserver retries resets; we also retry a cluster
    that is not listening yet). A timeout is not: the deadline is spent."""
    return isinstance(err, (ConnectionResetError, ConnectionRefusedError, BrokenPipeError,
                            http.client.RemoteDisconnected))


def _reason(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"its certificate does not verify: {err.verify_message}"
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())
