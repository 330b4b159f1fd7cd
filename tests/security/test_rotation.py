"""What the server trusts and serves changes under it, without a restart: a new client CA in the
authentication ConfigMap, CA files given by flags rewritten, the serving certificate rotated on
disk (as a Secret volume swaps it) — while open watches go on."""
from __future__ import annotations

import json
import os
import socket
import ssl
from pathlib import Path

import requests
from cryptography import x509

from tests.deploy.kubeapi import AUTH_CONFIGMAP, auth_configmap
from tests.security.conftest import FRONT_PROXY_CN, eventually, own_server
from tests.security.pki import CA, Pair
from tests.security.test_authentication import QUERY, queries


def served_serial(url: str, ca_file: str) -> int:
    """The serial number of the certificate a new connection to ``url`` is served."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def handshake_refused(delegated, cert: Pair) -> bool:
    try:
        delegated.session(cert=cert).get(delegated.url("/livez"), timeout=10)
    except requests.exceptions.SSLError:
        return True
    return False


def test_a_new_client_ca_in_the_configmap_is_picked_up(sqlite_delegated, tmp_path):
    delegated = sqlite_delegated
    new_ca = CA(tmp_path / "pki2", "client-ca-2")
    dave = new_ca.issue("dave", "dave", ("ops",))
    delegated.policy.allowed.update({"dave", "carol"})
    namespace = delegated.namespace()
    assert handshake_refused(delegated, dave)
    assert delegated.session(cert=delegated.pki.carol).get(delegated.url(queries(namespace)),
                                                           timeout=10).status_code == 200

    delegated.cluster.add(auth_configmap(new_ca.pem, delegated.pki.front_proxy_ca.pem, (FRONT_PROXY_CN,)))

    def dave_lists() -> requests.Response | None:
        try:
            return delegated.session(cert=dave).get(delegated.url(queries(namespace)), timeout=10)
        except requests.exceptions.SSLError:
            return None

    assert eventually(dave_lists, "the new client CA trusted").status_code == 200
    review = next(r for r in reversed(delegated.cluster.access_reviews) if r["user"] == "dave")
    assert review["groups"] == ["ops", "system:authenticated"]
    # The old CA is gone from the ConfigMap: carol's certificate no longer opens a connection.
    assert eventually(lambda: handshake_refused(delegated, delegated.pki.carol), "the old client CA dropped")
    # The server learnt it from its watch of the ConfigMap, not by asking again and again.
    watches = [q for q in delegated.cluster.queries if q.startswith(AUTH_CONFIGMAP.rsplit("/", 1)[0] + "?")
               and "watch=1" in q]
    assert watches and all("fieldSelector=metadata.name%3Dextension-apiserver-authentication" in q for q in watches)


def test_ca_files_given_by_flags_replace_the_configmap_and_are_reread(tmp_path, pki):
    client_ca_file = tmp_path / "client-ca.crt"
    client_ca_file.write_bytes(pki.client_ca.pem)
    flags = ("--client-ca-file", str(client_ca_file), "--requestheader-client-ca-file", pki.front_proxy_ca.cert_file,
             "--requestheader-allowed-names", FRONT_PROXY_CN)
    with own_server(tmp_path, pki, *flags) as delegated:
        delegated.policy.allowed.update({"carol", "erik"})
        namespace = delegated.namespace()
        assert delegated.session(cert=pki.carol).get(delegated.url(queries(namespace)), timeout=10).status_code == 200
        erik = delegated.actor("erik")
        proxied = delegated.session(cert=pki.front_proxy).get(delegated.url(queries(namespace)), timeout=10,
                                                              headers={"X-Remote-User": erik.name})
        assert proxied.status_code == 200
        assert erik.reviews("list")
        # Both CAs came from flags: the ConfigMap was never read.
        assert not [q for q in delegated.cluster.queries if "configmaps" in q]

        new_ca = CA(tmp_path / "pki2", "client-ca-3")
        other = new_ca.issue("erik-cert", "carol")
        replacement = tmp_path / "client-ca.crt.new"
        replacement.write_bytes(new_ca.pem)
        os.replace(replacement, client_ca_file)

        def lists_with_new_cert() -> requests.Response | None:
            try:
                return delegated.session(cert=other).get(delegated.url(queries(namespace)), timeout=10)
            except requests.exceptions.SSLError:
                return None

        assert eventually(lists_with_new_cert, "the rewritten --client-ca-file trusted").status_code == 200
        assert handshake_refused(delegated, pki.carol)


def _secret_volume(directory: Path, pair: Pair, generation: int) -> None:
    """Lay out ``pair`` as the kubelet lays out a Secret volume: files in a timestamped directory,
    ``..data`` pointing at it, ``tls.crt``/``tls.key`` pointing into ``..data``; a new generation
    swaps ``..data`` in one rename."""
    data = directory / f"..gen_{generation}"
    data.mkdir(parents=True)
    (data / "tls.crt").write_bytes(pair.cert_file.read_bytes())
    (data / "tls.key").write_bytes(pair.key_file.read_bytes())
    link = directory / "..data_tmp"
    link.symlink_to(data.name)
    os.replace(link, directory / "..data")
    for name in ("tls.crt", "tls.key"):
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def test_a_rotated_serving_certificate_is_served_and_open_watches_go_on(tmp_path, pki):
    workers = 2
    serving_ca = CA(tmp_path / "serving-pki", "serving-ca")
    first = serving_ca.issue("serving-1", "ark-apiserver", server=True, sans=("127.0.0.1",))
    second = serving_ca.issue("serving-2", "ark-apiserver", server=True, sans=("127.0.0.1",))
    volume = tmp_path / "tls"
    _secret_volume(volume, first, 1)
    flags = ("--tls-cert-file", str(volume / "tls.crt"), "--tls-private-key-file", str(volume / "tls.key"))
    with own_server(tmp_path, pki, *flags, workers=workers, ca_file=Path(serving_ca.cert_file)) as delegated:
        watcher, writer = delegated.actor("watcher"), delegated.actor("writer")
        namespace = delegated.namespace()
        assert served_serial(delegated.server.url, serving_ca.cert_file) == first.cert.serial_number
        kept = delegated.session(writer)  # a keep-alive connection made before the rotation
        assert kept.get(delegated.url(queries(namespace)), timeout=10).status_code == 200
        with delegated.session(watcher).get(delegated.url(queries(namespace)), params={"watch": "1"}, stream=True,
                                            timeout=30) as watch:
            assert watch.status_code == 200
            events = watch.iter_lines()

            _secret_volume(volume, second, 2)
            for _ in range(2 * workers):  # every worker serves the new one to its next connection
                assert served_serial(delegated.server.url, serving_ca.cert_file) == second.cert.serial_number

            for name in ("after-rotation-1", "after-rotation-2"):
                created = delegated.session(writer).post(delegated.url(queries(namespace)), timeout=10,
                                                         json=dict(QUERY, metadata={"name": name}))
                assert created.status_code == 201
                event = json.loads(next(events))
                assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", name)
            assert kept.get(delegated.url(queries(namespace, "after-rotation-1")), timeout=10).status_code == 200
        log = delegated.server.log.read_text()
        assert "serving TLS: reloaded the certificate" in log


def test_a_half_written_certificate_keeps_the_previous_one(tmp_path, pki):
    serving_ca = CA(tmp_path / "serving-pki", "serving-ca")
    first = serving_ca.issue("serving-1", "ark-apiserver", server=True, sans=("127.0.0.1",))
    second = serving_ca.issue("serving-2", "ark-apiserver", server=True, sans=("127.0.0.1",))
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(first.cert_file.read_bytes())
    key_file.write_bytes(first.key_file.read_bytes())
    flags = ("--tls-cert-file", str(cert_file), "--tls-private-key-file", str(key_file))
    with own_server(tmp_path, pki, *flags, workers=1, ca_file=Path(serving_ca.cert_file)) as delegated:
        cert_file.write_bytes(second.cert_file.read_bytes())  # the key is still the first one's
        assert served_serial(delegated.server.url, serving_ca.cert_file) == first.cert.serial_number
        key_file.write_bytes(second.key_file.read_bytes())
        assert served_serial(delegated.server.url, serving_ca.cert_file) == second.cert.serial_number
        assert "do not load" in delegated.server.log.read_text()
