"""The serving certificate, and a kubeconfig that trusts it.

With ``--tls-cert-file``/``--tls-private-key-file`` those files are used as they are. Otherwise
``cert_dir`` holds a self-signed CA (``ca.crt``/``ca.key``, 10 years) and a serving certificate
signed by it (``apiserver.crt``/``apiserver.key``, 1 year, RSA 2048, SHA-256) whose SANs are
``DNS:localhost, IP:127.0.0.1, IP:::1``, the bind address when it is a specific one, and every
``--tls-san``. Both are made once and reused on restart while they still verify, cover the wanted
SANs and do not expire within 30 days; a new serving certificate is signed by the same CA, so
kubeconfigs already handed out keep working.

pyOpenSSL 26 no longer builds X.509 extensions (X509Extension/X509Req are gone), so certificates
are built with ``cryptography`` (which pyOpenSSL is built on) and checked with pyOpenSSL's
X509Store, the same verification OpenSSL does for a TLS client.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import crypto

from ark.settings import ConfigError

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVING_CERT = "apiserver.crt"
SERVING_KEY = "apiserver.key"
DEFAULT_SANS = ("localhost", "127.0.0.1", "::1")
RENEW_BEFORE = dt.timedelta(days=30)
SERVING_VALIDITY = dt.timedelta(days=365)
CA_VALIDITY = dt.timedelta(days=3650)
KEY_SIZE = 2048


class ServingCert(NamedTuple):
    cert_file: str
    key_file: str
    ca_file: str


def ensure_serving_cert(settings) -> ServingCert:
    """The certificate gunicorn serves; generated in ``settings.cert_dir`` unless files were given."""
    if settings.tls_cert_file:
        return _given_cert(settings.tls_cert_file, settings.tls_private_key_file)
    cert_dir = Path(settings.cert_dir).expanduser().resolve()
    try:
        cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"--cert-dir: cannot create {cert_dir}: {exc.strerror or exc}") from None
    sans = wanted_sans(settings)
    with _locked(cert_dir):
        ca_cert, ca_key = _ensure_ca(cert_dir)
        _ensure_serving(cert_dir, ca_cert, ca_key, sans)
    return ServingCert(str(cert_dir / SERVING_CERT), str(cert_dir / SERVING_KEY), str(cert_dir / CA_CERT))


def serving_files(settings) -> tuple[str, str]:
    """The certificate and key files served (given, or made in ``cert_dir`` by ensure_serving_cert)."""
    if settings.tls_cert_file:
        return settings.tls_cert_file, settings.tls_private_key_file
    cert_dir = Path(settings.cert_dir).expanduser().resolve()
    return str(cert_dir / SERVING_CERT), str(cert_dir / SERVING_KEY)


def wanted_sans(settings) -> tuple[str, ...]:
    """The SANs the serving certificate must cover, defaults first, without duplicates."""
    names = list(DEFAULT_SANS)
    if settings.bind_address not in ("0.0.0.0", "::", ""):  # noqa: S104 - recognising wildcards, not binding
        names.append(settings.bind_address)
    names.extend(settings.tls_sans)
    out: list[str] = []
    for name in names:
        key = _normalize_san(name)
        if key not in out:
            out.append(key)
    return tuple(out)


def write_kubeconfig(path, server_url: str, ca_file, placeholder_token: bool = True) -> None:
    """A kubeconfig (cluster/context/user "ark") embedding the CA.

    With auth mode off the token is a placeholder the server ignores (kubectl wants some
    credential); in delegated mode there is none: add your own, or go through kube-apiserver.
    """
    ca_data = base64.b64encode(Path(ca_file).read_bytes()).decode("ascii")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ark", "cluster": {"server": server_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": "ark", "user": {"token": "ark-auth-mode-off"} if placeholder_token else {}}],
        "contexts": [{"name": "ark", "context": {"cluster": "ark", "user": "ark"}}],
        "current-context": "ark",
        "preferences": {},
    }
    _write_atomic(Path(path), yaml.safe_dump(config, sort_keys=False).encode("utf-8"), 0o600)


# --------------------------------------------------------------------------------- internals
def _given_cert(cert_file: str, key_file: str) -> ServingCert:
    try:
        cert = crypto.load_certificate(crypto.FILETYPE_PEM, Path(cert_file).read_bytes())
    except OSError as exc:
        raise ConfigError(f"--tls-cert-file: cannot read {cert_file}: {exc.strerror or exc}") from None
    except crypto.Error:
        raise ConfigError(f"--tls-cert-file: {cert_file} is not a PEM certificate") from None
    try:
        key = crypto.load_privatekey(crypto.FILETYPE_PEM, Path(key_file).read_bytes())
    except OSError as exc:
        raise ConfigError(f"--tls-private-key-file: cannot read {key_file}: {exc.strerror or exc}") from None
    except crypto.Error:
        raise ConfigError(f"--tls-private-key-file: {key_file} is not an unencrypted PEM private key") from None
    if not _key_matches(cert.to_cryptography(), key.to_cryptography_key()):
        raise ConfigError(f"--tls-private-key-file: {key_file} is not the key of {cert_file}")
    return ServingCert(str(cert_file), str(key_file), str(cert_file))


def _ensure_ca(cert_dir: Path):
    loaded = _load_pair(cert_dir / CA_CERT, cert_dir / CA_KEY)
    if loaded is not None:
        cert, key = loaded
        constraints = _extension(cert, x509.BasicConstraints)
        if constraints is not None and constraints.ca and not _expires_soon(cert):
            return cert, key
    key = _new_key()
    now = _now()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ark-apiserver-ca@{int(now.timestamp())}")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_pair(cert_dir / CA_CERT, cert_dir / CA_KEY, cert, key)
    # A new CA makes any serving certificate signed by the old one useless.
    with contextlib.suppress(FileNotFoundError):
        (cert_dir / SERVING_CERT).unlink()
    return cert, key


def _ensure_serving(cert_dir: Path, ca_cert, ca_key, sans: tuple[str, ...]) -> None:
    loaded = _load_pair(cert_dir / SERVING_CERT, cert_dir / SERVING_KEY)
    if loaded is not None:
        cert, _key = loaded
        if not _expires_soon(cert) and set(sans) <= _cert_sans(cert) and _verifies(cert, ca_cert):
            return
    key = _new_key()
    now = _now()
    alt_names = [
        x509.IPAddress(ipaddress.ip_address(san)) if _is_ip(san) else x509.DNSName(san) for san in sans
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ark-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + SERVING_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(cert_dir / SERVING_CERT, cert_dir / SERVING_KEY, cert, key)


def _key_usage(digital_signature=False, key_encipherment=False, key_cert_sign=False, crl_sign=False):
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expires_soon(cert) -> bool:
    now = _now()
    return cert.not_valid_after_utc - RENEW_BEFORE <= now or cert.not_valid_before_utc > now + dt.timedelta(hours=1)


def _extension(cert, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _cert_sans(cert) -> set[str]:
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return set()
    return {_normalize_san(str(ip)) for ip in san.get_values_for_type(x509.IPAddress)} | {
        _normalize_san(name) for name in san.get_values_for_type(x509.DNSName)
    }


def _verifies(cert, ca_cert) -> bool:
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(ca_cert))
    try:
        crypto.X509StoreContext(store, crypto.X509.from_cryptography(cert)).verify_certificate()
    except crypto.X509StoreContextError:
        return False
    return True


def _key_matches(cert, key) -> bool:
    der = serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(serialization.Encoding.DER, der) == key.public_key().public_bytes(
        serialization.Encoding.DER, der
    )


def _load_pair(cert_path: Path, key_path: Path):
    """The (certificate, key) in these files, or None if either is missing, unreadable or they don't match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, rsa.RSAPrivateKey) or not _key_matches(cert, key):
        return None
    if key_path.stat().st_mode & 0o077:
        os.chmod(key_path, 0o600)
    return cert, key


def _write_pair(cert_path: Path, key_path: Path, cert, key) -> None:
    # The key first: a crash in between leaves a certificate/key mismatch, which is regenerated.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    _write_atomic(key_path, key_pem, 0o600)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(cert_dir: Path):
    """One process at a time creates certificates in a directory (servers started side by side)."""
    with open(cert_dir / ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _normalize_san(value: str) -> str:
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if _is_ip(value):
        return str(ipaddress.ip_address(value))
    return value.lower().rstrip(".")
