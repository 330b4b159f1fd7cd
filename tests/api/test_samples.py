"""Every upstream Ark sample, applied through the server in dependency order, as
``kubectl apply`` of the sample folders into one namespace would: Models, Tools, MCPServers,
Agents, Teams, then the rest (a second document of a kind and name replaces the first).

The expected outcome of each document is computed independently of the server's code: Ark's
mutations (the legacy Model migration, the Agent defaults) as a few lines below, then a walk of
the upstream CRD (the helpers of ``tests/kinds/test_samples_schema.py``). Valid documents are
stored as sent plus those changes and server metadata, with one warning per pruned field and
per migration; documents with fields the CRDs no longer have are refused under ``Strict``;
invalid documents are 422 with a cause per invalid field. Documents that Ark's admission
rules refuse are listed in ``REFUSED`` with the rule that refuses them.
"""
from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass

import pytest
import requests
import yaml
from arkrest import assert_status, warnings_of

from ark.kinds import Kind
from tests.harness import create_namespace
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
APPLY_ORDER = ("Model", "Tool", "MCPServer", "Agent", "Team", "A2AServer", "ExecutionEngine", "Memory",
               "Evaluator", "Query", "Evaluation", "A2ATask")
MIGRATION = "ark.mckinsey.com/migration-warning-"

# Ark's rules (docs/admission.md) as refusals show them: the fields named, words of the message.
MISSING_TARGET = (["spec.target.name"], "target references")
NO_TARGET = (["spec.target"], "target or selector must be specified")
#: Documents Ark's admission refuses even when applied after everything they refer to.
REFUSED: dict[str, tuple[list[str], str]] = {
    # Names an agent, team or model that no sample defines.
    "evaluator/evaluator-with-labels.yaml#0": (["spec.parameters[0].value"], "does not exist"),
    "evaluator/evaluator-with-labels.yaml#1": (["spec.parameters[0].value"], "does not exist"),
    "evaluator-selector/queries-with-labels.yaml#0": MISSING_TARGET,
    "queries/memory.yaml#0": MISSING_TARGET,
    "queries/query-conversation-messages.yaml#0": MISSING_TARGET,
    "queries/query-customer-specific.yaml#0": MISSING_TARGET,
    "queries/query-resolution-flow.yaml#0": MISSING_TARGET,
    "queries/query-simple.yaml#0": MISSING_TARGET,
    # And a ConfigMap key the sample's own ConfigMap does not have.
    "queries/query-with-parameters.yaml#0": (["spec.target.name", "spec.parameters[3].valueFrom.configMapKeyRef.key"],
                                             "target references"),
    "queries/query-with-selectors.yaml#1": MISSING_TARGET,
    # Written for the removed spec.targets list (pruned), so they have neither target nor selector.
    "queries/query-model.yaml#0": NO_TARGET,
    "queries/query-streaming.yaml#0": NO_TARGET,
    "queries/query-with-label-selectors.yaml#0": NO_TARGET,
    "queries/query-with-mcp-settings-in-annotations.yaml#1": NO_TARGET,
    "teams/selector-strategy.yaml#4": NO_TARGET,
    "walkthrough/agents/tests/queries/analyst-query.yaml#0": NO_TARGET,
    "walkthrough/agents/tests/queries/creator-query.yaml#0": NO_TARGET,
    "walkthrough/agents/tests/queries/researcher-query.yaml#0": NO_TARGET,
    "walkthrough/research-query.yaml#0": NO_TARGET,
    "walkthrough/tools/tests/queries/web-search-query.yaml#0": NO_TARGET,
    # A builtin Tool named after no built-in (only noop and terminate exist).
    "apiserver/services-ark-apiserver-test/manifests/a02-tool.yaml#0": (["metadata.name"],
                                                                        'supported values: "noop", "terminate"'),
    # Base URLs Ark must not call: plain http to a host outside the cluster, and a test
    # template's placeholder "($azure.url)", which is no URL.
    "models/local-ollama.yaml#0": (["spec.config.openai.baseUrl"], "must use HTTPS"),
    "walkthrough/tests/manifests/model/a02-model.yaml#0": (["spec.config.azure.apiKey.valueFrom.secretKeyRef.name",
                                                            "spec.config.azure.baseUrl"], "missing scheme"),
    # A Secret no sample carries (or only a template's, whose data is not base64: refused as
    # kube-apiserver refuses it), checked against the Secrets this server holds in standalone mode.
    "models/default.yaml#0": (["spec.config.azure.apiKey.valueFrom.secretKeyRef.name"], "does not exist"),
    "models/model-with-properties.yaml#0": (["spec.config.azure.apiKey.valueFrom.secretKeyRef.name"],
                                            "does not exist"),
    "models/model-with-properties.yaml#1": (["spec.config.openai.apiKey.valueFrom.secretKeyRef.name"],
                                            "does not exist"),
}


def ark_mutations(kind: str, document: dict) -> tuple[dict, dict[str, str]]:
    """What Ark's mutating admission does to a document: the spec afterwards and the
    annotations it adds (the legacy Model layout migrated; an Agent's default model and the
    warning about deprecated custom tools)."""
    spec, added = copy.deepcopy(document["spec"]), {}
    metadata = document["metadata"]
    if kind == "Model" and not spec.get("provider") and spec.get("type") in ("openai", "azure", "bedrock"):
        added[MIGRATION + "provider"] = (f"spec.type is deprecated for provider values - migrated '{spec['type']}' "
                                         "to spec.provider")
        spec["provider"], spec["type"] = spec["type"], "completions"
    skip = (metadata.get("labels") or {}).get("ark.mckinsey.com/skip-webhook-validation") == "true"
    if kind == "Agent" and not skip:
        made_by_a2a = "ark.mckinsey.com/a2a-server-name" in (metadata.get("annotations") or {})
        if spec.get("modelRef") is None and not made_by_a2a:
            spec["modelRef"] = {"name": "default"}
        custom = [tool for tool in spec.get("tools") or () if tool.get("type") == "custom"]
        if custom:
            added[MIGRATION + "tool-type-custom"] = (
                f"agent '{metadata['name']}' tool '{custom[0].get('name', '')}': type 'custom' is deprecated, use the "
                "tool's actual type (mcp, http, agent, team, builtin) instead")
    return spec, added


@dataclass
class Applied:
    """What the server answered to one document, and what the test expects of it."""

    document: dict
    kind: Kind
    response: requests.Response
    warnings: list[str]
    replaced: bool  # a document of the same kind and name came before: this one replaced it
    read_back: dict | None  # a GET right after the write


def _prepare(sample: Sample, namespace: str) -> tuple[dict, Kind]:
    reference_dir(CRD_DIR)
    document = copy.deepcopy(sample.document)
    document["metadata"]["namespace"] = namespace  # as kubectl -n; the samples name various namespaces
    kind = kind_of(document)
    assert kind is not None, sample.id
    return document, kind


def _apply(ark_http: requests.Session, url: str, document: dict) -> tuple[requests.Response, bool]:
    """Create, or replace what an earlier document of the same name created."""
    params = {"fieldValidation": "Warn", "fieldManager": "kubectl-client-side-apply"}
    response = ark_http.post(url, json=document, params=params)
    if response.status_code != 409:
        return response, False
    current = ark_http.get(f"{url}/{document['metadata']['name']}").json()
    replacement = {**document, "metadata": {**document["metadata"],
                                            "resourceVersion": current["metadata"]["resourceVersion"]}}
    return ark_http.put(f"{url}/{document['metadata']['name']}", json=replacement, params=params), True


CORE_PLURALS = {"Secret": "secrets", "ConfigMap": "configmaps"}


def _core_documents() -> list[tuple[str, dict]]:
    """The Secrets and ConfigMaps of the sample files (a template's is refused, as kube-apiserver
    refuses data that is not base64: then what refers to it is refused too)."""
    found = []
    for path in sorted(SAMPLES_DIR.rglob("*.yaml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        found += [(CORE_PLURALS[d["kind"]], d) for d in documents
                  if isinstance(d, dict) and d.get("apiVersion") == "v1" and d.get("kind") in CORE_PLURALS]
    return found


@pytest.fixture(scope="module")
def applied(server) -> dict[str, Applied]:
    """Every sample applied in dependency order into one namespace of the server."""
    reference_dir(SAMPLES_DIR)
    namespace = f"samples-{uuid.uuid4().hex[:8]}"
    create_namespace(server, namespace)
    order = sorted(SAMPLES, key=lambda s: (APPLY_ORDER.index(kind_of(s.document).kind), s.id))
    outcomes = {}
    with server.session() as http:
        for plural, document in _core_documents():  # first the Secrets and ConfigMaps the samples carry
            document.setdefault("metadata", {}).pop("namespace", None)
            http.post(f"{server.url}/api/v1/namespaces/{namespace}/{plural}", json=document)
        for sample in order:
            document, kind = _prepare(sample, namespace)
            url = f"{server.url}/apis/{kind.group}/{kind.version}/namespaces/{namespace}/{kind.plural}"
            response, replaced = _apply(http, url, document)
            read_back = http.get(f"{url}/{document['metadata']['name']}").json() if response.ok else None
            outcomes[sample.id] = Applied(document, kind, response, warnings_of(response), replaced, read_back)
    return outcomes


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_ids(SAMPLES))
def test_sample_is_admitted_as_kube_apiserver_with_arks_webhooks_would(applied, sample):
    outcome = applied[sample.id]
    document, kind, response = outcome.document, outcome.kind, outcome.response
    spec, added = ark_mutations(kind.kind, document)
    verdict = judged_by_crd(kind, spec)

    if sample.id in REFUSED:
        status = assert_status(response, 422, "Invalid")
        fields, rule = REFUSED[sample.id]
        assert [c["field"] for c in status["details"]["causes"]] == fields
        assert rule in status["message"]
        return
    if verdict.invalid:
        status = assert_status(response, 422, "Invalid")
        assert {c["field"] for c in status["details"]["causes"]} == set(verdict.invalid)
        assert status["details"]["kind"] == kind.kind
        return

    assert response.status_code == (200 if outcome.replaced else 201), response.text
    assert outcome.warnings == [f'unknown field "{path}"' for path in verdict.unknown] + [
        text for key, text in sorted({**(document["metadata"].get("annotations") or {}), **added}.items())
        if key.startswith(MIGRATION)]
    stored = response.json()
    assert set(stored) == {"apiVersion", "kind", "metadata", "spec"}
    assert (stored["apiVersion"], stored["kind"]) == (document["apiVersion"], document["kind"])
    assert stored["spec"] == verdict.spec
    meta = stored["metadata"]
    expected_meta = copy.deepcopy(document["metadata"])
    if added:
        expected_meta["annotations"] = {**expected_meta.get("annotations", {}), **added}
    assert {k: v for k, v in meta.items() if k not in SERVER_FIELDS} == expected_meta
    assert uuid.UUID(meta["uid"])
    assert meta["generation"] == 1 or outcome.replaced
    assert outcome.read_back == stored
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])


def test_the_legacy_models_are_migrated(applied):
    legacy = [s.id for s in SAMPLES if kind_of(s.document).kind == "Model" and "provider" not in s.document["spec"]
              and s.document["spec"].get("type") in ("openai", "azure", "bedrock")]
    assert len(legacy) >= 6
    migrated = [i for i in legacy if applied[i].response.status_code in (200, 201)]
    assert sorted(set(legacy) - set(migrated)) == sorted(i for i in legacy if i in REFUSED)
    for sample_id in migrated:
        stored = applied[sample_id].response.json()
        assert stored["spec"]["provider"] == applied[sample_id].document["spec"]["type"]
        assert stored["spec"]["type"] == "completions"


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
