"""The server in delegated mode, behind a stand-in kube-apiserver (tests/deploy/kubeapi.py).

The stand-in serves the authentication ConfigMap (a client CA and a front-proxy CA made here),
namespaces, TokenReviews and SubjectAccessReviews, and proxies kubectl's requests to the server
with the front-proxy certificate as kube-apiserver's aggregator does. Every test acts as users of
its own (:class:`Actor`): their names are unique, so the server's 10 s review caches never carry
one test's answers into another.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.conftest import DRIVERS, KUBECTL, Database, Server, ca_session, fresh_database, start_server, stop_server
from tests.deploy.kubeapi import Aggregation, KubeAPI, auth_configmap, kube_api, namespace
from tests.security.pki import CA, Pair

GROUP_PATH = "/apis/ark.mckinsey.com/v1alpha1"
T = TypeVar("T")
FRONT_PROXY_CN = "front-proxy-client"


@dataclass
class PKI:
    """The CAs the cluster trusts, and certificates they issued."""

    client_ca: CA
    front_proxy_ca: CA
    stranger_ca: CA  # trusted by nobody
    front_proxy: Pair  # kube-apiserver's proxy client certificate
    wrong_proxy: Pair  # from the front-proxy CA, but a CN that is not allowed
    carol: Pair  # a user certificate from the client CA (O: ark-devs)
    stranger: Pair

    @classmethod
    def make(cls, directory: Path) -> PKI:
        client_ca = CA(directory, "client-ca")
        front_proxy_ca = CA(directory, "front-proxy-ca")
        stranger_ca = CA(directory, "stranger-ca")
        return cls(client_ca, front_proxy_ca, stranger_ca,
                   front_proxy_ca.issue("front-proxy", FRONT_PROXY_CN),
                   front_proxy_ca.issue("wrong-proxy", "not-the-front-proxy"),
                   client_ca.issue("carol", "carol", ("ark-devs",)),
                   stranger_ca.issue("stranger", "stranger"))


class Policy:
    """The stand-in's SubjectAccessReview answers: a known user may do anything it was not denied."""

    def __init__(self) -> None:
        self.allowed: set[str] = set()
        self.denied: dict[tuple[str, str], str] = {}  # (user, verb) -> reason

    def __call__(self, spec: dict[str, Any]) -> tuple[bool, str]:
        attributes = spec.get("resourceAttributes") or spec.get("nonResourceAttributes") or {}
        key = (spec.get("user", ""), attributes.get("verb", ""))
        if key in self.denied:
            return False, self.denied[key]
        return spec.get("user") in self.allowed, ""


@dataclass
class Actor:
    """A user of the cluster with a bearer token the stand-in knows."""

    name: str
    token: str
    cluster: KubeAPI
    policy: Policy
    groups: list[str] = field(default_factory=list)

    def deny(self, verb: str, reason: str = "") -> None:
        self.policy.denied[(self.name, verb)] = reason

    def reviews(self, verb: str | None = None) -> list[dict[str, Any]]:
        """The SubjectAccessReviews the server asked about this user (for ``verb``)."""
        with self.cluster.lock:
            specs = list(self.cluster.access_reviews)
        return [s for s in specs if s.get("user") == self.name
                and verb in (None, (s.get("resourceAttributes") or s.get("nonResourceAttributes") or {}).get("verb"))]

    def token_reviews(self) -> int:
        with self.cluster.lock:
            return self.cluster.token_reviews.count(self.token)


@dataclass
class Delegated:
    """A server in delegated mode, the stand-in it delegates to, and the PKI of both."""

    server: Server
    cluster: KubeAPI
    pki: PKI
    policy: Policy
    audit_log: Path
    workdir: Path

    def actor(self, prefix: str = "user", groups: tuple[str, ...] = (), allowed: bool = True) -> Actor:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        token = f"token-{uuid.uuid4().hex}"
        self.cluster.tokens[token] = {"username": name, "uid": f"uid-{name}", "groups": list(groups)}
        if allowed:
            self.policy.allowed.add(name)
        return Actor(name, token, self.cluster, self.policy, list(groups))

    def namespace(self, phase: str = "Active") -> str:
        """A namespace the cluster has (the server refuses creates into any other)."""
        name = f"t-{uuid.uuid4().hex[:12]}"
        self.cluster.add(namespace(name, phase))
        return name

    def session(self, actor: Actor | None = None, cert: Pair | None = None) -> requests.Session:
        """HTTPS straight to the server, with a bearer token or a client certificate (or neither)."""
        session = ca_session(self.server.ca_file)
        if actor is not None:
            session.headers["Authorization"] = f"Bearer {actor.token}"
        if cert is not None:
            session.cert = cert.files()
        return session

    def url(self, path: str) -> str:
        return self.server.url + path

    def kubectl(self, actor: Actor, *args: str, binary: Path = KUBECTL, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        """kubectl as ``actor``, through the stand-in kube-apiserver (the aggregator)."""
        kubeconfig = self.cluster.kubeconfig(self.workdir / f"kubeconfig-{actor.name}", token=actor.token)
        return subprocess.run([str(binary), "--kubeconfig", str(kubeconfig), "--cache-dir",
                               str(self.workdir / f"kube-cache-{actor.name}"), *args], input=input,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def audit_events(self, audit_id: str | None = None) -> list[dict[str, Any]]:
        lines = self.audit_log.read_text().splitlines() if self.audit_log.exists() else []
        events = [json.loads(line) for line in lines]
        return [e for e in events if audit_id in (None, e["auditID"])]


def delegation_flags(cluster: KubeAPI, workdir: Path) -> list[str]:
    kubeconfig = cluster.kubeconfig(workdir / "server-kubeconfig", token=cluster.server_token)
    return ["--auth-mode", "delegated", "--authentication-kubeconfig", str(kubeconfig),
            "--authorization-kubeconfig", str(kubeconfig)]


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> PKI:
    return PKI.make(tmp_path_factory.mktemp("pki"))


@contextmanager
def delegated_server(database: Database, workdir: Path, pki: PKI, extra: tuple[str, ...] = (), workers: int = 2,
                     ca_file: Path | None = None, prepare: Callable[[KubeAPI], None] | None = None,
                     wait: bool = True) -> Iterator[Delegated]:
    """The stand-in (ConfigMap with both CAs; ``prepare`` may change it), then the server on
    ``database`` delegating to it, then the stand-in aggregating the server."""
    with kube_api(workdir) as cluster:
        policy = Policy()
        cluster.authorize = policy
        cluster.add(auth_configmap(pki.client_ca.pem, pki.front_proxy_ca.pem, (FRONT_PROXY_CN,)))
        if prepare is not None:
            prepare(cluster)
        audit_log = workdir / "audit" / "audit.log"
        flags = [*delegation_flags(cluster, workdir), "--audit-log-path", str(audit_log), *extra]
        server = start_server(database, workdir, workers=workers, extra=flags, ca_file=ca_file, wait=wait)
        try:
            cluster.aggregate(Aggregation(server.url, str(server.ca_file), *pki.front_proxy.files()))
            yield Delegated(server, cluster, pki, policy, audit_log, workdir)
        finally:
            stop_server(server)


@pytest.fixture(scope="session", params=DRIVERS)
def delegated(request, tmp_path_factory, pki) -> Iterator[Delegated]:
    """A delegated server on each database, shared by the session (tests use their own users and
    namespaces)."""
    with fresh_database(request.param, tmp_path_factory) as database, \
            delegated_server(database, tmp_path_factory.mktemp(f"delegated-{request.param}"), pki) as running:
        yield running


@contextmanager
def own_server(tmp_path: Path, pki: PKI, *extra: str, **options: Any) -> Iterator[Delegated]:
    """A delegated server of the test's own, on a fresh SQLite file: for tests that change what
    the cluster trusts, what the server serves or how it starts (``options``: delegated_server's)."""
    with fresh_database("sqlite", _Directories(tmp_path)) as database, \
            delegated_server(database, tmp_path / "server", pki, extra, **options) as running:
        yield running


@pytest.fixture
def sqlite_delegated(tmp_path, pki) -> Iterator[Delegated]:
    with own_server(tmp_path, pki) as running:
        yield running


class _Directories:
    """The tmp_path_factory ``fresh_database`` wants, inside a test's own tmp_path."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir()
        return path


def eventually(check: Callable[[], T | None], what: str, attempts: int = 300, pause: float = 0.05) -> T:
    """The first truthy answer of ``check`` (mind that a requests Response is falsy unless 2xx),
    asked at most ``attempts`` times: the server notices changes in the cluster or on disk by
    itself; this waits for it to have done so."""
    for _ in range(attempts):
        answer = check()
        if answer:
            return answer
        time.sleep(pause)
    raise AssertionError(f"{what}: not after {attempts} tries")
