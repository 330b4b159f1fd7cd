"""``--log-format json`` on a real server of two workers: every line it writes (gunicorn's, the
server's, the audit events on stdout) is one JSON object, each request has exactly one line
carrying its response's ``Audit-Id``, and a client that fails the TLS handshake (plain HTTP on
the HTTPS port, garbage, a hang-up) gets one short line and no traceback."""
from __future__ import annotations

import json
import logging
import socket
import ssl
import sys

import gevent
import pytest
from arkrest import GROUP, obj

from ark.observability import logs
from tests.conftest import fresh_database, start_server, stop_server
from tests.harness import json_log, wait_for_log

AGENT = "ark-logs-test/1.0"


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A server logging JSON at info, its audit events on stdout: one stream of JSON lines."""
    with fresh_database("sqlite", tmp_path_factory) as own:
        srv = start_server(own, tmp_path_factory.mktemp("logs"), workers=2,
                           extra=["--log-format", "json", "--audit-log-path", "-"])
        yield srv
        stop_server(srv)


def request_lines(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("logger") == "ark.request"]


def test_each_request_has_one_json_line_with_its_audit_id(logged, namespace):
    url = f"{logged.url}/apis/{GROUP}/v1alpha1/namespaces/{namespace}/queries"
    expected = {}  # Audit-Id -> what its line must say
    with logged.session() as session:
        session.headers.update({"Connection": "close", "User-Agent": AGENT})  # both workers serve
        for response, fields in [
            (session.post(url, json=obj("q1"), timeout=30), {"verb": "create", "name": "q1", "code": 201}),
            (session.get(f"{url}/q1", timeout=30), {"verb": "get", "name": "q1", "code": 200}),
            (session.get(f"{url}/missing", timeout=30), {"verb": "get", "name": "missing", "code": 404}),
            (session.get(url, timeout=30), {"verb": "list", "name": "", "code": 200}),
            (session.patch(f"{url}/q1", data='{"metadata":{"labels":{"a":"b"}}}', timeout=30,
                           headers={"Content-Type": "application/merge-patch+json"}),
             {"verb": "patch", "name": "q1", "code": 200}),
            (session.put(f"{url}/q1/status", data="{not json", timeout=30,
                         headers={"Content-Type": "application/json"}),
             {"verb": "update", "name": "q1", "subresource": "status", "code": 400}),
            (session.get(url, params={"watch": "1", "timeoutSeconds": "1"}, timeout=30),
             {"verb": "watch", "name": "", "code": 200}),
            (session.delete(f"{url}/q1", timeout=30), {"verb": "delete", "name": "q1", "code": 200}),
            (session.delete(url, timeout=30), {"verb": "deletecollection", "name": "", "code": 200}),
        ]:
            assert response.status_code == fields["code"], response.text
            expected[response.headers["Audit-Id"]] = {"resource": "queries", "namespace": namespace,
                                                      "subresource": "", **fields}
        version = session.get(f"{logged.url}/version", timeout=30)
        expected[version.headers["Audit-Id"]] = {"verb": "get", "resource": "", "namespace": "", "name": "",
                                                 "code": 200, "uri": "/version"}

    def all_logged(records: list[dict]) -> list[dict] | None:
        lines = [r for r in request_lines(records) if r["auditID"] in expected]
        return lines if {line["auditID"] for line in lines} == set(expected) else None

    lines = wait_for_log(logged, all_logged)
    assert sorted(line["auditID"] for line in lines) == sorted(expected)  # one line each, no duplicate
    for line in lines:
        assert {key: line[key] for key in expected[line["auditID"]]} == expected[line["auditID"]], line
        assert line["level"] == "info" and line["msg"] == "HTTP"
        assert line["user"] == "system:anonymous"
        assert line["userAgent"] == AGENT
        assert line["sourceIPs"] == ["127.0.0.1"]
        assert isinstance(line["durationMs"], float) and line["durationMs"] >= 0
        assert line["time"].endswith("Z") and line["pid"] > 0
    watch = next(line for line in lines if line["verb"] == "watch")
    assert watch["durationMs"] >= 1000  # the line is written when the watch ends: its whole duration


def test_gunicorn_and_the_server_write_json_lines_too(logged):
    def both_workers_started(records: list[dict]) -> list[dict] | None:
        """The server is ready once one worker is; the other may still be starting."""
        started = [r for r in records if r.get("logger") == "gunicorn.error"
                   and r["msg"].startswith("ark-apiserver: worker ") and r["msg"].endswith(" started")]
        return records if len(started) >= 2 else None

    records = wait_for_log(logged, both_workers_started)
    messages = [r["msg"] for r in records if r.get("logger") == "gunicorn.error"]
    assert any(m.startswith("Listening at: https://127.0.0.1:") for m in messages)
    assert sum(m.startswith("Booting worker with pid: ") for m in messages) == 2
    assert sum(m.startswith("ark-apiserver: worker ") and m.endswith(" started") for m in messages) == 2
    assert any(r.get("kind") == "Event" and r.get("apiVersion") == "audit.k8s.io/v1" for r in records)
    # gunicorn's access log is off: the request lines are the app's.
    assert not [r for r in records if r.get("logger") == "gunicorn.access"]


def _handshake_lines(server, port: int) -> list[dict]:
    return [r for r in json_log(server) if f"TLS handshake from 127.0.0.1:{port} failed" in r.get("msg", "")]


@pytest.mark.parametrize(("sent", "problem"), [
    (b"GET /apis HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "the client sent plain HTTP to the HTTPS port"),
    (b"\x16\x03\x01\x00\x05hello", "unexpected message"),  # a TLS record with garbage in it
    (b"", "the client closed the connection"),
])
def test_a_failed_handshake_is_one_short_line_without_traceback(logged, sent, problem):
    with socket.create_connection(("127.0.0.1", logged.port), timeout=30) as raw:
        port = raw.getsockname()[1]
        raw.sendall(sent)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    if sent.startswith(b"GET"):  # what Go's server (kube-apiserver) answers, in plain HTTP
        assert answer == b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    (line,) = wait_for_log(logged, lambda _: _handshake_lines(logged, port))
    assert line["msg"] == f"TLS handshake from 127.0.0.1:{port} failed: {problem}"
    assert line["level"] == "info" and "error" not in line
    assert "Traceback" not in logged.log.read_text()


def test_a_client_that_rejects_the_certificate_is_one_line(logged):
    """A client that does not trust the server's CA ends the handshake with an alert."""
    context = ssl.create_default_context()  # the system's CAs: not the server's own
    with socket.create_connection(("127.0.0.1", logged.port), timeout=30) as raw:
        port = raw.getsockname()[1]
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    (line,) = wait_for_log(logged, lambda _: _handshake_lines(logged, port))
    assert line["msg"].startswith(f"TLS handshake from 127.0.0.1:{port} failed: ")
    assert "Traceback" not in logged.log.read_text()


# ------------------------------------------------------------------------------------ the formats
def _record(message: str, fields: dict | None = None, exc_info=None) -> logging.LogRecord:
    record = logging.LogRecord("ark.test", logging.WARNING, __file__, 1, message, (), exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_a_traceback_stays_inside_its_json_line():
    try:
        raise ValueError("bad value")
    except ValueError:
        line = logs.JsonFormatter().format(_record("it failed", exc_info=sys.exc_info()))
    assert "\n" not in line
    record = json.loads(line)
    assert record["msg"] == "it failed" and record["level"] == "warning" and record["logger"] == "ark.test"
    assert record["error"].startswith("Traceback") and "ValueError: bad value" in record["error"]


def test_text_lines_carry_the_fields_as_key_value_pairs():
    line = logs.TextFormatter().format(_record("HTTP", {"auditID": "a-1", "user": "alice smith", "name": "",
                                                        "code": 201}))
    assert line.endswith(' WARNING ark.test: HTTP auditID=a-1 user="alice smith" code=201')


def test_a_greenlet_that_dies_is_one_record_not_a_printed_traceback(caplog):
    hub = gevent.get_hub()
    logs.log_greenlet_errors(hub)
    try:
        with caplog.at_level(logging.ERROR, logger="ark.greenlet"):
            gevent.spawn(lambda: 1 / 0).join()
    finally:
        del hub.print_exception  # the class's own again
    (record,) = caplog.records
    assert record.name == "ark.greenlet" and "failed with ZeroDivisionError" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
