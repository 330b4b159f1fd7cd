"""Helpers for the REST tests: URLs and bodies of Ark objects on the real server.

Imported by the test modules of this folder (``from arkrest import ...``); the ``ark``
fixture in ``conftest.py`` hands out an :class:`Ark` bound to the test's own namespace.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import requests

GROUP = "ark.mckinsey.com"
V1ALPHA1 = f"{GROUP}/v1alpha1"
V1PREALPHA1 = f"{GROUP}/v1prealpha1"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
STRATEGIC = "application/strategic-merge-patch+json"
TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"
KUBECTL_GET_ACCEPT = f"{TABLE_V1},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

#: What a Query asks when a test does not care: a label selector, which admission does not look
#: up (a named target must exist; docs/admission.md).
ANY_AGENT = {"matchLabels": {"app": "test"}}
# A minimal valid spec for the kinds the tests use, keyed by plural.
SPECS: dict[str, dict[str, Any]] = {
    "queries": {"input": "hello", "selector": ANY_AGENT},
    "tools": {"type": "agent", "agent": {"name": "helper"}},
    "a2aservers": {"address": {"value": "http://a2a.example:8080"}},
    "executionengines": {"address": {"value": "http://engine.example:8080"}, "type": "langgraph"},
    "mcpservers": {"address": {"value": "http://mcp.example:8080"}},
    "agents": {"prompt": "You help.", "modelRef": {"name": "default"}},
}
KINDS = {"queries": "Query", "agents": "Agent", "tools": "Tool", "a2aservers": "A2AServer",
         "executionengines": "ExecutionEngine", "mcpservers": "MCPServer"}
VERSIONS = {"a2aservers": "v1prealpha1", "executionengines": "v1prealpha1"}


def obj(name: str | None = None, plural: str = "queries", *, spec: dict | None = None, **metadata: Any) -> dict:
    """An Ark object body of the kind served at ``plural``."""
    meta = dict(metadata)
    if name is not None:
        meta["name"] = name
    return {
        "apiVersion": f"{GROUP}/{VERSIONS.get(plural, 'v1alpha1')}",
        "kind": KINDS[plural],
        "metadata": meta,
        "spec": copy.deepcopy(SPECS[plural] if spec is None else spec),
    }


def warnings_of(response: requests.Response) -> list[str]:
    """The texts of the ``Warning: 299 - "..."`` headers, as kubectl prints them."""
    raw = response.raw.headers.getlist("Warning") if response.raw is not None else []
    out = []
    for header in raw:
        for part in _split_warnings(header):
            code, _, rest = part.strip().partition(" ")
            assert code == "299", header
            agent, _, text = rest.partition(" ")
            assert agent == "-", header
            out.append(json.loads(text))
    return out


def _split_warnings(header: str) -> list[str]:
    """Split one header line on commas outside the quoted text."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in header:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def assert_status(response: requests.Response, code: int, reason: str) -> dict:
    """The response is a Kubernetes Status with ``code`` and ``reason``; returns it."""
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    status = response.json()
    assert status["kind"] == "Status", status
    assert status["apiVersion"] == "v1"
    assert status["metadata"] == {}
    assert status["status"] == "Failure"
    assert status["code"] == code
    assert status["reason"] == reason, status
    assert isinstance(status["message"], str) and status["message"]
    return status


@dataclass
class Ark:
    """The Ark API of one test: URLs in the test's namespace and a few shortcuts."""

    http: requests.Session
    server_url: str
    namespace: str

    def create_namespace(self, name: str) -> None:
        """A namespace besides the test's own (objects go only into namespaces that exist)."""
        response = self.http.post(f"{self.server_url}/api/v1/namespaces",
                                  json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        assert response.status_code == 201, response.text

    def url(self, plural: str = "queries", name: str | None = None, *, namespace: str | None = "",
            version: str | None = None, subresource: str | None = None) -> str:
        """``namespace=""`` means the test's namespace; ``None`` means all namespaces."""
        version = version or VERSIONS.get(plural, "v1alpha1")
        ns = self.namespace if namespace == "" else namespace
        path = f"{self.server_url}/apis/{GROUP}/{version}"
        if ns is not None:
            path += f"/namespaces/{ns}"
        path += f"/{plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path

    def session(self) -> requests.Session:
        """A separate session (for concurrent requests: a Session is not thread-safe)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.http.verify
        return session

    def create(self, body: dict, *, namespace: str | None = "", **params: Any) -> dict:
        plural = next(p for p, k in KINDS.items() if k == body["kind"])
        response = self.http.post(self.url(plural, namespace=namespace), json=body, params=params)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, name: str, plural: str = "queries", **params: Any) -> dict:
        response = self.http.get(self.url(plural, name), params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def list(self, plural: str = "queries", *, namespace: str | None = "", version: str | None = None,
             **params: Any) -> dict:
        response = self.http.get(self.url(plural, namespace=namespace, version=version), params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def patch(self, name: str, patch: Any, plural: str = "queries", content_type: str = MERGE,
              subresource: str | None = None, **params: Any) -> requests.Response:
        return self.http.patch(self.url(plural, name, subresource=subresource), data=json.dumps(patch),
                               headers={"Content-Type": content_type}, params=params)

    def revision(self) -> int:
        """The store's current revision, as an empty list reports it."""
        return int(self.list("queries", namespace="rv-probe")["metadata"]["resourceVersion"])
