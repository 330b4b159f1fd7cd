"""The security parts on their own: settings, the review cache, the ConfigMap's format, the
front-proxy headers, impersonation's rules, the audit log's rotation and kubeconfig reading."""
from __future__ import annotations

import base64
import json
import time

import gevent
import pytest
import yaml

from ark.cluster.client import kubeconfig_config
from ark.machinery.errors import ApiError
from ark.security.audit import AuditLog, new_audit_id
from ark.security.authconfig import CABundle, parse_configmap
from ark.security.authn import ANONYMOUS_USER, UserInfo, bearer_token, user_from_headers
from ark.security.cache import ExpiringCache
from ark.security.impersonation import impersonate
from ark.settings import ConfigError, Settings
from tests.deploy.kubeapi import auth_configmap


def test_the_security_settings_have_flags_env_and_yaml_keys(tmp_path):
    config = tmp_path / "ark.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"authMode": "delegated", "insecureAllowAnyAddress": True},
        "authentication": {"kubeconfig": "/k", "clientCAFile": "/ca", "tokenWebhookCacheTTL": "30s",
                           "requestHeader": {"clientCAFile": "/fp", "allowedNames": ["front-proxy-client"],
                                             "usernameHeaders": ["X-User"], "uidHeaders": ["X-Uid"],
                                             "groupHeaders": ["X-Group"], "extraHeadersPrefix": ["X-Extra-"]}},
        "authorization": {"kubeconfig": "/z", "alwaysAllowPaths": ["/healthz", "/metrics*"],
                          "webhookCacheAuthorizedTTL": "1m", "webhookCacheUnauthorizedTTL": 5},
        "audit": {"logPath": "-", "logMaxSize": 10, "logMaxBackup": 3},
    }))
    settings = Settings.load(["--config", str(config), "--requestheader-allowed-names", "a,b",
                              "--requestheader-allowed-names", "c"], env={"ARK_AUDIT_LOG_MAXBACKUP": "4"})
    assert (settings.auth_mode, settings.insecure_allow_any_address) == ("delegated", True)
    assert (settings.authentication_kubeconfig, settings.authorization_kubeconfig) == ("/k", "/z")
    assert (settings.client_ca_file, settings.requestheader_client_ca_file) == ("/ca", "/fp")
    assert settings.requestheader_allowed_names == ("a", "b", "c")  # flags, repeated and comma separated
    assert settings.requestheader_username_headers == ("X-User",)
    assert settings.requestheader_extra_headers_prefix == ("X-Extra-",)
    assert settings.authorization_always_allow_paths == ("/healthz", "/metrics*")
    assert (settings.authentication_token_webhook_cache_ttl, settings.authorization_webhook_cache_authorized_ttl,
            settings.authorization_webhook_cache_unauthorized_ttl) == (30, 60, 5)
    assert (settings.audit_log_path, settings.audit_log_maxsize, settings.audit_log_maxbackup) == ("-", 10, 4)
    assert Settings.load(env=settings.to_env()) == settings
    defaults = Settings()
    assert defaults.requestheader_username_headers == ("X-Remote-User",)
    assert defaults.requestheader_uid_headers == ()  # as k8s.io/apiserver: UID headers are not trusted by default
    assert defaults.authorization_always_allow_paths == ("/healthz", "/readyz", "/livez")


@pytest.mark.parametrize(("argv", "message"), [
    (["--requestheader-group-headers", "X Group"], '--requestheader-group-headers: must be HTTP header names, got '
                                                   '"X Group"'),
    (["--authorization-always-allow-paths", "healthz"], "--authorization-always-allow-paths: must be paths starting "
                                                        'with /, got "healthz"'),
    (["--insecure-allow-any-address", "maybe"], '--insecure-allow-any-address: must be true or false, got "maybe"'),
    (["--audit-log-maxsize", "0"], "--audit-log-maxsize: must be at least 1, got 0"),
])
def test_bad_security_settings_are_one_line(argv, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        Settings.load(argv, env={})


def test_the_cache_expires_bounds_and_coalesces():
    cache: ExpiringCache[str] = ExpiringCache(size=2)
    calls: list[str] = []

    def compute(key: str, ttl: float = 60.0) -> str:
        def answer() -> str:
            calls.append(key)
            gevent.sleep(0.01)
            return key.upper()
        return cache.get_or_compute(key, answer, lambda _value: ttl)

    assert [compute("a"), compute("a")] == ["A", "A"] and calls == ["a"]
    compute("short", ttl=0.05)
    time.sleep(0.1)
    compute("short", ttl=0.05)
    assert calls.count("short") == 2  # expired, asked again
    compute("b")
    compute("c")
    compute("a")  # pushed out by b and c (size 2)
    assert calls.count("a") == 2
    waiters = [gevent.spawn(compute, "together") for _ in range(5)]
    gevent.joinall(waiters, timeout=5)
    assert [w.value for w in waiters] == ["TOGETHER"] * 5 and calls.count("together") == 1
    assert compute("never", ttl=0) == "NEVER" and compute("never", ttl=0) == "NEVER"
    assert calls.count("never") == 2  # a zero TTL caches nothing


def test_a_failed_computation_is_not_cached():
    cache: ExpiringCache[int] = ExpiringCache(size=8)
    attempts = []

    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the cluster is away")
        return 7

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", flaky, lambda _v: 60)
    assert cache.get_or_compute("k", flaky, lambda _v: 60) == 7


def test_the_configmaps_entries_are_json_arrays(pki):
    configmap = auth_configmap(pki.client_ca.pem, pki.front_proxy_ca.pem, ("front-proxy-client", "other"))
    part = parse_configmap(configmap)
    assert part.client_ca is not None and part.request_header is not None
    assert part.request_header.allowed_names == ("front-proxy-client", "other")
    assert part.request_header.group_headers == ("X-Remote-Group",)
    assert parse_configmap(None).client_ca is None
    configmap["data"]["requestheader-allowed-names"] = "front-proxy-client"
    with pytest.raises(ValueError, match="requestheader-allowed-names: must be a JSON array of strings"):
        parse_configmap(configmap)
    with pytest.raises(ValueError, match="not a PEM bundle"):
        CABundle.parse(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "somewhere")


def test_front_proxy_headers_become_the_user(pki):
    config = parse_configmap(auth_configmap(None, pki.front_proxy_ca.pem)).request_header
    assert config is not None
    headers = {"x-remote-user": "alice", "x-remote-group": "a,b", "x-remote-uid": "u1",
               "x-remote-extra-acme.com%2fproject": "x,y", "x-remote-extra-": "ignored"}
    assert user_from_headers(config, headers) == UserInfo("alice", "u1", ("a", "b"), {"acme.com/project": ("x", "y")})
    assert user_from_headers(config, {"x-remote-group": "a"}) is None
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({"authorization": "Bearer "}) is None
    assert UserInfo("x").with_authenticated_group().groups == ("system:authenticated",)
    assert ANONYMOUS_USER.with_authenticated_group() == ANONYMOUS_USER


class _Allow:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def authorize(self, attributes):
        self.asked.append((attributes.resource, attributes.namespace, attributes.name))


def test_impersonation_checks_each_step_and_needs_a_user():
    authorizer = _Allow()
    user = impersonate(UserInfo("kate"), {"impersonate-user": "system:serviceaccount:ns1:builder",
                                          "impersonate-extra-scopes": "view"}, authorizer)  # type: ignore[arg-type]
    assert user == UserInfo("system:serviceaccount:ns1:builder", "",
                            ("system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"),
                            {"scopes": ("view",)})
    assert authorizer.asked == [("serviceaccounts", "ns1", "builder"), ("userextras", "", "view")]
    anonymous = impersonate(UserInfo("kate"), {"impersonate-user": "system:anonymous"}, _Allow())  # type: ignore[arg-type]
    assert anonymous.groups == ("system:unauthenticated",)
    with pytest.raises(ApiError) as refused:
        impersonate(UserInfo("kate"), {"impersonate-group": "admins"}, _Allow())  # type: ignore[arg-type]
    assert refused.value.code == 400


def test_the_audit_log_rotates_by_size_and_keeps_its_backups(tmp_path):
    path = tmp_path / "audit" / "audit.log"
    log = AuditLog(str(path), max_megabytes=1, max_backups=2)
    other_process = AuditLog(str(path), max_megabytes=1, max_backups=2)
    event = {"kind": "Event", "padding": "x" * 10_000}
    for index in range(400):  # ~4 MB: three rotations
        (log if index % 2 else other_process).write(dict(event, index=index))
    backups = sorted(path.parent.glob("audit-*.log"))
    assert len(backups) == 2
    assert all(p.stat().st_size <= 1024 * 1024 for p in [path, *backups])
    indices = [json.loads(line)["index"] for p in [*backups, path] for line in p.read_text().splitlines()]
    assert indices == sorted(indices) and indices[-1] == 399  # nothing torn, nothing out of order
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_audit_ids_from_the_proxy_are_kept_when_sane():
    assert new_audit_id("0e9b2b5d-1c3a-4a57-9b4f-7b1b2c3d4e5f") == "0e9b2b5d-1c3a-4a57-9b4f-7b1b2c3d4e5f"
    assert len(new_audit_id(None)) == 36
    assert new_audit_id("x" * 500) != "x" * 500


def test_kubeconfigs_are_read_as_client_go_reads_them(tmp_path, pki):
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(pki.client_ca.pem)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "current-context": "b",
        "contexts": [{"name": "a", "context": {"cluster": "one", "user": "u1"}},
                     {"name": "b", "context": {"cluster": "two", "user": "u2"}}],
        "clusters": [{"name": "one", "cluster": {"server": "https://a.example"}},
                     {"name": "two", "cluster": {"server": "https://10.0.0.2:6443/", "certificate-authority":
                                                 "certs/ca.crt"}}],
        "users": [{"name": "u1", "user": {"token": "x"}},
                  {"name": "u2", "user": {"client-certificate-data": base64.b64encode(pki.carol.pem).decode(),
                                          "client-key-data": base64.b64encode(
                                              pki.carol.key_file.read_bytes()).decode()}}],
    }))
    config = kubeconfig_config(str(kubeconfig), "--authentication-kubeconfig")
    assert config.server == "https://10.0.0.2:6443"
    assert config.ca_file == str(tmp_path / "certs" / "ca.crt")  # relative to the kubeconfig
    assert config.cert_data == pki.carol.pem and config.token is None
    config.ssl_context()  # the embedded client certificate loads
    kubeconfig.write_text(yaml.safe_dump({"current-context": "gone", "contexts": []}))
    with pytest.raises(ConfigError, match="no context named 'gone'"):
        kubeconfig_config(str(kubeconfig), "--authentication-kubeconfig")


def test_core_objects_for_admission_come_from_the_cluster(tmp_path):
    from ark.cluster.client import ClusterClient
    from ark.cluster.namespaces import ClusterCoreObjects
    from tests.deploy.kubeapi import kube_api

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-key", "namespace": "team-a"},
              "data": {"token": "c2VjcmV0"}}
    with kube_api(tmp_path) as cluster:
        cluster.add(secret)
        kubeconfig = str(cluster.kubeconfig(tmp_path / "kubeconfig", token=cluster.server_token))
        core = ClusterCoreObjects(ClusterClient(lambda: kubeconfig_config(kubeconfig, "--authentication-kubeconfig")))
        found = core.get("secrets", "team-a", "api-key")
        assert found is not None and found["data"] == {"token": "c2VjcmV0"}
        assert core.get("configmaps", "team-a", "missing") is None
        assert cluster.callers[-1] == f"Bearer {cluster.server_token}"
        cluster.fail("/api/v1/namespaces/team-a/services/web", 403)
        with pytest.raises(ApiError) as refused:
            core.get("services", "team-a", "web")
        assert refused.value.code == 503
        assert refused.value.message.startswith('cannot read services "web" in namespace team-a from the cluster: GET ')
        assert "403 Forbidden" in refused.value.message
