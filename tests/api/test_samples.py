"""Every upstream Ark sample, created through the server as ``kubectl create`` would send it.

The expected outcome of each document is computed independently of the server's schemas, by
walking the upstream CRD (the helpers of ``tests/kinds/test_samples_schema.py``): valid
documents are stored as sent plus defaults and server metadata; documents with fields the
CRDs no longer have are pruned with one warning per field under ``Warn`` and refused under
``Strict``; invalid documents are 422 with a cause per invalid field.
"""
from __future__ import annotations

import copy
import re
import uuid

import pytest
from arkrest import assert_status, warnings_of

from ark.kinds import Kind
from tests.kinds.test_samples_schema import (
    CRD_DIR,
    SAMPLES,
    SAMPLES_DIR,
    Sample,
    judged_by_crd,
    kind_of,
    reference_dir,
    sample_ids,
)

SERVER_FIELDS = {"uid", "creationTimestamp", "generation", "resourceVersion", "managedFields"}


def _prepare(sample: Sample, namespace: str) -> tuple[dict, Kind]:
    reference_dir(CRD_DIR)
    document = copy.deepcopy(sample.document)
    document["metadata"]["namespace"] = namespace  # as kubectl -n; the samples name various namespaces
    kind = kind_of(document)
    assert kind is not None, sample.id
    return document, kind


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_ids(SAMPLES))
def test_sample_is_created_as_kube_apiserver_would(ark, sample):
    document, kind = _prepare(sample, ark.namespace)
    verdict = judged_by_crd(kind, document["spec"])
    url = ark.url(kind.plural, version=kind.version)
    response = ark.http.post(url, json=document, params={"fieldValidation": "Warn", "fieldManager": "kubectl-create"})

    if verdict.invalid:
        status = assert_status(response, 422, "Invalid")
        assert {c["field"] for c in status["details"]["causes"]} == set(verdict.invalid)
        assert status["details"]["kind"] == kind.kind
        return

    assert response.status_code == 201, response.text
    assert warnings_of(response) == [f'unknown field "{path}"' for path in verdict.unknown]
    created = response.json()
    assert set(created) == {"apiVersion", "kind", "metadata", "spec"}
    assert (created["apiVersion"], created["kind"]) == (document["apiVersion"], document["kind"])
    assert created["spec"] == verdict.spec
    meta = created["metadata"]
    assert {k: v for k, v in meta.items() if k not in SERVER_FIELDS} == document["metadata"]
    assert uuid.UUID(meta["uid"]) and meta["generation"] == 1
    assert [(e["manager"], e["operation"]) for e in meta["managedFields"]] == [("kubectl-create", "Update")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    got = ark.http.get(f"{url}/{document['metadata']['name']}")
    assert got.json() == created


def _with_unknown_fields() -> list[Sample]:
    if not CRD_DIR.is_dir():
        return []
    return [s for s in SAMPLES
            if kind_of(s.document) and judged_by_crd(kind_of(s.document), s.document["spec"]).unknown]


UNKNOWN_SAMPLES = _with_unknown_fields()


@pytest.mark.parametrize("sample", UNKNOWN_SAMPLES, ids=sample_ids(UNKNOWN_SAMPLES))
def test_sample_with_fields_the_crd_no_longer_has_is_refused_under_strict(ark, sample):
    document, kind = _prepare(sample, ark.namespace)
    verdict = judged_by_crd(kind, document["spec"])
    url = ark.url(kind.plural, version=kind.version)
    response = ark.http.post(url, json=document, params={"fieldValidation": "Strict"})
    status = assert_status(response, 400, "BadRequest")
    assert status["message"].startswith(f'{kind.kind} in version "{kind.version}" cannot be handled as a '
                                        f'{kind.kind}: strict decoding error: ')
    for path in verdict.unknown:
        assert f'unknown field "{path}"' in status["message"]
    assert ark.http.get(f"{url}/{document['metadata']['name']}").status_code == 404


def test_the_samples_cover_every_outcome():
    reference_dir(SAMPLES_DIR)
    verdicts = [judged_by_crd(kind_of(s.document), s.document["spec"]) for s in SAMPLES]
    assert any(v.unknown and not v.invalid for v in verdicts)
    assert any(v.invalid for v in verdicts)
    assert sum(not v.unknown and not v.invalid for v in verdicts) > 50
    assert any("spec.targets" in v.unknown for v in verdicts)
    assert any("spec.provider" in v.invalid for v in verdicts)
