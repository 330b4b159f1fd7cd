"""A small HTTPS stand-in for kube-apiserver: enough for ``helm install --dry-run=server`` and for
the Ark server's delegated authentication, authorization and namespace checks.

``helm template`` answers every ``lookup`` with nothing, so the chart's cluster-dependent
behaviour (the CRD-collision guard, reusing the self-signed certificate) can only be seen by a
helm that talks to an API server. Against this one, helm v4 reads ``/version`` and discovery
(``/api``, ``/apis``, one resource list per group-version, as kube-apiserver serves them for the
built-in kinds the chart renders), lists its release Secrets, runs the chart's lookups (the CRD
list, the TLS Secret) and GETs each rendered object to check nobody else owns it. Objects a test
adds are served by name and in their collection's list (``fieldSelector=metadata.name=`` filters
it) and watched (``watch=1``: every change after ``resourceVersion``, one JSON event a line,
until ``timeoutSeconds``); any other object is a 404 ``Status``, and any other collection an
empty list.

For the Ark server in delegated mode it also answers what kube-apiserver answers an aggregated
server: TokenReviews (``tokens``: bearer token -> user) and SubjectAccessReviews (``authorize``:
the review's spec -> allowed, reason), both only for a caller presenting ``server_token``.
And it can be the aggregator in front of the Ark server (:meth:`KubeAPI.aggregate`): requests
for ``ark.mckinsey.com`` and OpenAPI are authenticated by their bearer token and proxied with the
front-proxy client certificate and the ``X-Remote-*`` headers, as kube-apiserver proxies them, so
kubectl can be pointed at this stand-in.

Standing in for a cluster that keeps Ark's kinds as CRDs (what ``python -m ark import
--from-cluster`` reads before the APIServices are switched), it serves the Ark objects a test
adds, as kube-apiserver serves custom resources: only while the kind's CRD is added too
(:func:`crd`), by name and in lists of one namespace or all of them, paged (``limit``,
``continue``) and filtered by ``labelSelector``.

Every request is recorded (paths, query strings, review bodies), so tests can count what the
server asked.
"""
from __future__ import annotations

import copy
import http.client
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import yaml

from ark.kinds import REGISTRY
from ark.kinds.registry import Kind
from ark.machinery import selectors
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
TOKENREVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECTACCESSREVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
AUTH_CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
AGGREGATED_GROUP = "ark.mckinsey.com"
AGGREGATED_VERSIONS = ("v1alpha1", "v1prealpha1")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-connection", "host", "content-length"}

Authorize = Callable[[dict[str, Any]], tuple[bool, str]]


def deny_everything(_spec: dict[str, Any]) -> tuple[bool, str]:
    return False, ""


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


@dataclass
class Aggregation:
    """The Ark server behind the stand-in, and the front-proxy client certificate to reach it with."""

    url: str
    ca_file: str
    cert_file: str
    key_file: str

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass
class KubeAPI:
    """What the stand-in serves (tests :meth:`add` objects) and what it was asked."""

    url: str = ""
    ca_file: str = ""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # object path -> object
    requests: list[str] = field(default_factory=list)  # paths
    queries: list[str] = field(default_factory=list)  # paths with their query strings
    lock: threading.Condition = field(default_factory=threading.Condition)
    # Delegated authentication and authorization.
    server_token: str = "ark-server-token"  # the credential the Ark server calls with (its service account)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # bearer token -> TokenReview status.user
    authorize: Authorize = deny_everything
    token_reviews: list[str] = field(default_factory=list)  # the tokens asked about
    access_reviews: list[dict[str, Any]] = field(default_factory=list)  # the SubjectAccessReview specs asked
    callers: list[str] = field(default_factory=list)  # the Authorization header of every request
    # Watches: every change, in order.
    revision: int = 1
    changes: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)  # (rv, type, path, object)
    closing: bool = False
    # Failures to answer with: path -> HTTP codes, one per request until used up (see fail()).
    failures: dict[str, list[int]] = field(default_factory=dict)
    # The aggregator: proxied requests and the Audit-Id each carried.
    upstream: Aggregation | None = None
    proxied: list[tuple[str, str]] = field(default_factory=list)  # (path, Audit-Id)

    def add(self, obj: dict[str, Any]) -> str:
        """Serve ``obj`` (a built-in kind) from now on, or its new content; watchers see the change."""
        path = object_path(obj)
        with self.lock:
            self.revision += 1
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.revision)
            change = "MODIFIED" if path in self.objects else "ADDED"
            self.objects[path] = obj
            self.changes.append((self.revision, change, path, obj))
            self.lock.notify_all()
        return path

    def remove(self, path: str) -> None:
        with self.lock:
            obj = self.objects.pop(path)
            self.revision += 1
            self.changes.append((self.revision, "DELETED", path, obj))
            self.lock.notify_all()

    def fail(self, path: str, *codes: int) -> None:
        """Answer the next requests for ``path`` with these codes (a Status each), in order."""
        with self.lock:
            self.failures.setdefault(path, []).extend(codes)

    def failure(self, path: str) -> tuple[int, dict[str, Any]] | None:
        with self.lock:
            codes = self.failures.get(path)
            if not codes:
                return None
            code = codes.pop(0)
        reasons = {403: "Forbidden", 500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}
        return code, status(code, reasons.get(code, "Unknown"), f"the stand-in was told to fail {path} with {code}")

    def aggregate(self, upstream: Aggregation) -> None:
        self.upstream = upstream

    def kubeconfig(self, path: Path, token: str | None = None) -> Path:
        """A kubeconfig for this stand-in, with ``token`` (a placeholder when not given)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "standin", "user": {"token": token or "standin-token"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
            "current-context": "standin",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def asked(self, path: str) -> int:
        with self.lock:
            return sum(1 for p in self.requests if p == path)

    def record(self, target: str, authorization: str) -> None:
        with self.lock:
            self.requests.append(urlsplit(target).path)
            self.queries.append(target)
            self.callers.append(authorization)

    def answer(self, target: str) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        path = url.path
        with self.lock:
            objects = dict(self.objects)
        if path == "/version":
            return 200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return 200, _group_list(self.upstream is not None)
        for (group, version), resources in BUILTIN_RESOURCES.items():
            if path == _group_version_path(group, version):
                return 200, _resource_list(group, version, resources)
        if path in objects:
            return 200, objects[path]
        served = _ark_collection(path, objects)
        if served is not None:
            return 200, self._ark_list(path, served, objects, parse_qs(url.query))
        kind = _collection_kind(path)
        if kind is not None:
            wanted = _name_selected(url.query)
            items = [o for p, o in sorted(objects.items()) if p.rsplit("/", 1)[0] == path
                     and wanted in (None, o["metadata"]["name"])]
            with self.lock:
                revision = self.revision
            return 200, {"kind": kind + "List", "apiVersion": "v1", "metadata": {"resourceVersion": str(revision)},
                         "items": items}
        return 404, status(404, "NotFound", f"{path} not found")

    def _ark_list(self, path: str, kind: Kind, objects: dict[str, dict[str, Any]],
                  query: dict[str, list[str]]) -> dict[str, Any]:
        """One page of a custom resource list; the continue token is the offset of the next item."""
        requirements = selectors.parse_label_selector((query.get("labelSelector") or [""])[0])
        namespaced = "/namespaces/" in path
        items = [o for p, o in sorted(objects.items()) if p.startswith(f"/apis/{kind.api_version}/namespaces/")
                 and p.rsplit("/", 2)[1] == kind.plural and (not namespaced or p.rsplit("/", 1)[0] == path)
                 and selectors.matches(requirements, o["metadata"].get("labels"))]
        start = int((query.get("continue") or ["0"])[0])
        limit = int((query.get("limit") or ["0"])[0]) or len(items)
        with self.lock:
            metadata = {"resourceVersion": str(self.revision)}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        return {"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": metadata,
                "items": items[start:start + limit]}

    def review(self, path: str, body: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any]]:
        """A TokenReview or SubjectAccessReview, for the server's own credential only."""
        if authorization != f"Bearer {self.server_token}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        spec = body.get("spec") or {}
        if path == TOKENREVIEWS:
            with self.lock:
                self.token_reviews.append(spec.get("token", ""))
                user = self.tokens.get(spec.get("token", ""))
            review_status: dict[str, Any] = {"authenticated": False, "error": "invalid bearer token"}
            if user is not None:
                user = dict(user, groups=[*user.get("groups", []), "system:authenticated"])
                review_status = {"authenticated": True, "user": user}
        else:
            with self.lock:
                self.access_reviews.append(spec)
            allowed, reason = self.authorize(spec)
            review_status = {"allowed": allowed}
            if reason:
                review_status["reason"] = reason
        return 201, dict(body, status=review_status)

    def changes_after(self, path: str, revision: int, wanted: str | None) -> list[tuple[int, str, dict[str, Any]]]:
        with self.lock:
            return [(rv, change, obj) for rv, change, object_at, obj in self.changes
                    if rv > revision and object_at.rsplit("/", 1)[0] == path
                    and wanted in (None, obj["metadata"]["name"])]


def _name_selected(query: str) -> str | None:
    """The name of ``fieldSelector=metadata.name=<name>``, if the query has one."""
    selector = (parse_qs(query).get("fieldSelector") or [""])[0]
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if key == "metadata.name":
            return value
    return None


def object_path(obj: dict[str, Any]) -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    if group == AGGREGATED_GROUP:
        (kind,) = [k for k in REGISTRY if k.version == version and k.kind == obj["kind"]]
        return f"/apis/{obj['apiVersion']}/namespaces/{obj['metadata']['namespace']}/{kind.plural}/" \
               f"{obj['metadata']['name']}"
    (resource, namespaced), = [(name, namespaced) for name, kind, namespaced in BUILTIN_RESOURCES[(group, version)]
                               if kind == obj["kind"]]
    base = _group_version_path(group, version)
    if namespaced:
        base += f"/namespaces/{obj['metadata']['namespace']}"
    return f"{base}/{resource}/{obj['metadata']['name']}"


def _ark_collection(path: str, objects: dict[str, dict[str, Any]]) -> Kind | None:
    """The Ark kind listed at ``path`` (all namespaces or one), when its CRD is installed."""
    parts = path.removeprefix(f"/apis/{AGGREGATED_GROUP}/").split("/")
    if not path.startswith(f"/apis/{AGGREGATED_GROUP}/") or len(parts) not in (2, 4) \
            or (len(parts) == 4 and parts[1] != "namespaces"):
        return None
    kind = REGISTRY.lookup(parts[0], parts[-1])
    if kind is None or f"{CRDS_PATH}/{kind.plural}.{AGGREGATED_GROUP}" not in objects:
        return None
    return kind


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


def _group_list(aggregating: bool) -> dict[str, Any]:
    groups = []
    for group, version in BUILTIN_RESOURCES:
        if group:
            gv = {"groupVersion": f"{group}/{version}", "version": version}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    if aggregating:
        versions = [{"groupVersion": f"{AGGREGATED_GROUP}/{v}", "version": v} for v in AGGREGATED_VERSIONS]
        groups.append({"name": AGGREGATED_GROUP, "versions": versions, "preferredVersion": versions[0]})
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


def namespace(name: str, phase: str = "Active") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": phase}}


def auth_configmap(client_ca: bytes | None, front_proxy_ca: bytes | None,
                   allowed_names: tuple[str, ...] = ("front-proxy-client",)) -> dict[str, Any]:
    """``kube-system/extension-apiserver-authentication`` as kube-apiserver writes it."""
    data: dict[str, str] = {}
    if client_ca is not None:
        data["client-ca-file"] = client_ca.decode()
    if front_proxy_ca is not None:
        data.update({
            "requestheader-client-ca-file": front_proxy_ca.decode(),
            "requestheader-allowed-names": json.dumps(list(allowed_names)),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-uid-headers": json.dumps(["X-Remote-Uid"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        })
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"}, "data": data}


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPI
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked watch streams

    def do_GET(self) -> None:
        if self._proxied():
            return
        self.api.record(self.path, self.headers.get("Authorization") or "")
        failure = self.api.failure(urlsplit(self.path).path)
        if failure is not None:
            self._send(*failure)
            return
        query = parse_qs(urlsplit(self.path).query)
        if (query.get("watch") or ["0"])[0] in ("1", "true") and _collection_kind(urlsplit(self.path).path):
            self._watch(query)
            return
        self._send(*self.api.answer(self.path))

    def do_POST(self) -> None:
        if self._proxied():
            return
        authorization = self.headers.get("Authorization") or ""
        self.api.record(self.path, authorization)
        body = json.loads(self._body() or b"{}")
        path = urlsplit(self.path).path
        failure = self.api.failure(path)
        if failure is not None:
            self._send(*failure)
        elif path in (TOKENREVIEWS, SUBJECTACCESSREVIEWS):
            self._send(*self.api.review(path, body, authorization))
        else:
            self._send(405, status(405, "MethodNotAllowed", f"POST {path} is not served by the stand-in"))

    def do_PUT(self) -> None:
        self._proxy_only()

    def do_PATCH(self) -> None:
        self._proxy_only()

    def do_DELETE(self) -> None:
        self._proxy_only()

    def _proxy_only(self) -> None:
        if not self._proxied():
            self._send(405, status(405, "MethodNotAllowed", f"the stand-in serves no {self.command}"))

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, query: dict[str, list[str]]) -> None:
        url = urlsplit(self.path)
        revision = int((query.get("resourceVersion") or ["0"])[0] or 0)
        deadline = time.monotonic() + float((query.get("timeoutSeconds") or ["30"])[0])
        wanted = _name_selected(url.query)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                for rv, change, obj in self.api.changes_after(url.path, revision, wanted):
                    self._chunk(json.dumps({"type": change, "object": obj}).encode() + b"\n")
                    revision = rv
                with self.api.lock:
                    remaining = deadline - time.monotonic()
                    if self.api.closing or remaining <= 0:
                        break
                    if not self.api.changes_after(url.path, revision, wanted):
                        self.api.lock.wait(timeout=min(remaining, 1.0))
            self._chunk(b"")
        except OSError:  # the watcher went away
            self.close_connection = True

    # The aggregator ---------------------------------------------------------------------------

    def _proxied(self) -> bool:
        """Proxy the request to the Ark server if it is one of its paths; True if it was."""
        upstream, path = self.api.upstream, urlsplit(self.path).path
        if upstream is None or not path.startswith((f"/apis/{AGGREGATED_GROUP}", "/openapi/")):
            return False
        body = self._body()
        authorization = self.headers.get("Authorization") or ""
        user = self.api.tokens.get(authorization.removeprefix("Bearer ").strip()) if authorization else None
        if user is None:
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return True
        audit_id = self.headers.get("Audit-Id") or str(uuid.uuid4())
        with self.api.lock:
            self.api.proxied.append((path, audit_id))
        target = urlsplit(upstream.url)
        connection = http.client.HTTPSConnection(target.hostname or "", target.port, context=upstream.context(),
                                                 timeout=120)
        try:
            connection.putrequest(self.command, self.path, skip_accept_encoding=True)
            for name, value in self.headers.items():
                lowered = name.lower()
                if lowered in HOP_BY_HOP or lowered in ("authorization", "audit-id") or lowered.startswith("x-remote-"):
                    continue
                connection.putheader(name, value)
            connection.putheader("X-Remote-User", user["username"])
            for group in [*user.get("groups", []), "system:authenticated"]:
                connection.putheader("X-Remote-Group", group)
            for key, values in (user.get("extra") or {}).items():
                for value in values:
                    connection.putheader(f"X-Remote-Extra-{quote(key, safe='')}", value)
            connection.putheader("Audit-Id", audit_id)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while data := response.read1(65536):
                self._chunk(data)
            self._chunk(b"")
        except OSError:
            self.close_connection = True
        finally:
            connection.close()
        return True

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
        with api.lock:
            api.closing = True
            api.lock.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
