"""``make install``, ``make uninstall`` and ``make build`` as a user runs them. install and uninstall
reach the stand-in kube-apiserver (tests/deploy/kubeapi.py) through KUBECONFIG; install runs as a
server-side dry run (HELM_ARGS), which is everything but the final writes. No Docker engine runs
here, so build is only checked up to the command it would run.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import REPO
from tests.deploy.conftest import parse
from tests.deploy.kubeapi import kube_api

DRY_RUN = "HELM_ARGS=--dry-run=server --disable-openapi-validation --output json"


@pytest.fixture
def cluster(tmp_path: Path):
    with kube_api(tmp_path) as api:
        yield api


def make(*args: str, kubeconfig: Path | None = None, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "HELM_"))}
    env.update({"HOME": str(home), "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
                "HELM_DATA_HOME": str(home / "data"), "KUBECONFIG": str(kubeconfig or home / "no-kubeconfig")})
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def release_of(result: subprocess.CompletedProcess) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(line)


def test_make_install_with_postgresql_and_a_values_file(cluster, tmp_path):
    result = make("install", "STORAGE=postgresql", "VALUES=k8s/values-postgresql.yaml", DRY_RUN,
                  kubeconfig=cluster.kubeconfig(tmp_path / "kubeconfig"), home=tmp_path)
    release = release_of(result)
    assert (release["name"], release["namespace"]) == ("ark-apiserver", "ark-system")
    assert release["config"]["storage"]["driver"] == "postgresql"
    objects = parse(release["manifest"])
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ARK_POSTGRES_HOST"] == "postgres.example.com"
    assert [h["name"] for h in release["hooks"]] == ["ark-apiserver-migrate"]
    # helm looked for an earlier release of this name before installing.
    assert any(urlsplit(q).path == "/api/v1/namespaces/ark-system/secrets" for q in cluster.queries)
    assert "kubectl get apiservice v1alpha1.ark.mckinsey.com" in result.stdout


def test_make_install_defaults_to_sqlite_and_takes_namespace_and_release(cluster, tmp_path):
    release = release_of(make("install", "NAMESPACE=ark-test", "RELEASE=ark", DRY_RUN,
                              kubeconfig=cluster.kubeconfig(tmp_path / "kubeconfig"), home=tmp_path))
    assert (release["name"], release["namespace"]) == ("ark", "ark-test")
    objects = parse(release["manifest"])
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == "ark-test"
    assert deployment["spec"]["replicas"] == 1
    assert any(o["kind"] == "PersistentVolumeClaim" for o in objects)


def test_make_install_refuses_an_unknown_storage_before_calling_helm(cluster, tmp_path):
    result = make("install", "STORAGE=mysql", kubeconfig=cluster.kubeconfig(tmp_path / "kubeconfig"), home=tmp_path)
    assert result.returncode == 2
    assert 'STORAGE must be sqlite or postgresql, got "mysql"' in result.stderr
    assert cluster.requests == []


def test_make_uninstall_removes_the_release_of_the_namespace(cluster, tmp_path):
    result = make("uninstall", "NAMESPACE=ark-test", "RELEASE=ark", "HELM_ARGS=--ignore-not-found",
                  kubeconfig=cluster.kubeconfig(tmp_path / "kubeconfig"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    lookups = [parse_qs(urlsplit(q).query) for q in cluster.queries
               if urlsplit(q).path == "/api/v1/namespaces/ark-test/secrets"]
    assert lookups and all("name=ark" in s["labelSelector"][0].split(",") for s in lookups)


def test_make_help_lists_the_deployment_targets(tmp_path):
    result = make("help", home=tmp_path)
    listed = {line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert {"install", "uninstall", "build", "test", "migrate"} <= listed


def test_make_build_builds_the_image_tagged_with_the_charts_version(tmp_path):
    planned = make("-n", "build", home=tmp_path)
    assert "docker build -t ark-apiserver:0.1.0 ." in planned.stdout
    missing = make("build", "DOCKER=no-such-docker", home=tmp_path)
    assert missing.returncode == 2
    assert "make build needs no-such-docker" in missing.stderr
