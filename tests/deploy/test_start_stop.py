"""Starting and stopping as a Deployment does: ``/readyz`` answers 200 as soon as a worker has
started (on each database, in both auth modes), and SIGTERM stops accepting, finishes the write
in flight, ends watches so that clients resume elsewhere, and closes idle keep-alive connections
at once instead of waiting out gunicorn's graceful timeout for them.

Readiness is measured from the server's own JSON log (``--log-level debug`` logs every probe):
each figure is recorded as a test property (``-rP``/junit shows them), never asserted against a
wall-clock budget."""
from __future__ import annotations

import json
import signal
import socket
import ssl
import time
import uuid
from contextlib import ExitStack
from datetime import datetime

import pytest
import requests

from tests.api.arkrest import GROUP, obj
from tests.conftest import Server, start_server, stop_server
from tests.harness import READY_TIMEOUT, create_namespace, json_log, wait_for_log
from tests.security.conftest import PKI, delegated_server, eventually

LOG_FLAGS = ["--log-format", "json", "--log-level", "debug"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    return PKI.make(tmp_path_factory.mktemp("pki"))


def _seconds(record: dict) -> float:
    return datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


def _poll_until_ready(server: Server) -> None:
    """Ask /readyz until it answers 200 (every answer before that is logged too)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log.read_text()
        try:
            if server.ca_file.exists() and server.session().get(server.url + "/readyz", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.01)
    pytest.fail(f"/readyz never answered 200:\n{server.log.read_text()}")


@pytest.mark.parametrize("auth_mode", ["off", "delegated"])
def test_readyz_answers_as_soon_as_a_worker_has_started(database, auth_mode, pki, tmp_path, record_property):
    with ExitStack() as stack:
        if auth_mode == "off":
            server = start_server(database, tmp_path, workers=2, extra=LOG_FLAGS, wait=False)
            stack.callback(stop_server, server)
        else:
            server = stack.enter_context(delegated_server(database, tmp_path, pki, tuple(LOG_FLAGS),
                                                          wait=False)).server
        _poll_until_ready(server)
        # The first worker can be ready before the master has forked the second (gunicorn spaces
        # its forks by up to 0.1 s): wait for both boots as well as the probe's line.
        wait_for_log(server, lambda records: [r for r in records if r.get("logger") == "ark.request"
                                              and r["uri"] == "/readyz" and r["code"] == 200]
                     and sum(r["msg"].startswith("Booting worker with pid: ") for r in records) == 2)
        records = json_log(server)

    booted = {r["pid"]: i for i, r in enumerate(records) if r["msg"].startswith("Booting worker with pid: ")}
    started = {r["pid"]: i for i, r in enumerate(records)
               if r["msg"] == f"ark-apiserver: worker {r['pid']} started"}
    probes = [(i, r) for i, r in enumerate(records) if r.get("logger") == "ark.request" and r["uri"] == "/readyz"]
    ready_at, ready = next((i, r) for i, r in probes if r["code"] == 200)
    assert len(booted) == 2 and set(started) <= set(booted)
    # The first 200 comes from a worker that had logged its start, and no probe that worker
    # answered before it (a probe cannot reach a worker that has not started) was a 200.
    assert ready["pid"] in started and started[ready["pid"]] < ready_at
    assert all(r["code"] != 200 for i, r in probes if i < ready_at)

    first_boot = min(_seconds(records[i]) for i in booted.values())
    first_start = min(_seconds(records[i]) for i in started.values())
    figures = {"boot_to_worker_started_s": round(first_start - first_boot, 3),
               "boot_to_ready_s": round(_seconds(ready) - first_boot, 3),
               "worker_started_to_ready_s": round(_seconds(ready) - first_start, 3),
               "probes_refused_before_ready": sum(1 for i, _ in probes if i < ready_at)}
    for name, value in figures.items():
        record_property(name, value)
    print(f"readiness {database.driver}/{auth_mode}: {figures}")


# ------------------------------------------------------------------------------------------ SIGTERM
def _tls(server: Server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _read_response(conn: ssl.SSLSocket) -> tuple[str, bytes]:
    """One response with a Content-Length body: its head and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, body
        body += chunk
    return head.decode(), body


def _refuses_connections(port: int) -> bool:
    """Refused, or reset: a connection that reached the backlog of a listener being closed is
    reset, which also means the server accepts no more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def test_sigterm_finishes_the_write_in_flight_ends_watches_and_closes_idle_connections(database, tmp_path):
    namespace = f"t-{uuid.uuid4().hex[:12]}"
    path = f"/apis/{GROUP}/v1alpha1/namespaces/{namespace}/queries"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    server = start_server(database, tmp_path / "first", workers=2, extra=["--log-format", "json"])
    try:
        create_namespace(server, namespace)
        session = server.session()
        revision = session.get(server.url + path, timeout=30).json()["metadata"]["resourceVersion"]
        watch = server.session().get(server.url + path, params={"watch": "1", "resourceVersion": revision},
                                     stream=True, timeout=60)
        assert watch.status_code == 200

        idle = _tls(server)  # a kept-alive connection between two requests
        idle.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, _ = _read_response(idle)
        assert head.startswith("HTTP/1.1 200") and "connection: close" not in head.lower()

        # A write in flight: its head is being served (gunicorn confirms with 100 Continue) and its
        # body still to come when the server is told to stop.
        body = json.dumps(obj("in-flight")).encode()
        writer = _tls(server)
        writer.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        assert writer.recv(64).startswith(b"HTTP/1.1 100 Continue")

        server.process.send_signal(signal.SIGTERM)
        eventually(lambda: _refuses_connections(server.port), "the server stops accepting connections")
        writer.sendall(body)
        head, answer = _read_response(writer)
        assert head.startswith("HTTP/1.1 201"), head + answer.decode()
        assert json.loads(answer)["metadata"]["name"] == "in-flight"
        assert writer.recv(1) == b""  # and then the connection is closed

        assert idle.recv(1) == b""  # closed by the server, not left to time out
        events = [json.loads(line) for line in watch.iter_lines() if line]  # ends cleanly: no error
        assert all(event["type"] in ("ADDED", "BOOKMARK") for event in events), events
        assert server.process.wait(timeout=60) == 0
        log = server.log.read_text()
        assert "graceful timeout" not in log.lower()  # nothing held a worker up until it was killed
        (line,) = [r for r in json_log(server) if r.get("logger") == "ark.request" and r["verb"] == "create"
                   and r.get("resource") == "queries"]
        assert line["code"] == 201 and line["name"] == "in-flight"
    finally:
        stop_server(server)

    # The watch's client resumes from its last revision on another server (replica): nothing is lost.
    replica = start_server(database, tmp_path / "second", workers=1)
    try:
        resumed = replica.session().get(replica.url + path, timeout=60, stream=True,
                                        params={"watch": "1", "resourceVersion": revision, "timeoutSeconds": "5"})
        first = json.loads(next(line for line in resumed.iter_lines() if line))
        resumed.close()
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "in-flight")
    finally:
        stop_server(replica)
