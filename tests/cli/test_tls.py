"""The generated CA and serving certificate, their reuse, and the kubeconfig that trusts them."""
from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from OpenSSL import crypto

from ark.security import tls
from ark.security.tls import ensure_serving_cert, write_kubeconfig
from ark.settings import ConfigError, Settings


def settings_for(tmp_path: Path, *argv: str) -> Settings:
    return Settings.load(["--cert-dir", str(tmp_path / "certs"), *argv], env={})


def load(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def sans_of(path: str) -> tuple[set[str], set[str]]:
    san = load(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def handshake(cert, server_hostname: str, address: str = "127.0.0.1") -> str:
    """A real TLS handshake against the serving cert, verified with the CA; returns the peer's CN."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert.cert_file, cert.key_file)
    client_ctx = ssl.create_default_context(cafile=cert.ca_file)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as listener:
        listener.bind((address, 0))
        listener.listen(1)
        errors: list[BaseException] = []

        def serve():
            try:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (OSError, ssl.SSLError) as exc:  # the client's verification failure shows up here too
                errors.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(listener.getsockname()[:2], timeout=10) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname=server_hostname) as conn:
                subject = dict(item[0] for item in conn.getpeercert()["subject"])
                conn.sendall(b"x")
                return subject["commonName"]
        finally:
            thread.join(10)


def test_generates_ca_and_serving_cert_with_sans(tmp_path):
    settings = settings_for(tmp_path, "--tls-san", "ark.example.test", "--tls-san", "127.0.0.5", "--tls-san", "fd00::5")
    cert = ensure_serving_cert(settings)
    certs = tmp_path / "certs"
    assert cert == tls.ServingCert(str(certs / "apiserver.crt"), str(certs / "apiserver.key"), str(certs / "ca.crt"))
    for name in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key"):
        assert (certs / name).is_file()

    dns, ips = sans_of(cert.cert_file)
    assert dns == {"localhost", "ark.example.test"}
    assert ips == {"127.0.0.1", "::1", "127.0.0.5", "fd00::5"}

    serving = load(cert.cert_file)
    ca = load(cert.ca_file)
    assert serving.issuer == ca.subject
    assert serving.public_key().key_size == 2048
    assert serving.signature_hash_algorithm.name == "sha256"
    validity = serving.not_valid_after_utc - serving.not_valid_before_utc
    assert dt.timedelta(days=364) < validity < dt.timedelta(days=366)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not serving.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_serving_cert_verifies_against_ca(tmp_path):
    cert = ensure_serving_cert(settings_for(tmp_path, "--tls-san", "ark.example.test"))
    store = crypto.X509Store()
    store.add_cert(crypto.load_certificate(crypto.FILETYPE_PEM, Path(cert.ca_file).read_bytes()))
    serving = crypto.load_certificate(crypto.FILETYPE_PEM, Path(cert.cert_file).read_bytes())
    crypto.X509StoreContext(store, serving).verify_certificate()  # raises if it does not verify

    for name in ("localhost", "127.0.0.1", "ark.example.test"):
        assert handshake(cert, name) == "ark-apiserver"
    if socket.has_ipv6:
        assert handshake(cert, "::1", address="::1") == "ark-apiserver"
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(cert, "other.example.test")


def test_key_files_are_private(tmp_path):
    cert = ensure_serving_cert(settings_for(tmp_path))
    for key in (cert.key_file, str(tmp_path / "certs" / "ca.key")):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_reused_on_second_call(tmp_path):
    settings = settings_for(tmp_path, "--tls-san", "ark.example.test")
    first = ensure_serving_cert(settings)
    serial = load(first.cert_file).serial_number
    ca_serial = load(first.ca_file).serial_number
    mtime = os.stat(first.cert_file).st_mtime_ns

    second = ensure_serving_cert(settings)
    assert second == first
    assert load(second.cert_file).serial_number == serial
    assert load(second.ca_file).serial_number == ca_serial
    assert os.stat(second.cert_file).st_mtime_ns == mtime
    # A subset of the SANs is still covered: no new certificate either.
    assert load(ensure_serving_cert(settings_for(tmp_path)).cert_file).serial_number == serial


def test_regenerated_for_a_new_san_with_the_same_ca(tmp_path):
    first = ensure_serving_cert(settings_for(tmp_path))
    serial = load(first.cert_file).serial_number
    ca_serial = load(first.ca_file).serial_number

    second = ensure_serving_cert(settings_for(tmp_path, "--tls-san", "new.example.test"))
    assert load(second.cert_file).serial_number != serial
    assert load(second.ca_file).serial_number == ca_serial  # kubeconfigs handed out keep working
    assert "new.example.test" in sans_of(second.cert_file)[0]
    assert handshake(second, "new.example.test") == "ark-apiserver"


def test_regenerated_when_expiring(tmp_path, monkeypatch):
    first = ensure_serving_cert(settings_for(tmp_path))
    serial = load(first.cert_file).serial_number
    monkeypatch.setattr(tls, "RENEW_BEFORE", dt.timedelta(days=400))  # the 1-year cert now "expires soon"
    second = ensure_serving_cert(settings_for(tmp_path))
    assert load(second.cert_file).serial_number != serial


def test_regenerated_when_files_are_broken(tmp_path):
    first = ensure_serving_cert(settings_for(tmp_path))
    Path(first.key_file).write_text("garbage")
    second = ensure_serving_cert(settings_for(tmp_path))
    assert handshake(second, "localhost") == "ark-apiserver"


def test_bind_address_is_covered(tmp_path):
    cert = ensure_serving_cert(settings_for(tmp_path, "--bind-address", "127.0.0.7"))
    assert "127.0.0.7" in sans_of(cert.cert_file)[1]


def test_given_cert_files_are_used_as_they_are(tmp_path):
    made = ensure_serving_cert(settings_for(tmp_path))
    given = Settings.load(["--cert-dir", str(tmp_path / "unused"), "--tls-cert-file", made.cert_file,
                           "--tls-private-key-file", made.key_file], env={})
    assert ensure_serving_cert(given) == tls.ServingCert(made.cert_file, made.key_file, made.cert_file)
    assert not (tmp_path / "unused").exists()

    wrong_key = Settings.load(["--tls-cert-file", made.cert_file, "--tls-private-key-file",
                               str(tmp_path / "certs" / "ca.key")], env={})
    with pytest.raises(ConfigError, match="is not the key of"):
        ensure_serving_cert(wrong_key)
    missing = Settings.load(["--tls-cert-file", str(tmp_path / "nope.crt"), "--tls-private-key-file",
                             made.key_file], env={})
    with pytest.raises(ConfigError, match="--tls-cert-file: cannot read"):
        ensure_serving_cert(missing)


def test_kubeconfig_embeds_the_ca(tmp_path):
    cert = ensure_serving_cert(settings_for(tmp_path))
    path = tmp_path / "out" / "kubeconfig"
    write_kubeconfig(path, "https://127.0.0.1:8443", cert.ca_file)
    config = yaml.safe_load(path.read_text())
    assert config["kind"] == "Config"
    assert config["current-context"] == "ark"
    (cluster,) = config["clusters"]
    assert cluster["name"] == "ark"
    assert cluster["cluster"]["server"] == "https://127.0.0.1:8443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == Path(cert.ca_file).read_bytes()
    assert config["contexts"] == [{"name": "ark", "context": {"cluster": "ark", "user": "ark"}}]
    (user,) = config["users"]
    assert user["name"] == "ark"
    # Auth mode is off: no real credentials (at most a placeholder token, so kubectl never prompts).
    assert not {"client-certificate-data", "client-key-data", "username", "password"} & set(user["user"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def _kubectl() -> str | None:
    return shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


@pytest.mark.skipif(_kubectl() is None, reason="kubectl not installed")
def test_kubectl_verifies_the_server_with_the_kubeconfig(tmp_path):
    """kubectl, given only the kubeconfig, trusts a server presenting the generated certificate."""
    cert = ensure_serving_cert(settings_for(tmp_path))
    version = {"major": "1", "minor": "30", "gitVersion": "v1.30.0-ark", "platform": "linux/amd64"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(version).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        kubeconfig = tmp_path / "kubeconfig"
        for host in ("127.0.0.1", "localhost"):
            write_kubeconfig(kubeconfig, f"https://{host}:{port}", cert.ca_file)
            result = subprocess.run([_kubectl(), "--kubeconfig", str(kubeconfig), "get", "--raw", "/version"],
                                    capture_output=True, text=True, timeout=60, check=False,
                                    env={**os.environ, "KUBECONFIG": str(kubeconfig)})
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["gitVersion"] == "v1.30.0-ark"

        # A kubeconfig with some other CA is refused: the verification is real.
        other = ensure_serving_cert(Settings.load(["--cert-dir", str(tmp_path / "other")], env={}))
        write_kubeconfig(kubeconfig, f"https://127.0.0.1:{port}", other.ca_file)
        result = subprocess.run([_kubectl(), "--kubeconfig", str(kubeconfig), "get", "--raw", "/version"],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode != 0
        assert "x509: certificate signed by unknown authority" in result.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_san_normalization():
    assert tls.wanted_sans(Settings(tls_sans=("LOCALHOST", "0:0:0:0:0:0:0:1", "[fd00::1]", "Ark.Test."))) == (
        "localhost", "127.0.0.1", "::1", "fd00::1", "ark.test")
    assert ipaddress.ip_address(tls.wanted_sans(Settings(bind_address="::1"))[2]) == ipaddress.ip_address("::1")
