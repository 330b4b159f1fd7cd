"""The import benchmark keeps working: a few objects, on SQLite, through the real commands."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.bench_import import manifests
from tests.conftest import REPO


@pytest.mark.xdist_group("sqlite-b")  # make test: beside the other SQLite tests of its half (tests/conftest.py)
def test_bench_import_smoke() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.bench_import", "--objects", "30", "--driver", "sqlite"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["sqlite", "sqlite"]
    assert all(" 30 objects " in line and line.endswith("objects/s") for line in lines), lines


def test_bench_manifests_pass_admission() -> None:
    """Every query asks an agent of its namespace that the manifest has, so the figure is for clean imports."""
    objects = manifests(90)
    agents = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Agent"}
    queries = [o for o in objects if o["kind"] == "Query"]
    assert queries and all((q["metadata"]["namespace"], q["spec"]["target"]["name"]) in agents for q in queries)
