"""Starting securely: --auth-mode off refuses a non-loopback address; delegated mode refuses to
start without a usable cluster API, and /readyz fails (and requests get 503) until the
authentication ConfigMap is loaded."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from ark.cluster.client import ClusterError, kubeconfig_config, load_config
from ark.settings import ConfigError, Settings, in_cluster
from tests.cli.test_cli import REPO, assert_one_line_error, clean_env, run_ark
from tests.conftest import BIN
from tests.deploy.kubeapi import AUTH_CONFIGMAP, kube_api
from tests.security.conftest import GROUP_PATH, eventually, own_server

CONFIGMAPS = AUTH_CONFIGMAP.rsplit("/", 1)[0]


def test_auth_mode_off_refuses_to_listen_on_every_address(tmp_path):
    result = run_ark("serve", "--auth-mode", "off", "--bind-address", "0.0.0.0", "--cert-dir", str(tmp_path))
    line = assert_one_line_error(result)
    assert line == ("ark-apiserver: error: --bind-address 0.0.0.0 is reachable from other machines and --auth-mode "
                    "off lets anyone who reaches it read, change and delete every object: use --auth-mode delegated, "
                    "a loopback --bind-address, or --insecure-allow-any-address")
    assert not (tmp_path / "ca.crt").exists()  # refused before anything was made


def test_gunicorn_refuses_it_too(tmp_path):
    env = clean_env(ARK_AUTH_MODE="off", ARK_BIND_ADDRESS="::", ARK_CERT_DIR=str(tmp_path))
    result = subprocess.run([str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert_one_line_error(result, "--bind-address :: is reachable from other machines")


def test_the_insecure_flag_allows_it_with_a_warning():
    for loopback in ("127.0.0.1", "127.0.0.53", "::1", "localhost"):
        assert Settings(bind_address=loopback).check_bind() is None
    warning = Settings(bind_address="0.0.0.0", insecure_allow_any_address=True).check_bind()
    assert warning == ("--auth-mode off on 0.0.0.0 (--insecure-allow-any-address): anyone who can reach this "
                       "address can read, change and delete every object")
    assert Settings(auth_mode="delegated", bind_address="0.0.0.0").check_bind() is None


def test_delegated_is_the_default_only_with_a_service_account(tmp_path):
    assert Settings.load([], env={}).auth_mode == "off"
    account = tmp_path / "serviceaccount"
    account.mkdir()
    assert not in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, str(account))
    (account / "token").write_text("a-token\n")
    assert in_cluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, str(account))
    assert not in_cluster({}, str(account))
    config = load_config(None, "--authentication-kubeconfig", {"KUBERNETES_SERVICE_HOST": "fd00::1",
                                                              "KUBERNETES_SERVICE_PORT": "6443"}, str(account))
    assert (config.server, config.token_file, config.ca_file) == ("https://[fd00::1]:6443", str(account / "token"),
                                                                 None)


def test_delegated_without_a_cluster_refuses_to_start(tmp_path):
    result = run_ark("serve", "--auth-mode", "delegated", "--cert-dir", str(tmp_path), env=clean_env())
    assert_one_line_error(result, "--auth-mode delegated needs the cluster's API: no in-cluster service account",
                          "give --authentication-kubeconfig")


@pytest.mark.parametrize(("user", "message"), [
    ({"exec": {"command": "aws"}}, "user credentials by exec are not supported"),
    ({"token": "t"}, "the cluster's server must be an https:// URL"),
])
def test_kubeconfigs_the_server_cannot_use_are_one_line(tmp_path, user, message):
    server = "http://127.0.0.1:1" if "token" in user else "https://127.0.0.1:1"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": server}}], "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}))
    with pytest.raises(ConfigError, match=message):
        kubeconfig_config(str(kubeconfig), "--authentication-kubeconfig")
    result = run_ark("serve", "--auth-mode", "delegated", "--authentication-kubeconfig", str(kubeconfig),
                     "--cert-dir", str(tmp_path / "certs"))
    assert_one_line_error(result, f"--authentication-kubeconfig {kubeconfig}: {message}")


def test_unreadable_ca_files_are_one_line(tmp_path):
    with kube_api(tmp_path) as cluster:
        kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", token=cluster.server_token)
        delegation = ("--auth-mode", "delegated", "--authentication-kubeconfig", str(kubeconfig),
                      "--authorization-kubeconfig", str(kubeconfig))
        missing = run_ark("serve", *delegation, "--client-ca-file", str(tmp_path / "nope.crt"),
                          "--cert-dir", str(tmp_path / "certs"))
        assert_one_line_error(missing, f"--client-ca-file: cannot read {tmp_path / 'nope.crt'}: No such file")
        (tmp_path / "bad.crt").write_text("not a certificate")
        bad = run_ark("serve", *delegation, "--requestheader-client-ca-file", str(tmp_path / "bad.crt"),
                      "--cert-dir", str(tmp_path / "c"))
        assert_one_line_error(bad, f"--requestheader-client-ca-file {tmp_path / 'bad.crt'}: not a PEM bundle")


def test_not_ready_until_the_authentication_configmap_is_loaded(tmp_path, pki):
    def refuse(cluster):
        cluster.fail(CONFIGMAPS, *[403] * 50)  # the server lacks its RBAC until the test grants it

    with own_server(tmp_path, pki, workers=1, prepare=refuse, wait=False) as delegated:
        session = delegated.session()

        def answers(path: str):
            try:
                return session.get(delegated.url(path), timeout=5)
            except OSError:
                return None  # not listening yet: the worker waits a few seconds for the ConfigMap first

        (not_ready,) = eventually(lambda: (answer := answers("/readyz?verbose")) is not None and (answer,),
                                  "the server listening", attempts=400)
        assert not_ready.status_code == 500
        assert "[-]authentication-configuration failed: reason withheld" in not_ready.text
        assert answers("/livez").text == "ok"
        refused = answers(GROUP_PATH)
        assert refused.status_code == 503
        assert refused.json()["message"].startswith(
            "the server is not ready yet: ConfigMap kube-system/extension-apiserver-authentication is not loaded yet: "
            f"GET {delegated.cluster.url}{CONFIGMAPS}: 403 Forbidden")
        assert "/readyz fails and requests are answered 503 until it is" in delegated.server.log.read_text()
        with delegated.cluster.lock:
            delegated.cluster.failures[CONFIGMAPS].clear()  # RBAC granted
        assert eventually(lambda: answers("/readyz").ok, "ready once the ConfigMap is read", attempts=800)
        assert answers(GROUP_PATH).status_code == 403  # served now: anonymous may not read it


def test_cluster_errors_name_the_call_and_the_reason(tmp_path):
    from ark.cluster.client import ClusterClient

    with kube_api(tmp_path) as cluster:
        client = ClusterClient(lambda: kubeconfig_config(str(cluster.kubeconfig(tmp_path / "k", token="wrong")), "x"))
        with pytest.raises(ClusterError) as refused:
            client.create("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {"token": "t"}})
        assert str(refused.value) == (f"POST {cluster.url}/apis/authentication.k8s.io/v1/tokenreviews: "
                                      "401 Unauthorized: Unauthorized")
        assert refused.value.code == 401 and not refused.value.retryable
    dead = ClusterClient(lambda: kubeconfig_config(str(cluster.kubeconfig(tmp_path / "k2")), "x"), timeout=2)
    with pytest.raises(ClusterError, match="Connection refused"):
        dead.get("/api/v1/namespaces/default")
