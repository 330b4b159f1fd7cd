"""Every upstream sample manifest through import and export, on both databases.

A file is imported on its own; what comes out of ``export`` is what went in (after the CRD
codec's pruning and defaulting, which the import applies as kube-apiserver would), and an
export imported into an emptied database exports the same again, uids and creation times
included. The samples that are not valid YAML, or not Kubernetes objects at all, are refused
with their document index, and nothing of their file is imported.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ark.adoption import documents
from tests.adoption.conftest import Target, without
from tests.conftest import shared_dir
from tests.kinds.test_samples_schema import EXPECTED_UNPARSEABLE, SAMPLES_DIR

SAMPLES = sorted(p.relative_to(SAMPLES_DIR).as_posix() for p in SAMPLES_DIR.rglob("*.yaml")) \
    if SAMPLES_DIR.is_dir() else ["(ark-reference samples absent)"]
#: Documents that parse but are no Kubernetes object (kubectl refuses them too): a Helm values file.
NOT_MANIFESTS = {
    "apiserver/tests-ark-apiserver-integration/mock-llm-values.yaml#0": "apiVersion and kind must be given",
}
REFUSED = {**dict.fromkeys(EXPECTED_UNPARSEABLE, "error decoding YAML document"), **NOT_MANIFESTS}
#: Filled in by the server on a first import (the samples never were stored).
SERVER_FILLED = ("uid", "creationTimestamp", "generation", "resourceVersion", "managedFields")


def refused(sample: str) -> dict[int, str]:
    """The bad documents of ``sample``: index -> the start of the reason reported."""
    return {int(doc.rsplit("#", 1)[1]): why for doc, why in REFUSED.items() if doc.rsplit("#", 1)[0] == sample}


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_round_trip(target: Target, sample: str, tmp_path: Path) -> None:
    path = shared_dir("ark-reference", "samples") / sample
    ran = target.ark("import", str(path))
    broken = refused(sample)
    if broken:
        assert ran.code == 1, ran.out
        for index, why in broken.items():
            assert f"error: {path}: document {index}: {why}" in ran.err
        assert "nothing was imported" in ran.err
        assert target.export() == []
        assert target.revision() == 0
        return
    assert ran.code == 0, ran.err
    expected = documents.read([(str(path), path.read_text())]).entries
    first = target.export()
    assert sorted((o["kind"], o["metadata"]["name"]) for o in first) == \
        sorted((e.kind.kind, e.name) for e in expected)
    by_key = {(e.kind.kind, e.name): e.obj for e in expected}
    for obj in first:
        assert without(obj, *SERVER_FILLED) == without(by_key[obj["kind"], obj["metadata"]["name"]], *SERVER_FILLED)
    assert ran.out.splitlines()[-1].split()[:2] == ["total", str(len(expected))]

    dump = tmp_path / "export.yaml"
    assert target.ark("export", "--output", str(dump)).code == 0
    target.wipe()
    again = target.ark("import", str(dump))
    assert again.code == 0, again.err
    second = target.export()
    assert [without(o, "resourceVersion") for o in second] == [without(o, "resourceVersion") for o in first]


def test_the_refused_samples_are_the_pinned_ones() -> None:
    """The pinned lists are what the round trip expects refused: a file newly broken would be found."""
    samples = shared_dir("ark-reference", "samples")
    found = set()
    for sample in SAMPLES:
        batch = documents.read([(sample, (samples / sample).read_text())])
        found.update(f"{p.source}#{p.index}" for p in batch.problems)
    assert found == set(REFUSED)
