"""A small HTTPS stand-in for kube-apiserver, enough for ``helm install --dry-run=server``.

``helm template`` answers every ``lookup`` with nothing, so the chart's cluster-dependent
behaviour (the CRD-collision guard, reusing the self-signed certificate) can only be seen by a
helm that talks to an API server. Against this one, helm v4 reads ``/version`` and discovery
(``/api``, ``/apis``, one resource list per group-version, as kube-apiserver serves them for the
built-in kinds the chart renders), lists its release Secrets, runs the chart's lookups (the CRD
list, the TLS Secret) and GETs each rendered object to check nobody else owns it. Objects a test
adds are served by name and in their collection's list; any other object is a 404 ``Status``, and
any other collection an empty list. Requests are recorded so tests can prove helm asked.
"""
from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ark.security.tls import ensure_serving_cert
from ark.settings import Settings

# (group, version) -> [(resource, kind, namespaced)]: the built-in kinds the chart renders and looks up.
BUILTIN_RESOURCES: dict[tuple[str, str], list[tuple[str, str, bool]]] = {
    ("", "v1"): [
        ("namespaces", "Namespace", False),
        ("secrets", "Secret", True),
        ("services", "Service", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ("configmaps", "ConfigMap", True),
    ],
    ("apps", "v1"): [("deployments", "Deployment", True)],
    ("batch", "v1"): [("jobs", "Job", True)],
    ("policy", "v1"): [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    ("rbac.authorization.k8s.io", "v1"): [
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
    ],
    ("apiregistration.k8s.io", "v1"): [("apiservices", "APIService", False)],
    ("apiextensions.k8s.io", "v1"): [("customresourcedefinitions", "CustomResourceDefinition", False)],
}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass
class KubeAPI:
    """What the stand-in serves (tests :meth:`add` objects) and what it was asked."""

    url: str = ""
    ca_file: str = ""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # object path -> object
    requests: list[str] = field(default_factory=list)  # paths
    queries: list[str] = field(default_factory=list)  # paths with their query strings
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, obj: dict[str, Any]) -> str:
        """Serve ``obj`` (a built-in kind) from now on; returns its path."""
        path = object_path(obj)
        with self.lock:
            self.objects[path] = obj
        return path

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "standin", "user": {"token": "standin-token"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
            "current-context": "standin",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def asked(self, path: str) -> int:
        with self.lock:
            return sum(1 for p in self.requests if p == path)

    def answer(self, target: str) -> tuple[int, dict[str, Any]]:
        path = urlsplit(target).path
        with self.lock:
            self.requests.append(path)
            self.queries.append(target)
            objects = dict(self.objects)
        if path == "/version":
            return 200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return 200, _group_list()
        for (group, version), resources in BUILTIN_RESOURCES.items():
            if path == _group_version_path(group, version):
                return 200, _resource_list(group, version, resources)
        if path in objects:
            return 200, objects[path]
        kind = _collection_kind(path)
        if kind is not None:
            items = [o for p, o in sorted(objects.items()) if p.rsplit("/", 1)[0] == path]
            return 200, {"kind": kind + "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                         "items": items}
        return 404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": f"{path} not found", "reason": "NotFound", "code": 404}


def object_path(obj: dict[str, Any]) -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    (resource, namespaced), = [(name, namespaced) for name, kind, namespaced in BUILTIN_RESOURCES[(group, version)]
                               if kind == obj["kind"]]
    base = _group_version_path(group, version)
    if namespaced:
        base += f"/namespaces/{obj['metadata']['namespace']}"
    return f"{base}/{resource}/{obj['metadata']['name']}"


def _collection_kind(path: str) -> str | None:
    """The kind listed at ``path`` when it is a collection of a built-in resource."""
    for (group, version), resources in BUILTIN_RESOURCES.items():
        prefix = _group_version_path(group, version) + "/"
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        if len(parts) == 3 and parts[0] == "namespaces":
            parts = parts[2:]
        for name, kind, _namespaced in resources:
            if parts == [name]:
                return kind
    return None


def _group_version_path(group: str, version: str) -> str:
    return f"/api/{version}" if group == "" else f"/apis/{group}/{version}"


def _group_list() -> dict[str, Any]:
    groups = []
    for group, version in BUILTIN_RESOURCES:
        if group:
            gv = {"groupVersion": f"{group}/{version}", "version": version}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_list(group: str, version: str, resources: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [{"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                       "verbs": VERBS} for name, kind, namespaced in resources],
    }


def crd(plural: str, kind: str, group: str, version: str) -> dict[str, Any]:
    """A CustomResourceDefinition as the list returns it (the fields the chart's guard reads, and a few more)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "resourceVersion": "1"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": plural, "kind": kind, "singular": kind.lower(), "listKind": kind + "List"},
                 "versions": [{"name": version, "served": True, "storage": True}]},
    }


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPI

    def do_GET(self) -> None:
        status, body = self.api.answer(self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recorded paths are the log


@contextmanager
def kube_api(workdir: Path) -> Iterator[KubeAPI]:
    """The stand-in on a free loopback port, with a CA made for it; stopped on exit."""
    cert = ensure_serving_cert(Settings(cert_dir=str(workdir / "certs")))
    api = KubeAPI(ca_file=cert.ca_file)
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    api.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="kube-api-standin", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
