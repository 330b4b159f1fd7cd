"""Hostile and malformed requests get a Status with the right 4xx code, never a 500 or a hang.

Every case runs against the session's real server on each database, beside an object ``q``
created first: after the case the server is ready, ``q`` is exactly as it was, and nothing
else exists in the namespace (nothing half-written). Messages speak Kubernetes, not Python.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time

import pytest
import requests

from tests.reliability.conftest import GUARDED_MAX_OBJECT_BYTES, soak

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
QUERY = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": "q"},
         "spec": {"input": "x", "selector": {"matchLabels": {"app": "test"}}}}  # a Query needs a target or a selector
JSON, YAML, MERGE, JSON_PATCH, APPLY = ("application/json", "application/yaml", "application/merge-patch+json",
                                        "application/json-patch+json", "application/apply-patch+yaml")
MIB = 1024 * 1024
PYTHON_WORDS = ("Traceback", "<class", "Error:", "RecursionError", "UnicodeEncodeError", "UnicodeDecodeError",
                "OperationalError", "codec can't", " object at 0x", "is not equal to tested value")


def body(value, content_type=JSON) -> dict:
    data = value if isinstance(value, (str, bytes)) else json.dumps(value)
    return {"data": data, "headers": {"Content-Type": content_type}}


def with_meta(**meta) -> dict:
    return body({**QUERY, "metadata": {"name": "a", **meta}})


def with_input(text: str, content_type: str = JSON) -> dict:
    """A create body whose spec.input is the raw JSON (or YAML) text ``text``."""
    if content_type == JSON:
        return body('{"apiVersion":"ark.mckinsey.com/v1alpha1","kind":"Query","metadata":{"name":"a"},'
                    '"spec":{"input":' + text + "}}")
    return body("apiVersion: ark.mckinsey.com/v1alpha1\nkind: Query\nmetadata: {name: a}\nspec:\n  input: " + text
                + "\n", content_type)


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_merge_patch(depth: int) -> str:
    return '{"spec":{"input":' + '{"a":' * depth + "1" + "}" * depth + "}}"


def nested_yaml(depth: int, flow: bool = False) -> str:
    """Block sequences in compact form (``- - - x``) or flow ones (``[[[x]]]``): linear in size."""
    nested = "[" * depth + "x" + "]" * depth if flow else "- " * depth + "x"
    return ("apiVersion: ark.mckinsey.com/v1alpha1\nkind: Query\nmetadata: {name: new}\nspec:\n  input:\n    "
            + nested + "\n")


def billion_laughs(levels: int = 7) -> str:
    """A 422-byte-ish YAML body whose aliases expand 9**levels times."""
    lines = ['apiVersion: ark.mckinsey.com/v1alpha1', 'kind: Query', 'metadata: {name: a}', 'x0: &x0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &x{level} [" + ",".join([f"*x{level - 1}"] * 9) + "]")
    lines.append(f"spec: {{input: *x{levels}}}")
    return "\n".join(lines) + "\n"


def token(payload) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def selector_of(count: int) -> str:
    return ",".join(f"key{i}" for i in range(count))


# (method, url suffix, request kwargs, code): the suffix is relative to the namespace's queries.
CASES = {
    # Bodies that are not objects of the kind
    "array body": ("post", "", body("[1,2]"), 400),
    "null body": ("post", "", body("null"), 400),
    "not UTF-8": ("post", "", body(b"\xff\xfe"), 400),
    "invalid UTF-8 inside a string": ("post", "", body(b'{"apiVersion":"\x81"}'), 400),
    "truncated JSON": ("post", "", body('{"apiVersion":"ark.mckinsey.com/v1alpha1","kind":"Qu'), 400),
    "malformed JSON": ("post", "", body("{'apiVersion': 'x'}"), 400),
    "JSON with trailing garbage": ("post", "", body(json.dumps(QUERY) + " trailing"), 400),
    "truncated YAML": ("post", "", body("a: [", YAML), 400),
    "malformed YAML": ("post", "", body("kind: Query\n  metadata: {name: a\n", YAML), 400),
    "two YAML documents": ("post", "", body("kind: Query\n---\nkind: Query\n", YAML), 400),
    "python YAML tag": ("post", "", body("!!python/object/apply:os.system ['true']", YAML), 400),
    "binary YAML tag": ("post", "", with_input("!!binary aGVsbG8=", YAML), 400),
    "set YAML tag": ("post", "", with_input("!!set {a, b}", YAML), 400),
    "recursive YAML alias": ("post", "", with_input("&x [*x]", YAML), 400),
    "text/plain body": ("post", "", body("{}", "text/plain"), 415),
    # Nesting: refused before any recursive code runs
    "JSON nested 10,000 deep": ("post", "", with_input(nested_json(10_000)), 400),
    "JSON nested 101 deep": ("post", "", with_input(nested_json(99)), 400),
    "merge patch nested 5,000 deep": ("patch", "/q", body(nested_merge_patch(5_000), MERGE), 400),
    "YAML apply patch nested 10,000 deep": ("patch", "/new?fieldManager=m", body(nested_yaml(10_000), APPLY), 400),
    "YAML create nested 10,000 deep": ("post", "", body(nested_yaml(10_000), YAML), 400),
    "YAML flow nested 10,000 deep": ("post", "", body(nested_yaml(10_000, flow=True), YAML), 400),
    "JSON patch nesting by copies": ("patch", "/q", body(
        [{"op": "add", "path": "/spec/input", "value": {"a": {}}}]
        + [{"op": "copy", "from": "/spec", "path": "/spec" + "/input" * i} for i in range(1, 120)], JSON_PATCH), 422),
    # Values JSON cannot represent
    "lone surrogate": ("post", "", with_input('"\\ud800"'), 400),
    "lone low surrogate": ("post", "", with_input('"a\\udc00b"'), 400),
    "lone surrogate in a key": ("post", "", with_input('{"\\ud800": 1}'), 400),
    "lone surrogate in YAML": ("post", "", with_input('"\\ud800"', YAML), 400),
    "NaN": ("post", "", with_input("NaN"), 400),
    "Infinity": ("post", "", with_input("Infinity"), 400),
    "-Infinity": ("post", "", with_input("-Infinity"), 400),
    "1e999": ("post", "", with_input("1e999"), 400),
    "-1e999": ("post", "", with_input("[-1e999]"), 400),
    "integer of 400 digits": ("post", "", with_input("9" * 400), 400),
    "integer of 5000 digits": ("post", "", with_input("9" * 5000), 400),
    "YAML .nan": ("post", "", with_input(".nan", YAML), 400),
    "YAML .inf": ("post", "", with_input(".inf", YAML), 400),
    "YAML -.Inf": ("post", "", with_input("-.Inf", YAML), 400),
    "NaN in a merge patch": ("patch", "/q", body('{"spec":{"input":NaN}}', MERGE), 400),
    "NaN in a JSON patch": ("patch", "/q", body('[{"op":"replace","path":"/spec/input","value":NaN}]', JSON_PATCH),
                            400),
    "YAML .nan in an apply patch": ("patch", "/q?fieldManager=m", body(
        "apiVersion: ark.mckinsey.com/v1alpha1\nkind: Query\nmetadata: {name: q}\nspec: {input: .nan}\n", APPLY), 400),
    # Amplification and size
    "billion laughs on create": ("post", "", body(billion_laughs(), YAML), 400),
    "billion laughs as apply patch": ("patch", "/new?fieldManager=m", body(billion_laughs(), APPLY), 400),
    "aliases to a large string": ("post", "", body(
        'apiVersion: ark.mckinsey.com/v1alpha1\nkind: Query\nmetadata: {name: a}\nbig: &big "' + "y" * 200_000
        + '"\nspec: {input: [' + ",".join(["*big"] * 12) + "]}\n", YAML), 413),
    "2 MiB object": ("post", "", with_input(json.dumps("x" * (2 * MIB))), 413),
    "merge patch to a 1.6 MiB object": ("patch", "/q", body({"spec": {"input": "x" * (MIB + 600 * 1024)}}, MERGE),
                                        413),
    "JSON patch doubling by copies": ("patch", "/q", body(
        [{"op": "replace", "path": "/spec/input", "value": "x" * 100_000}]
        + [{"op": "copy", "from": "/spec", "path": f"/spec/copy{i}"} for i in range(30)], JSON_PATCH), 413),
    # Metadata and schema
    "labels not a map": ("post", "", with_meta(labels="x"), 422),
    "label value not a string": ("post", "", with_meta(labels={"a": 1}), 422),
    "finalizers not a list": ("post", "", with_meta(finalizers="x"), 422),
    "owner uid not a string": ("post", "", with_meta(ownerReferences=[{"uid": 1}]), 422),
    "spec not an object": ("post", "", body({**QUERY, "spec": "str"}), 422),
    "parameters not a list": ("post", "", body({**QUERY, "spec": {"input": "x", "parameters": "not a list"}}), 422),
    "SQL in a name": ("post", "", with_meta(name="a'; DROP TABLE objects; --"), 422),
    "SQL in a label value": ("post", "", with_meta(labels={"a": "x' OR '1'='1"}), 422),
    "SQL in a namespace field": ("post", "", with_meta(namespace="x'; DELETE FROM objects; --"), 400),
    # Selectors
    "unclosed set": ("get", "?labelSelector=a+in+(", {}, 400),
    "parentheses": ("get", "?labelSelector=(((", {}, 400),
    "field selector without operator": ("get", "?fieldSelector=metadata.name", {}, 400),
    "50,000 label requirements": ("get", "?labelSelector=" + selector_of(50_000), {}, 400),
    "101 label requirements": ("get", "?labelSelector=" + selector_of(101), {}, 400),
    "10,001 selector values": ("get", "?labelSelector=a+in+(" + ",".join(f"v{i}" for i in range(10_001)) + ")", {},
                               400),
    "101 field requirements": ("get", "?fieldSelector=" + ",".join(["metadata.name=q"] * 101), {}, 400),
    "watch with 50,000 label requirements": ("get", "?watch=true&labelSelector=" + selector_of(50_000), {}, 400),
    "SQL in a label selector value": ("get", "?labelSelector=a%3Dx'%20OR%20'1'%3D'1", {}, 400),
    "SQL in a label selector key": ("get", "?labelSelector=a'%3B%20DROP%20TABLE%20objects%3B--", {}, 400),
    "SQL in a set": ("get", "?labelSelector=a+in+('x')", {}, 400),
    # Options
    "limit beyond 64 bits": ("get", "?limit=99999999999999999999", {}, 400),
    "limit with SQL": ("get", "?limit=1%3B%20DROP%20TABLE%20objects", {}, 400),
    "resourceVersion with SQL": ("get", "?resourceVersion=1%20OR%201%3D1", {}, 400),
    "negative resourceVersion": ("get", "/q?resourceVersion=-1", {}, 400),
    "watch resourceVersion not a number": ("get", "?watch=true&resourceVersion=abc", {}, 400),
    "Table version that does not exist": ("get", "/q", {"headers": {
        "Accept": "application/json;as=Table;g=meta.k8s.io;v=v9"}}, 406),
    # Continue tokens: tampered, foreign, hostile
    "continue not base64": ("get", "?continue=%25%25%25", {}, 400),
    "continue with SQL": ("get", "?continue=' OR 1=1 --", {}, 400),
    "continue negative revision": ("get", "?continue=" + token({"v": "meta.k8s.io/v1", "rv": -1, "start": "a/b"}), {},
                                   400),
    "continue revision beyond 64 bits": ("get", "?continue=" + token({"v": "meta.k8s.io/v1", "rv": 10 ** 30,
                                                                      "start": "a/b"}), {}, 400),
    "continue revision a string": ("get", "?continue=" + token({"v": "meta.k8s.io/v1", "rv": "1", "start": "a/b"}),
                                   {}, 400),
    "continue revision a boolean": ("get", "?continue=" + token({"v": "meta.k8s.io/v1", "rv": True, "start": "a/b"}),
                                    {}, 400),
    "continue start not a key": ("get", "?continue=" + token({"v": "meta.k8s.io/v1", "rv": 1, "start": 7}), {}, 400),
    "continue wrong version": ("get", "?continue=" + token({"v": "v2", "rv": 1, "start": "a/b"}), {}, 400),
    "continue a JSON array": ("get", "?continue=" + token([1, 2]), {}, 400),
    "continue nested 1,500 deep": ("get", "?continue=" + token(nested_json(1_500).encode()), {}, 400),
    "continue from kube-apiserver": ("get", "?continue=" + token(
        {"v": "meta.k8s.io/v1", "rv": 12, "start": "q\u0000"}), {}, 400),
    "continue with resourceVersion": ("get", "?resourceVersion=5&continue=" + token(
        {"v": "meta.k8s.io/v1", "rv": 1, "start": "a/b"}), {}, 400),
    # Patches
    "JSON patch removing metadata": ("patch", "/q", body([{"op": "remove", "path": "/metadata"}], JSON_PATCH), 400),
    "JSON patch unknown op": ("patch", "/q", body([{"op": "bogus"}], JSON_PATCH), 422),
    "JSON patch op not an object": ("patch", "/q", body([1], JSON_PATCH), 422),
    "JSON patch failing test": ("patch", "/q", body([{"op": "test", "path": "/spec/input", "value": "user"}],
                                                    JSON_PATCH), 422),
    "JSON patch path not a pointer": ("patch", "/q", body([{"op": "add", "path": "spec", "value": 1}], JSON_PATCH),
                                      422),
    "JSON patch missing from": ("patch", "/q", body([{"op": "move", "from": "/spec/none", "path": "/spec/x"}],
                                                    JSON_PATCH), 422),
    "JSON patch body an object": ("patch", "/q", body({"op": "add"}, JSON_PATCH), 400),
    "merge patch with an object resourceVersion": ("patch", "/q", body(
        {"metadata": {"resourceVersion": {"x": 1}}}, MERGE), 409),
    "status not an object": ("patch", "/q/status", body({"status": "x"}, MERGE), 422),
    "apply patch a list": ("patch", "/new?fieldManager=m", body("[1]", APPLY), 400),
    "apply patch metadata a string": ("patch", "/new?fieldManager=m", body({**QUERY, "metadata": "x"}, APPLY), 400),
    "strategic merge patch": ("patch", "/q", body({}, "application/strategic-merge-patch+json"), 415),
    # DeleteOptions
    "delete options a list": ("delete", "/q", body("[1]"), 400),
    "preconditions a string": ("delete", "/q", body({"preconditions": "x"}), 400),
    "dryRun a string": ("delete", "/q", body({"dryRun": "All"}), 400),
    "precondition uid a number": ("delete", "/q", body({"preconditions": {"uid": 5}}), 400),
    "propagationPolicy a number": ("delete", "", body({"propagationPolicy": 5}), 400),
    "delete options nested 10,000 deep": ("delete", "/q", body('{"preconditions":' + nested_json(10_000) + "}"), 400),
    # Names in the URL
    "SQL in the name of a GET": ("get", "/a'%20OR%20'1'%3D'1", {}, 404),
    "SQL in the name of a DELETE": ("delete", "/q'%3B%20DELETE%20FROM%20objects%3B--", {}, 404),
}


def _base(server, namespace: str) -> str:
    return f"{server.url}{GROUP_VERSION}/namespaces/{namespace}/queries"


def assert_kubernetes_status(response: requests.Response, code: int) -> dict:
    assert response.status_code == code, response.text[:500]
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    status = response.json()
    assert status["kind"] == "Status" and status["apiVersion"] == "v1" and status["status"] == "Failure"
    assert status["code"] == code and isinstance(status["reason"], str) and status["reason"]
    assert status["message"] and not any(word in status["message"] for word in PYTHON_WORDS), status["message"]
    return status


def assert_untouched(api, server, namespace: str, before: dict) -> None:
    """The server is ready, ``q`` is as it was and nothing else exists in the namespace."""
    assert api.get(f"{server.url}/readyz", timeout=10).status_code == 200
    listed = api.get(_base(server, namespace), timeout=30).json()
    assert [item["metadata"]["name"] for item in listed["items"]] == ["q"]
    assert listed["items"][0] == before


@pytest.mark.parametrize(("method", "suffix", "kwargs", "code"), list(CASES.values()), ids=list(CASES))
def test_hostile_request_gets_a_status_error(api, server, namespace, method, suffix, kwargs, code):
    base = _base(server, namespace)
    created = api.post(base, json=QUERY)
    assert created.status_code == 201, created.text
    response = getattr(api, method)(base + suffix, timeout=30, **kwargs)
    assert_kubernetes_status(response, code)
    assert_untouched(api, server, namespace, created.json())


def test_nothing_unrepresentable_is_ever_listed(api, server, namespace):
    """After the whole battery, every stored object is strict JSON (what client-go decodes)."""
    base = _base(server, namespace)
    assert api.post(base, json=QUERY).status_code == 201
    for case in ("NaN", "Infinity", "1e999", "lone surrogate", "YAML .nan", "2 MiB object"):
        method, suffix, kwargs, _code = CASES[case]
        getattr(api, method)(base + suffix, timeout=30, **kwargs)

    def refuse(name):
        raise AssertionError(f"{name} in a listed object")

    text = api.get(f"{server.url}{GROUP_VERSION}/queries", timeout=60).content.decode("utf-8")
    json.loads(text, parse_constant=refuse)


def test_hostile_inputs_are_answered_quickly_enough_to_keep_the_worker(api, server, namespace):
    """The amplifiers that used to run past gunicorn's timeout are refused before the work: the
    server keeps answering (and a watch opened before them keeps streaming)."""
    base = _base(server, namespace)
    watch = api.get(base + "?watch=true&timeoutSeconds=60", stream=True, timeout=(10, 60))
    assert watch.status_code == 200
    for case in ("50,000 label requirements", "billion laughs on create", "JSON nested 10,000 deep",
                 "JSON patch doubling by copies"):
        method, suffix, kwargs, code = CASES[case]
        assert getattr(api, method)(base + suffix, timeout=30, **kwargs).status_code in (code, 404)
    assert api.post(base, json=QUERY).status_code == 201
    line = next(watch.iter_lines())
    assert json.loads(line)["object"]["metadata"]["name"] == "q"
    watch.close()


# Media types and parameters that kube-apiserver accepts --------------------------------------

def test_charset_parameter_is_ignored_as_by_kube_apiserver(api, server, namespace):
    """kube-apiserver matches the body's media type without its parameters: ``charset=latin1``
    does not make it decode Latin-1, the body is still JSON in UTF-8."""
    base = _base(server, namespace)
    response = api.post(base, data=json.dumps(QUERY), headers={"Content-Type": "application/json;charset=latin1"})
    assert response.status_code == 201, response.text
    latin1 = json.dumps({**QUERY, "metadata": {"name": "l"}, "spec": {"input": "caf\u00e9"}},
                        ensure_ascii=False).encode("latin-1")
    assert_kubernetes_status(api.post(base, data=latin1, headers={"Content-Type": "application/json;charset=latin1"}),
                             400)
    assert_untouched(api, server, namespace, response.json())


def test_unknown_query_parameters_are_ignored(api, server, namespace):
    base = _base(server, namespace)
    created = api.post(base + "?color=blue&watchx=1", json=QUERY)
    assert created.status_code == 201, created.text
    assert api.get(base + "?unknown=' OR 1=1 --&pretty=true").status_code == 200
    assert api.get(base + "/q?whatever=1").json() == created.json()


def test_field_selector_with_sql_compares_literally(api, server, namespace):
    base = _base(server, namespace)
    created = api.post(base, json=QUERY).json()
    response = api.get(base, params={"fieldSelector": "metadata.name=q' OR '1'='1"})
    assert response.status_code == 200 and response.json()["items"] == []
    assert_untouched(api, server, namespace, created)


def test_hostile_namespace_in_the_url_lists_nothing(api, server, namespace):
    response = api.get(f"{server.url}{GROUP_VERSION}/namespaces/x';%20DELETE%20FROM%20objects;--/queries")
    assert response.status_code == 200 and response.json()["items"] == []


def test_foreign_token_of_another_list_only_moves_the_start(api, server, namespace):
    """A well-formed token whose key names another namespace is harmless: a keyset start."""
    base = _base(server, namespace)
    created = api.post(base, json=QUERY).json()
    hostile = token({"v": "meta.k8s.io/v1", "rv": 1, "start": "x' OR 1=1 --/y"})
    response = api.get(base, params={"continue": hostile})
    assert response.status_code in (200, 410), response.text
    assert_untouched(api, server, namespace, created)


def test_resource_version_beyond_64_bits_is_400(api, server, namespace):
    """kube-apiserver parses resourceVersion as uint64: a longer one is 400 at once (not a wait)."""
    response = api.get(_base(server, namespace) + "/q?resourceVersion=" + "9" * 25, timeout=30)
    status = assert_kubernetes_status(response, 400)
    assert status["message"] == (f'invalid resource version "{"9" * 25}": resourceVersion must be a non-negative '
                                 "64-bit integer")


# Raw HTTP: methods, paths and lying framing ----------------------------------------------------

def _raw_request(server, request: bytes, read_timeout: float = 10) -> bytes:
    """Send raw bytes; read until the first response is complete (or the connection ends)."""
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with socket.create_connection((host, int(port)), timeout=read_timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as sock:
        sock.sendall(request)
        data = b""
        while not _complete(data):
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
        return data


def _complete(data: bytes) -> bool:
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(rest) >= int(value)
    return False


def _first_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return int(lines[0].split()[1]), headers, rest[:length]


def _http(server, method: str, path: str) -> http.client.HTTPResponse:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), timeout=30,
                                             context=ssl.create_default_context(cafile=str(server.ca_file)))
    connection.request(method, path)  # http.client sends the path as given: no dot-segment removal
    return connection.getresponse()


def test_trace_is_405_with_allow(server, namespace):
    response = _http(server, "TRACE", f"{GROUP_VERSION}/namespaces/{namespace}/queries")
    assert response.status == 405
    assert response.getheader("Allow")


def test_status_405_allows_get_patch_put_only(server, namespace):
    response = _http(server, "DELETE", f"{GROUP_VERSION}/namespaces/{namespace}/queries/q/status")
    assert response.status == 405
    assert sorted(part.strip() for part in response.getheader("Allow", "").split(",")) == ["GET", "PATCH", "PUT"]


def test_dot_segments_in_the_path_are_not_a_namespace(api, server, namespace):
    """``/namespaces/../queries`` must not be served as a namespace called ``..``: a 400 naming the
    path segment rule (apimachinery's IsValidPathSegmentName)."""
    response = _http(server, "GET", f"{GROUP_VERSION}/namespaces/../queries")
    assert response.status == 400
    status = json.loads(response.read())
    assert (status["kind"], status["message"]) == ("Status", 'invalid namespace "..": [may not be \'..\']')


def test_content_length_shorter_than_the_body(api, server, namespace):
    """The body is cut at Content-Length (truncated JSON: 400); what follows is no request."""
    base_path = f"{GROUP_VERSION}/namespaces/{namespace}/queries"
    created = api.post(_base(server, namespace), json=QUERY).json()
    payload = json.dumps({**QUERY, "metadata": {"name": "short"}}).encode()
    request = (f"POST {base_path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload) // 2}\r\n\r\n").encode() + payload
    code, _headers, status = _first_response(_raw_request(server, request))
    assert code == 400 and json.loads(status)["kind"] == "Status"
    assert_untouched(api, server, namespace, created)


def test_content_length_longer_than_the_body_then_close(api, server, namespace):
    """The client ends its stream before Content-Length is reached (TCP FIN under TLS): the body
    is incomplete, so nothing is stored, even though what arrived is a whole JSON object. (The
    TLS layer may refuse the truncated stream before any answer; a client that keeps the
    connection open instead gets 408: see the slow-client tests.)"""
    base_path = f"{GROUP_VERSION}/namespaces/{namespace}/queries"
    created = api.post(_base(server, namespace), json=QUERY).json()
    payload = json.dumps({**QUERY, "metadata": {"name": "long"}}).encode()
    with _tls(server) as sock:
        sock.sendall((f"POST {base_path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(payload) + 500}\r\n\r\n").encode() + payload)
        socket.socket.shutdown(sock, socket.SHUT_WR)
        data = _read_until_closed(sock)
    assert data == b"" or _first_response(data)[0] == 400
    assert_untouched(api, server, namespace, created)


# Slow clients (a server with 1 s / 3 s deadlines) ----------------------------------------------

def _tls(server) -> ssl.SSLSocket:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(server.ca_file))
    raw = socket.create_connection((host, int(port)), timeout=30)
    return context.wrap_socket(raw, server_hostname=host)


def _read_until_closed(sock: socket.socket, limit: float = 30) -> bytes:
    sock.settimeout(limit)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            return data
        if not chunk:
            return data
        data += chunk


def test_silent_connection_is_closed(guarded_server):
    host, port = guarded_server.url.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        assert _read_until_closed(raw) == b""  # closed by the server (a hang would time out the test)


def test_incomplete_request_head_is_closed(guarded_server):
    with _tls(guarded_server) as sock:
        sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert _read_until_closed(sock) == b""


def test_slowloris_connections_are_all_closed_and_the_server_answers_meanwhile(guarded_server):
    count = soak(100, 1000)
    host, port = guarded_server.url.removeprefix("https://").rsplit(":", 1)
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(b"\x16\x03\x01")  # the first bytes of a TLS ClientHello, and nothing more
            sockets.append(sock)
        session = guarded_server.session()
        assert session.get(guarded_server.url + "/readyz", timeout=30).status_code == 200
        session.close()
        for sock in sockets:
            assert _read_until_closed(sock) == b""
    finally:
        for sock in sockets:
            sock.close()


def test_stalled_body_is_408_and_the_connection_closes(guarded_server, namespace):
    with _tls(guarded_server) as sock:
        sock.sendall(f"POST {GROUP_VERSION}/namespaces/{namespace}/queries HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"apiVersion\":".encode())
        code, _headers, status = _first_response(_read_until_closed(sock))
    assert code == 408
    assert json.loads(status)["reason"] == "Timeout"


def test_trickled_chunked_body_is_504_and_the_connection_closes(guarded_server, namespace):
    """100 bytes every half second never stalls, but the whole body must arrive in time."""
    with _tls(guarded_server) as sock:
        sock.sendall(f"POST {GROUP_VERSION}/namespaces/{namespace}/queries HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        sock.settimeout(0.5)
        data = b""
        for _ in range(60):  # at most 30 s of trickling; the server answers after 3 s
            try:
                sock.sendall(b"64\r\n" + b" " * 100 + b"\r\n")
            except (ssl.SSLError, OSError):
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                data += _read_until_closed(sock)
                break
    code, _headers, status = _first_response(data)
    assert code == 504
    assert json.loads(status)["reason"] == "Timeout"


def test_slow_but_steady_body_and_long_watch_are_not_cut(guarded_server, namespace):
    """The deadlines are for stalls: a body that keeps coming within the request timeout is
    served, and a watch streams for longer than every deadline."""
    session = guarded_server.session()
    payload = json.dumps({**QUERY, "metadata": {"name": "steady"}}).encode()

    def pieces():
        for start in range(0, len(payload), 20):
            time.sleep(0.1)
            yield payload[start:start + 20]

    base = f"{guarded_server.url}{GROUP_VERSION}/namespaces/{namespace}/queries"
    created = session.post(base, data=pieces(), headers={"Content-Type": "application/json"}, timeout=30)
    assert created.status_code == 201, created.text
    watch = session.get(base + "?watch=true&timeoutSeconds=2&resourceVersion=0", stream=True, timeout=(10, 30))
    lines = [json.loads(line) for line in watch.iter_lines() if line]
    assert [e["object"]["metadata"]["name"] for e in lines] == ["steady"]
    session.close()


def test_max_object_bytes_setting_reaches_every_write(guarded_server, namespace):
    """``--max-object-bytes`` (1 MiB on this server) bounds creates, updates and patches: the
    decoder, the patch functions and the store all take the setting."""
    session = guarded_server.session()
    url = f"{guarded_server.url}{GROUP_VERSION}/namespaces/{namespace}/queries"
    big = "x" * (GUARDED_MAX_OBJECT_BYTES + 100_000)
    try:
        assert_kubernetes_status(session.post(url, json={**QUERY, "spec": {"input": big}}, timeout=30), 413)
        created = session.post(url, json=QUERY, timeout=30).json()
        half = "y" * (GUARDED_MAX_OBJECT_BYTES // 2 + 1000)
        merge = {"spec": {"input": half, "sessionId": half}}  # each part fits; the whole does not
        patched = session.patch(f"{url}/{QUERY['metadata']['name']}", data=json.dumps(merge), timeout=30,
                                headers={"Content-Type": "application/merge-patch+json"})
        assert_kubernetes_status(patched, 413)
        applied = session.patch(f"{url}/{QUERY['metadata']['name']}", data=json.dumps({**QUERY, "spec": merge["spec"]}),
                                params={"fieldManager": "big", "force": "true"}, timeout=30,
                                headers={"Content-Type": "application/apply-patch+yaml"})
        status = assert_kubernetes_status(applied, 413)
        assert status["message"].endswith(f"limit is {GUARDED_MAX_OBJECT_BYTES}")
        assert session.get(f"{url}/{QUERY['metadata']['name']}", timeout=30).json() == created
    finally:
        session.close()


def test_a_request_past_its_timeout_is_504(limited_server, namespace):
    """A request still running after --request-timeout (1 s here; this one waits 3 s for a
    revision the store has not reached) is answered 504 as kube-apiserver's timeout filter does."""
    session = limited_server.session()
    try:
        response = session.get(f"{limited_server.url}{GROUP_VERSION}/namespaces/{namespace}/queries",
                               params={"resourceVersion": str(10**12)}, timeout=30)
    finally:
        session.close()
    status = assert_kubernetes_status(response, 504)
    assert (status["reason"], status["message"]) == (
        "Timeout", "Timeout: request did not complete within requested timeout - context deadline exceeded")


def test_watches_beyond_the_cap_are_429_with_retry_after(limited_server, namespace):
    """Each worker holds at most --max-watches (2 here) open watches; one more is 429 with
    Retry-After, and a place is free again once a watch ends."""
    url = f"{limited_server.url}{GROUP_VERSION}/namespaces/{namespace}/queries"
    sessions = [limited_server.session() for _ in range(4)]
    watches = [sessions[i].get(url, params={"watch": "true", "timeoutSeconds": "60"}, stream=True, timeout=30)
               for i in range(2)]
    try:
        assert [w.status_code for w in watches] == [200, 200]
        refused = sessions[2].get(url, params={"watch": "true"}, timeout=30)
        status = assert_kubernetes_status(refused, 429)
        assert (status["reason"], refused.headers["Retry-After"]) == ("TooManyRequests", "1")
        assert session_list_works(sessions[2], url)  # a list is not a watch: it is served
        watches.pop().close()
        deadline = time.monotonic() + 30
        while True:
            again = sessions[3].get(url, params={"watch": "true", "timeoutSeconds": "1"}, timeout=30)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 200, again.text
    finally:
        for watch in watches:
            watch.close()
        for session in sessions:
            session.close()


def session_list_works(session, url: str) -> bool:
    return session.get(url, timeout=30).status_code == 200
