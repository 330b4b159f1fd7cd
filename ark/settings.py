"""The server's settings: one frozen object built from defaults, a YAML file, ARK_* env and flags.

Precedence, lowest first: defaults < YAML file (``--config PATH`` or ``ARK_CONFIG``) < ``ARK_*``
environment < command-line flags. Every field has one env var (``ARK_`` + the field name in upper
case; ``tls_sans`` is ``ARK_TLS_SAN``; lists are comma separated) and one flag (``--`` + the field
name with dashes; ``tls_sans`` is ``--tls-san``; list flags repeat). A bad value raises :class:`ConfigError` whose
message is one line naming where the value came from, e.g.
``--storage-driver: must be sqlite or postgresql, got "mysql"``.

``Settings.to_env()`` gives the ARK_* environment that reproduces a Settings object, which is how
``python -m ark serve`` hands its settings to the gunicorn workers (they call ``Settings.load()``).
"""
from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONFIG_ENV = "ARK_CONFIG"
STORAGE_DRIVERS = ("sqlite", "postgresql")
SQLITE_SYNCHRONOUS = ("full", "normal")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
AUTH_MODES = ("off", "delegated")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
ADMISSION_REFERENCES = ("reject", "warn")


#: Where Kubernetes mounts a pod's service-account token and the cluster's CA.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: The paths kube-apiserver's delegated authorization allows to everyone (k8s.io/apiserver's default).
HEALTH_PATHS = ("/healthz", "/readyz", "/livez")


class ConfigError(Exception):
    """A setting has a bad value (or the config file cannot be used). The message is one line."""


def in_cluster(env: Mapping[str, str], service_account_dir: str = SERVICE_ACCOUNT_DIR) -> bool:
    """True in a pod with a service account: the cluster's API is there to delegate to."""
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (Path(service_account_dir) / "token").is_file()


@dataclass(frozen=True)
class Settings:
    storage_driver: str = "sqlite"
    sqlite_path: str = "data/ark.db"
    sqlite_synchronous: str = "full"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str = "ark"
    postgres_user: str = "postgres"
    postgres_password: str = dataclasses.field(default="", repr=False)
    postgres_sslmode: str = "prefer"
    postgres_pool_size: int = 10
    postgres_max_overflow: int = 10
    postgres_connect_timeout: int = 5
    bind_address: str = "127.0.0.1"
    secure_port: int = 8443
    cert_dir: str = "data/certs"
    tls_cert_file: str | None = None
    tls_private_key_file: str | None = None
    tls_sans: tuple[str, ...] = ()
    workers: int = 1
    auth_mode: str = "off"
    insecure_allow_any_address: bool = False
    authentication_kubeconfig: str | None = None
    authorization_kubeconfig: str | None = None
    authentication_token_webhook_cache_ttl: float = 10.0
    authorization_webhook_cache_authorized_ttl: float = 10.0
    authorization_webhook_cache_unauthorized_ttl: float = 10.0
    authorization_always_allow_paths: tuple[str, ...] = HEALTH_PATHS
    client_ca_file: str | None = None
    requestheader_client_ca_file: str | None = None
    requestheader_allowed_names: tuple[str, ...] = ()
    requestheader_username_headers: tuple[str, ...] = ("X-Remote-User",)
    requestheader_uid_headers: tuple[str, ...] = ()
    requestheader_group_headers: tuple[str, ...] = ("X-Remote-Group",)
    requestheader_extra_headers_prefix: tuple[str, ...] = ("X-Remote-Extra-",)
    audit_log_path: str | None = None
    audit_log_maxsize: int = 100
    audit_log_maxbackup: int = 0
    kubeconfig_out: str | None = None
    watch_poll_interval: float = 0.1
    bookmark_interval: float = 60.0
    history_retention: float = 900.0
    history_min_revisions: int = 1000
    history_compaction_interval: float = 60.0
    watch_queue_size: int = 1000
    watch_timeout: float = 1800.0
    watch_overflow_grace: float = 5.0
    max_body_bytes: int = 3 * 1024 * 1024
    max_object_bytes: int = 1_572_864
    request_timeout: float = 60.0
    event_ttl: float = 3600.0
    read_header_timeout: float = 30.0
    max_watches: int = 20_000
    log_level: str = "info"
    log_format: str = "text"
    admission_references: str = "reject"
    model_allowed_private_ranges: tuple[str, ...] = ()
    model_allowed_domains: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Values built in code (tests, dataclasses.replace) get the same checks as loaded ones.
        for spec in _SPECS:
            value = _parse(spec, getattr(self, spec.name), spec.flag)
            _check(spec, value, spec.flag)
            object.__setattr__(self, spec.name, value)
        if (self.tls_cert_file is None) != (self.tls_private_key_file is None):
            raise ConfigError("--tls-cert-file and --tls-private-key-file must be given together")

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from defaults < YAML file < ARK_* env < flags (``argv`` None: no flags)."""
        return cls.from_flags(vars(cls.parser().parse_args(list(argv))) if argv is not None else {}, env)

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from flags a :meth:`parser` parsed (a command that adds its own options to
        that parser passes them too: keys that are no setting are ignored)."""
        flags = dict(flags)
        values: dict[str, Any] = {}

        source = "--config" if flags.get("config") else CONFIG_ENV
        config_path = flags.pop("config", None) or env.get(CONFIG_ENV) or None
        if config_path:
            values.update(_from_yaml_file(config_path, source))

        for spec in _SPECS:
            if spec.env in env:
                values[spec.name] = _parse_and_check(spec, env[spec.env], spec.env)
        for spec in _SPECS:
            if spec.name in flags:
                raw = flags[spec.name]
                if spec.kind in _LIST_KINDS:
                    raw = ",".join(raw)
                values[spec.name] = _parse_and_check(spec, raw, spec.flag)
        if "auth_mode" not in values:
            values["auth_mode"] = "delegated" if in_cluster(env) else "off"
        return cls(**values)

    @staticmethod
    def parser(prog: str | None = None, add_help: bool = True, sections: Sequence[str] | None = None,
               description: str | None = None, epilog: str | None = None) -> argparse.ArgumentParser:
        """The argparse parser for every setting (``sections`` limits it to some groups).

        Flags default to "not given" so that env and the config file show through; a parse
        error raises ConfigError instead of exiting.
        """
        parser = _Parser(prog=prog, usage="%(prog)s [options]", add_help=add_help, description=description,
                         epilog=epilog, argument_default=argparse.SUPPRESS,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
        groups: dict[str, Any] = {}
        general = parser.add_argument_group("configuration")
        general.add_argument("--config", metavar="PATH",
                             help=f"YAML config file; flags and ARK_* env override it (env {CONFIG_ENV})")
        for spec in _SPECS:
            if sections is not None and spec.section not in sections:
                continue
            if spec.section not in groups:
                groups[spec.section] = parser.add_argument_group(spec.section)
            default = _format_default(spec)
            choices = f": {', '.join(spec.choices)}" if len(spec.choices) > 1 else ""
            help_text = f"{spec.help}{choices} (env {spec.env}{', default ' + default if default else ''})"
            kwargs: dict[str, Any] = {"dest": spec.name, "metavar": spec.metavar, "help": help_text}
            if spec.kind in _LIST_KINDS:
                kwargs["action"] = "append"
            elif spec.kind == "bool":
                kwargs.update(nargs="?", const="true")
            groups[spec.section].add_argument(spec.flag, **kwargs)
        return parser

    # ----------------------------------------------------------------------------- derived values
    def database_url(self) -> str:
        """The SQLAlchemy URL (contains the password: never log it; see redacted_database_url)."""
        return self._url().render_as_string(hide_password=False)

    def redacted_database_url(self) -> str:
        return self._url().render_as_string(hide_password=True)

    def _url(self):
        from sqlalchemy.engine import URL

        if self.storage_driver == "sqlite":
            return URL.create("sqlite", database=str(Path(self.sqlite_path).expanduser().resolve()))
        return URL.create(
            "postgresql+psycopg2",
            username=self.postgres_user,
            password=self.postgres_password or None,
            host=self.postgres_host,
            port=self.postgres_port,
            database=self.postgres_db,
            query={"sslmode": self.postgres_sslmode},
        )

    def describe_database(self) -> str:
        """Where the data lives, for messages: ``SQLite database /abs/ark.db`` or ``PostgreSQL at host:port``."""
        if self.storage_driver == "sqlite":
            return f"SQLite database {Path(self.sqlite_path).expanduser().resolve()}"
        return f"PostgreSQL at {host_port(self.postgres_host, self.postgres_port)}"

    def bind(self) -> str:
        """The gunicorn bind string, ``host:port`` or ``[v6]:port``."""
        return host_port(self.bind_address, self.secure_port)

    def server_url(self) -> str:
        """The https URL clients on this machine use (a wildcard bind address becomes loopback)."""
        host = self.bind_address
        if host in ("0.0.0.0", ""):  # noqa: S104 - recognising the wildcard, not binding
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"https://{host_port(host, self.secure_port)}"

    def check_bind(self) -> str | None:
        """Refuse ``--auth-mode off`` on an address other machines can reach (ConfigError), unless
        ``--insecure-allow-any-address`` says so; then return the warning to log."""
        if self.auth_mode != "off" or _is_loopback(self.bind_address):
            return None
        if not self.insecure_allow_any_address:
            raise ConfigError(f"--bind-address {self.bind_address} is reachable from other machines and --auth-mode "
                              "off lets anyone who reaches it read, change and delete every object: use --auth-mode "
                              "delegated, a loopback --bind-address, or --insecure-allow-any-address")
        return (f"--auth-mode off on {self.bind_address} (--insecure-allow-any-address): anyone who can reach this "
                "address can read, change and delete every object")

    def to_env(self) -> dict[str, str]:
        """The ARK_* environment that makes ``Settings.load(env=...)`` give back these settings."""
        out = {}
        for spec in _SPECS:
            value = getattr(self, spec.name)
            if value is None:
                out[spec.env] = ""
            elif spec.kind in _LIST_KINDS:
                out[spec.env] = ",".join(value)
            elif spec.kind == "bool":
                out[spec.env] = "true" if value else "false"
            else:
                out[spec.env] = str(value)
        return out


# --------------------------------------------------------------------------------- field table
@dataclass(frozen=True)
class _Spec:
    name: str
    kind: Any  # int, float, str, "choice", "path", "optpath", "host", "duration", "bool" or a list kind
    section: str
    help: str
    yaml: str | None = None  # dotted key in the YAML file
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    env_name: str | None = None
    flag_name: str | None = None
    metavar: str | None = None

    @property
    def env(self) -> str:
        return self.env_name or "ARK_" + self.name.upper()

    @property
    def flag(self) -> str:
        return self.flag_name or "--" + self.name.replace("_", "-")


_SPECS: tuple[_Spec, ...] = (
    _Spec("storage_driver", "choice", "storage", "database driver", "storage.driver", STORAGE_DRIVERS,
          metavar="DRIVER"),
    _Spec("sqlite_path", "path", "storage", "SQLite database file", "storage.sqlite.path", metavar="PATH"),
    _Spec("sqlite_synchronous", "choice", "storage", "SQLite durability: full (every acknowledged write survives "
          "a power loss) or normal (about 3x the write rate; a power loss or kernel crash may lose the last "
          "acknowledged writes, a killed process loses nothing)", "storage.sqlite.synchronous", SQLITE_SYNCHRONOUS,
          metavar="MODE"),
    _Spec("postgres_host", "host", "storage", "PostgreSQL host", "storage.postgresql.host", metavar="HOST"),
    _Spec("postgres_port", int, "storage", "PostgreSQL port", "storage.postgresql.port", minimum=1, maximum=65535,
          metavar="PORT"),
    _Spec("postgres_db", str, "storage", "PostgreSQL database name", "storage.postgresql.database", metavar="NAME"),
    _Spec("postgres_user", str, "storage", "PostgreSQL user", "storage.postgresql.username", metavar="USER"),
    _Spec("postgres_password", "secret", "storage", "PostgreSQL password (prefer the env var or the config file)",
          "storage.postgresql.password", metavar="PASSWORD"),
    _Spec("postgres_sslmode", "choice", "storage", "PostgreSQL sslmode", "storage.postgresql.sslMode", SSL_MODES,
          metavar="MODE"),
    _Spec("postgres_pool_size", int, "storage", "PostgreSQL connections kept per worker",
          "storage.postgresql.poolSize", minimum=1, metavar="N"),
    _Spec("postgres_max_overflow", int, "storage", "extra PostgreSQL connections per worker under load",
          "storage.postgresql.maxOverflow", minimum=0, metavar="N"),
    _Spec("postgres_connect_timeout", int, "storage", "seconds to wait for a PostgreSQL connection",
          "storage.postgresql.connectTimeout", minimum=1, metavar="SECONDS"),
    _Spec("bind_address", "host", "server", "address to listen on", "server.bindAddress", metavar="ADDRESS"),
    _Spec("secure_port", int, "server", "HTTPS port", "server.securePort", minimum=1, maximum=65535, metavar="PORT"),
    _Spec("cert_dir", "path", "server", "directory for the generated CA and serving certificate",
          "server.certDir", metavar="DIR"),
    _Spec("tls_cert_file", "optpath", "server", "serving certificate (PEM); instead of generating one",
          "server.tlsCertFile", metavar="FILE"),
    _Spec("tls_private_key_file", "optpath", "server", "serving certificate's private key (PEM)",
          "server.tlsPrivateKeyFile", metavar="FILE"),
    _Spec("tls_sans", "sans", "server", "extra subject alternative name for the generated certificate "
          "(IP or DNS name; repeatable)", "server.tlsSANs", env_name="ARK_TLS_SAN", flag_name="--tls-san",
          metavar="NAME"),
    _Spec("workers", int, "server", "gunicorn worker processes", "server.workers", minimum=1, metavar="N"),
    _Spec("auth_mode", "choice", "server", "authentication and authorization: delegated to the cluster's API "
          "(the default in a pod with a service account) or off (loopback only)", "server.authMode", AUTH_MODES,
          metavar="MODE"),
    _Spec("insecure_allow_any_address", "bool", "server", "allow --auth-mode off on a non-loopback --bind-address",
          "server.insecureAllowAnyAddress", metavar="BOOL"),
    _Spec("kubeconfig_out", "optpath", "server", "write a kubeconfig for this server to FILE at start",
          "server.kubeconfigOut", metavar="FILE"),
    _Spec("max_body_bytes", int, "server", "largest request body accepted", "server.maxBodyBytes", minimum=1,
          metavar="BYTES"),
    _Spec("max_object_bytes", int, "server", "largest object stored, once encoded (etcd's --max-request-bytes)",
          "server.maxObjectBytes", minimum=1, metavar="BYTES"),
    _Spec("request_timeout", "duration", "server", "a request other than a watch must complete within this, "
          "its body included (kube-apiserver's --request-timeout)", "server.requestTimeout", positive=True,
          metavar="SECONDS"),
    _Spec("event_ttl", "duration", "server", "how long a core Event is kept after its last write, in standalone "
          "mode (kube-apiserver's --event-ttl)", "server.eventTTL", positive=True, metavar="SECONDS"),
    _Spec("read_header_timeout", "duration", "server", "a connection is closed when its TLS handshake or request "
          "head takes longer, or its body sends nothing for as long", "server.readHeaderTimeout", positive=True,
          metavar="SECONDS"),
    _Spec("max_watches", int, "watch", "open watches per worker process; one more is answered 429 with "
          "Retry-After", "watch.maxWatches", minimum=1, metavar="N"),
    _Spec("log_level", "choice", "server", "log level (requests are logged at info, health probes at debug)",
          "server.logLevel", LOG_LEVELS, metavar="LEVEL"),
    _Spec("log_format", "choice", "server", "log lines as text, or as JSON objects (one a line, one per request)",
          "server.logFormat", LOG_FORMATS, metavar="FORMAT"),
    _Spec("authentication_kubeconfig", "optpath", "authentication", "kubeconfig of the cluster's API for "
          "TokenReviews, the authentication ConfigMap and namespaces (default: the in-cluster service account)",
          "authentication.kubeconfig", metavar="FILE"),
    _Spec("authentication_token_webhook_cache_ttl", "duration", "authentication", "how long TokenReview answers "
          "are cached", "authentication.tokenWebhookCacheTTL", minimum=0, metavar="SECONDS"),
    _Spec("client_ca_file", "optpath", "authentication", "CA bundle for client certificates (user = CN, groups = "
          "O); default: client-ca-file of kube-system/extension-apiserver-authentication",
          "authentication.clientCAFile", metavar="FILE"),
    _Spec("requestheader_client_ca_file", "optpath", "authentication", "CA bundle of the front proxy "
          "(kube-apiserver); given, the --requestheader-* flags replace the ConfigMap's front-proxy settings",
          "authentication.requestHeader.clientCAFile", metavar="FILE"),
    _Spec("requestheader_allowed_names", "list", "authentication", "front-proxy certificate CNs trusted to set the "
          "user headers (empty: any CN from the front-proxy CA)", "authentication.requestHeader.allowedNames",
          metavar="NAMES"),
    _Spec("requestheader_username_headers", "headers", "authentication", "headers carrying the user name",
          "authentication.requestHeader.usernameHeaders", metavar="HEADERS"),
    _Spec("requestheader_uid_headers", "headers", "authentication", "headers carrying the user's UID",
          "authentication.requestHeader.uidHeaders", metavar="HEADERS"),
    _Spec("requestheader_group_headers", "headers", "authentication", "headers carrying the user's groups",
          "authentication.requestHeader.groupHeaders", metavar="HEADERS"),
    _Spec("requestheader_extra_headers_prefix", "headers", "authentication", "header prefixes carrying the user's "
          "extra attributes", "authentication.requestHeader.extraHeadersPrefix", metavar="PREFIXES"),
    _Spec("authorization_kubeconfig", "optpath", "authorization", "kubeconfig of the cluster's API for "
          "SubjectAccessReviews (default: the in-cluster service account)", "authorization.kubeconfig",
          metavar="FILE"),
    _Spec("authorization_always_allow_paths", "paths", "authorization", "paths allowed without a "
          "SubjectAccessReview (a trailing * matches a prefix)", "authorization.alwaysAllowPaths", metavar="PATHS"),
    _Spec("authorization_webhook_cache_authorized_ttl", "duration", "authorization", "how long allowed "
          "SubjectAccessReview answers are cached", "authorization.webhookCacheAuthorizedTTL", minimum=0,
          metavar="SECONDS"),
    _Spec("authorization_webhook_cache_unauthorized_ttl", "duration", "authorization", "how long denied "
          "SubjectAccessReview answers are cached", "authorization.webhookCacheUnauthorizedTTL", minimum=0,
          metavar="SECONDS"),
    _Spec("audit_log_path", "optpath", "audit", "write audit events (audit.k8s.io/v1 JSON lines, level Metadata) "
          "to FILE; - for stdout", "audit.logPath", metavar="FILE"),
    _Spec("audit_log_maxsize", int, "audit", "megabytes an audit log file reaches before it is rotated",
          "audit.logMaxSize", minimum=1, metavar="MB"),
    _Spec("audit_log_maxbackup", int, "audit", "rotated audit log files kept (0: all)", "audit.logMaxBackup",
          minimum=0, metavar="N"),
    _Spec("admission_references", "choice", "admission", "a reference to a missing Ark object (a Query's "
          "target, a Team's members...) is refused, or only warned about", "admission.references",
          ADMISSION_REFERENCES, metavar="MODE"),
    _Spec("model_allowed_private_ranges", "cidrs", "admission", "private network a Model's base URL may point "
          "into (CIDR; repeatable; loopback and link-local stay refused)", "admission.modelAllowedPrivateRanges",
          metavar="CIDR"),
    _Spec("model_allowed_domains", "domains", "admission", "when given, a Model's base URL must be on one of "
          "these domains (*.example.com matches example.com and its subdomains; repeatable)",
          "admission.modelAllowedDomains", metavar="DOMAIN"),
    _Spec("watch_poll_interval", "duration", "watch", "how often each process polls the change log on SQLite "
          "(PostgreSQL: LISTEN/NOTIFY)", "watch.pollInterval", positive=True, metavar="SECONDS"),
    _Spec("bookmark_interval", "duration", "watch", "interval between BOOKMARK events on watches",
          "watch.bookmarkInterval", positive=True, metavar="SECONDS"),
    _Spec("history_retention", "duration", "watch", "how long change history is kept for watch resumption",
          "watch.historyRetention", positive=True, metavar="SECONDS"),
    _Spec("history_min_revisions", int, "watch", "change history entries always kept",
          "watch.historyMinRevisions", minimum=0, metavar="N"),
    _Spec("history_compaction_interval", "duration", "watch", "how often each process trims change history older "
          "than the retention", "watch.historyCompactionInterval", positive=True, metavar="SECONDS"),
    _Spec("watch_queue_size", int, "watch", "events buffered per watcher before it is closed",
          "watch.queueSize", minimum=1, metavar="N"),
    _Spec("watch_timeout", "duration", "watch", "a watch without timeoutSeconds ends after 1 to 2 times this "
          "(kube-apiserver's --min-request-timeout)", "watch.timeout", positive=True, metavar="SECONDS"),
    _Spec("watch_overflow_grace", "duration", "watch", "seconds a watcher that fell behind has to read its 410 "
          "before its connection is closed", "watch.overflowGrace", positive=True, metavar="SECONDS"),
)
_BY_NAME = {spec.name: spec for spec in _SPECS}
_BY_YAML = {spec.yaml: spec for spec in _SPECS if spec.yaml}
assert set(_BY_NAME) == {f.name for f in dataclasses.fields(Settings)}, "every Settings field needs a _Spec"

_LIST_KINDS = ("sans", "list", "headers", "paths", "cidrs", "domains")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "h": 3600.0}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise ConfigError(message)


def _format_default(spec: _Spec) -> str:
    default = next(f.default for f in dataclasses.fields(Settings) if f.name == spec.name)
    if spec.name == "postgres_password" or default in (None, (), False):
        return ""
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default)


def _quote(raw: Any) -> str:
    return '"' + str(raw).replace('"', '\\"') + '"' if isinstance(raw, str) else repr(raw)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _parse(spec: _Spec, raw: Any, source: str) -> Any:
    """A raw value (a string from env/flags, or a YAML scalar/list) to the field's type."""
    kind = spec.kind

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: must be {expected}, got {_quote(raw)}")

    if kind is int:
        if isinstance(raw, bool):
            raise bad("an integer")
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise bad("an integer") from None
    if kind == "duration":
        if isinstance(raw, bool):
            raise bad("a duration in seconds (e.g. 0.5, 60, 250ms, 15m)")
        if isinstance(raw, (int, float)):
            return float(raw)
        match = _DURATION.match(str(raw))
        if not match:
            raise bad("a duration in seconds (e.g. 0.5, 60, 250ms, 15m)")
        return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if kind in _LIST_KINDS:
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        values = tuple(value for value in (str(item).strip() for item in items) if value)
        if kind == "sans":
            return tuple(san[1:-1] if san.startswith("[") and san.endswith("]") else san for san in values)
        if kind == "domains":
            return tuple(domain.lower() for domain in values)
        return values
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise bad("true or false")
    if kind == "optpath":
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        return str(raw).strip()
    if isinstance(raw, (dict, list, tuple)) or raw is None:
        raise bad("a single value")
    value = str(raw)
    if kind in ("choice", "host"):
        value = value.strip()
    if kind == "choice":
        value = value.lower()
    if kind == "host" and value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return value


def _check(spec: _Spec, value: Any, source: str) -> None:
    def fail(expected: str) -> None:
        raise ConfigError(f"{source}: must be {expected}, got {_quote(value)}")

    kind = spec.kind
    if kind in (int, "duration"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            fail("a number")
        if spec.minimum is not None and spec.maximum is not None and not spec.minimum <= value <= spec.maximum:
            fail(f"between {spec.minimum} and {spec.maximum}")
        if spec.minimum is not None and value < spec.minimum:
            fail(f"at least {spec.minimum}")
        if spec.positive and not value > 0:
            fail("greater than 0")
    elif kind == "choice":
        if value not in spec.choices:
            expected = (" or ".join(spec.choices) if len(spec.choices) <= 2
                        else "one of " + ", ".join(spec.choices))
            if len(spec.choices) == 1:
                expected = spec.choices[0]
            fail(expected)
    elif kind == "host":
        if not isinstance(value, str) or not _is_host(value):
            fail("an IP address or host name")
    elif kind == "path":
        if not isinstance(value, str) or not value.strip():
            fail("a non-empty path")
    elif kind == "optpath":
        if value is not None and (not isinstance(value, str) or not value.strip()):
            fail("a non-empty path")
    elif kind == "sans":
        for san in value:
            if not isinstance(san, str) or not _is_host(san):
                raise ConfigError(f"{source}: must be IP addresses or DNS names, got {_quote(san)}")
    elif kind == "headers":
        for header in value:
            if not _HEADER_NAME.match(header):
                raise ConfigError(f"{source}: must be HTTP header names, got {_quote(header)}")
    elif kind == "paths":
        for path in value:
            if not path.startswith("/"):
                raise ConfigError(f"{source}: must be paths starting with /, got {_quote(path)}")
    elif kind == "bool" and not isinstance(value, bool):
        fail("true or false")
    elif kind == "cidrs":
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"{source}: must be IP networks such as 10.100.0.0/16, got {_quote(cidr)}") from None
    elif kind == "domains":
        for domain in value:
            if not _is_domain_pattern(domain):
                raise ConfigError(f"{source}: must be domains such as api.openai.com or *.example.com, "
                                  f"got {_quote(domain)}")
    elif kind is str:
        if not isinstance(value, str) or not value.strip():
            fail("a non-empty string")
    elif kind == "secret" and not isinstance(value, str):
        raise ConfigError(f"{source}: must be a string")


def _parse_and_check(spec: _Spec, raw: Any, source: str) -> Any:
    value = _parse(spec, raw, source)
    _check(spec, value, source)
    return value


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(value)) or (value.startswith("*.") and bool(_HOSTNAME.match(value[2:])))


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower().rstrip(".") == "localhost" or host.lower().rstrip(".").endswith(".localhost")
def _is_domain_pattern(value: str) -> bool:
    """A domain, optionally with one ``*`` (``*.example.com``, ``llm-*.example.com``)."""
    return value.count("*") <= 1 and bool(_HOSTNAME.match(value.replace("*", "x")))


def host_port(host: str, port: int) -> str:
    """``host:port``, or ``[v6]:port``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _from_yaml_file(path: str, source: str) -> dict[str, Any]:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"config file {path}: invalid YAML{where}: {_one_line(str(problem))}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        sections = ", ".join(sorted({key.split(".")[0] for key in _BY_YAML}))
        raise ConfigError(f"config file {path}: must be a mapping with these sections: {sections}")
    values: dict[str, Any] = {}
    _walk(document, "", path, values)
    return values


def _walk(node: dict, prefix: str, path: str, values: dict[str, Any]) -> None:
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        spec = _BY_YAML.get(dotted)
        if spec is not None:
            values[spec.name] = _parse_and_check(spec, value, f"config file {path}: {dotted}")
        elif isinstance(value, dict) and any(k.startswith(dotted + ".") for k in _BY_YAML):
            _walk(value, dotted + ".", path, values)
        elif value is None and any(k.startswith(dotted + ".") for k in _BY_YAML):
            continue  # an empty section
        else:
            known = sorted({k[len(prefix):].split(".")[0] for k in _BY_YAML if k.startswith(prefix)})
            raise ConfigError(f"config file {path}: unknown key {_quote(dotted)} (known here: {', '.join(known)})")
