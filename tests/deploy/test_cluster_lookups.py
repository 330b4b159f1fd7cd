"""What the chart does with what it finds in the cluster: ``helm install --dry-run=server`` against a
stand-in kube-apiserver (tests/deploy/kubeapi.py), since ``helm template`` never sees a cluster.

The CRD-collision guard (README, "Deploying to a cluster"): while ark.mckinsey.com CRDs exist, kube-apiserver
keeps serving them and takes the APIServices back, so the chart refuses unless told to take over.
The self-signed certificate: kept across upgrades, renewed when its names change.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from ark.kinds import GROUP, REGISTRY
from tests.deploy.conftest import CHART, NAMESPACE, RELEASE, one, parse, value_args
from tests.deploy.kubeapi import CRDS_PATH, KubeAPI, crd, kube_api

TLS_SECRET_PATH = f"/api/v1/namespaces/{NAMESPACE}/secrets/{RELEASE}-tls"


@pytest.fixture
def cluster(tmp_path: Path):
    with kube_api(tmp_path) as api:
        yield api


def dry_run_install(helm, cluster: KubeAPI, tmp_path: Path, sets: dict[str, Any] | None = None):
    # The stand-in serves no OpenAPI document, which helm would fetch to validate the objects;
    # test_chart.py validates them against the Kubernetes schemas instead.
    return helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=server",
                "--disable-openapi-validation", "--output", "json", *value_args((), sets),
                kubeconfig=cluster.kubeconfig(tmp_path / "kubeconfig"), check=False)


def manifest_of(result) -> list[dict[str, Any]]:
    """The objects a dry run would create (the release's manifest, hooks left out)."""
    assert result.returncode == 0, result.stderr
    return parse(json.loads(result.stdout)["manifest"])


def ark_crds() -> list[dict[str, Any]]:
    return [crd(kind.plural, kind.kind, GROUP, kind.version) for kind in REGISTRY]


def test_without_ark_crds_the_chart_installs(helm, cluster, tmp_path):
    cluster.add(crd("widgets", "Widget", "example.com", "v1"))
    objects = manifest_of(dry_run_install(helm, cluster, tmp_path))
    assert {a["metadata"]["name"] for a in objects if a["kind"] == "APIService"} == \
        {"v1alpha1.ark.mckinsey.com", "v1prealpha1.ark.mckinsey.com"}
    assert cluster.asked(CRDS_PATH) == 1


def test_ark_crds_in_the_cluster_stop_the_install_with_what_to_do(helm, cluster, tmp_path):
    for definition in [crd("widgets", "Widget", "example.com", "v1"), *ark_crds()]:
        cluster.add(definition)
    result = dry_run_install(helm, cluster, tmp_path)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "this cluster has CustomResourceDefinitions of ark.mckinsey.com (a2aservers.ark.mckinsey.com, " in message
    assert "tools.ark.mckinsey.com)" in message
    assert "widgets.example.com" not in message
    assert "kubectl get a2aservers.ark.mckinsey.com,a2atasks.ark.mckinsey.com," in message
    assert "delete the CRDs" in message and "takeOverFromCRDs=true" in message
    assert "python -m ark import --from-cluster" in message and "docs/moving-in.md" in message
    assert cluster.asked(CRDS_PATH) == 1
    # It failed while rendering: helm asked for no object of the release.
    assert not [p for p in cluster.requests if "/deployments/" in p]


def test_take_over_from_crds_registers_the_apiservices_anyway(helm, cluster, tmp_path):
    for definition in ark_crds():
        cluster.add(definition)
    objects = manifest_of(dry_run_install(helm, cluster, tmp_path, {"takeOverFromCRDs": True}))
    assert len([o for o in objects if o["kind"] == "APIService"]) == 2
    assert cluster.asked(CRDS_PATH) == 0  # not even looked up


def tls_secret(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Secret", f"{RELEASE}-tls")


def installed(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the cluster holds it after helm created it for the release (helm's ownership marks)."""
    obj["metadata"]["annotations"].update({"meta.helm.sh/release-name": RELEASE,
                                           "meta.helm.sh/release-namespace": NAMESPACE})
    return obj


def test_the_self_signed_certificate_is_kept_across_upgrades(helm, render, cluster, tmp_path):
    first = tls_secret(render())  # what a first install created
    cluster.add(installed(first))
    objects = manifest_of(dry_run_install(helm, cluster, tmp_path))
    again = tls_secret(objects)
    assert again["data"] == first["data"]
    for apiservice in (o for o in objects if o["kind"] == "APIService"):
        assert apiservice["spec"]["caBundle"] == first["data"]["ca.crt"]
    assert cluster.asked(TLS_SECRET_PATH) >= 1  # the chart's lookup, and helm's ownership check


def test_new_names_get_a_new_serving_certificate_from_the_same_ca(helm, render, cluster, tmp_path):
    first = tls_secret(render())
    cluster.add(installed(first))
    renewed = tls_secret(manifest_of(dry_run_install(helm, cluster, tmp_path, {"tls.extraSANs": ["ark.example.com"]})))
    assert renewed["data"]["ca.crt"] == first["data"]["ca.crt"]
    assert renewed["data"]["tls.crt"] != first["data"]["tls.crt"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(renewed["data"]["tls.crt"]))
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(base64.b64decode(first["data"]["ca.crt"])))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "ark.example.com" in sans.get_values_for_type(x509.DNSName)


def test_a_serving_certificate_near_its_end_is_renewed(helm, render, cluster, tmp_path):
    first = tls_secret(render())
    first["metadata"]["annotations"]["ark.mckinsey.com/serving-cert-not-after"] = "1000"  # long past
    cluster.add(installed(first))
    renewed = tls_secret(manifest_of(dry_run_install(helm, cluster, tmp_path)))
    assert renewed["data"]["ca.crt"] == first["data"]["ca.crt"]
    assert renewed["data"]["tls.crt"] != first["data"]["tls.crt"]
    assert int(renewed["metadata"]["annotations"]["ark.mckinsey.com/serving-cert-not-after"]) > 1000


def test_an_existing_secret_can_bring_its_own_ca(helm, render, cluster, tmp_path):
    mine = tls_secret(render())  # any Secret with tls.crt, tls.key and ca.crt
    mine["metadata"]["name"] = "mine"
    cluster.add(mine)
    objects = manifest_of(dry_run_install(helm, cluster, tmp_path,
                                          {"tls.mode": "existingSecret", "tls.existingSecret.name": "mine"}))
    for apiservice in (o for o in objects if o["kind"] == "APIService"):
        assert apiservice["spec"]["caBundle"] == mine["data"]["ca.crt"]
