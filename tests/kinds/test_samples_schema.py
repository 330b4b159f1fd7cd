"""The upstream Ark samples, judged by our schemas and by an independent walk of the CRDs.

For every Ark document under ``ark-reference/samples`` the ``spec`` goes through the server's
pipeline (:func:`prune_and_default`, then :func:`validate`). Independently, a small structural
walk of the upstream CRD's ``openAPIV3Schema`` does what kube-apiserver does with the same
object: drop unknown fields, drop non-nullable nulls, fill defaults, then check types and
constraints. The two must agree on the pruned paths, the resulting spec and the invalid paths.

On top of that, the expected verdicts are pinned below: which samples carry fields the CRDs
no longer have, which are invalid, and which documents are not even valid YAML. Streams are
split into documents first (as kubectl does), so one broken document does not hide the
valid documents around it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ark.kinds import REGISTRY, Kind
from ark.kinds.validation import prune_and_default, validate
from tests.conftest import SHARED, shared_dir, upstream_crd

REFERENCE = SHARED / "ark-reference"
SAMPLES_DIR = REFERENCE / "samples"
CRD_DIR = REFERENCE / "crds"
ARK_API_PREFIX = "ark.mckinsey.com/"

# Documents that use fields the CRDs do not (or no longer) define, and the paths pruned.
EXPECTED_UNKNOWN = {
    # Old Evaluation layout: mode and queryRef sat directly in spec (queryRef is now in config).
    "evaluator-selector/queries-with-labels.yaml#3": ["spec.mode", "spec.queryRef"],
    # Queries written for the removed list form spec.targets (now the single spec.target) ...
    "queries/query-model.yaml#0": ["spec.targets"],
    "queries/query-streaming.yaml#0": ["spec.targets"],
    "queries/query-with-mcp-settings-in-annotations.yaml#1": ["spec.targets"],
    "teams/selector-strategy.yaml#4": ["spec.targets"],
    "walkthrough/agents/tests/queries/analyst-query.yaml#0": ["spec.targets"],
    "walkthrough/agents/tests/queries/creator-query.yaml#0": ["spec.targets"],
    "walkthrough/agents/tests/queries/researcher-query.yaml#0": ["spec.targets"],
    "walkthrough/research-query.yaml#0": ["spec.targets"],
    "walkthrough/tools/tests/queries/web-search-query.yaml#0": ["spec.targets"],
    # ... and, here, also for spec.selectors (now the single label selector spec.selector).
    "queries/query-with-label-selectors.yaml#0": ["spec.selectors", "spec.targets"],
    # envsubst templates: the literal "${MODEL_TYPE}" is not a provider section.
    "quickstart/default-model.yaml#2": ["spec.config.${MODEL_TYPE}"],
    "quickstart/openai-model.yaml#2": ["spec.config.${MODEL_TYPE}"],
}
# Documents kube-apiserver would reject, and the invalid paths.
EXPECTED_INVALID = {
    # spec.config is required; this sample predates it.
    "evaluator-selector/queries-with-labels.yaml#3": ["spec.config"],
    # Models without spec.provider, which the CRD requires and does not default. Most still use
    # the deprecated spec.type: openai|azure form (local-ollama only names its provider in an
    # annotation); only something outside the schema, e.g. a mutating webhook, could fill it in.
    "models/claude.yaml#1": ["spec.provider"],
    "models/default.yaml#0": ["spec.provider"],
    "models/gemini.yaml#1": ["spec.provider"],
    "models/local-ollama.yaml#0": ["spec.provider"],
    "models/model-with-properties.yaml#0": ["spec.provider"],
    "models/model-with-properties.yaml#1": ["spec.provider"],
    "models/model-with-properties.yaml#2": ["spec.provider"],
    "walkthrough/tests/manifests/model/a02-model.yaml#0": ["spec.provider"],
    # envsubst templates: no provider, and spec.type is the literal "${MODEL_TYPE}".
    "quickstart/default-model.yaml#2": ["spec.provider", "spec.type"],
    "quickstart/openai-model.yaml#2": ["spec.provider", "spec.type"],
}
# Documents that are not valid YAML (a stray line after the last key; a mis-indented list item).
EXPECTED_UNPARSEABLE = [
    "queries/query-messages-image-url.yaml#0",
    "queries/query-with-timeout.yaml#1",
]

_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Sample:
    id: str  # "<path below samples>#<document index>"
    document: dict


def reference_dir(path: Path) -> Path:
    """A folder below ../shared (skipped when absent, except on CI)."""
    return shared_dir(*path.resolve().relative_to(SHARED.resolve()).parts)


def read_samples() -> tuple[list[Sample], list[str]]:
    """All Ark documents, and the ids of documents that are not valid YAML."""
    samples: list[Sample] = []
    unparseable: list[str] = []
    if not SAMPLES_DIR.is_dir():
        return samples, unparseable
    for path in sorted(SAMPLES_DIR.rglob("*.yaml")):
        relative = path.relative_to(SAMPLES_DIR).as_posix()
        for index, text in enumerate(_DOCUMENT_SEPARATOR.split(path.read_text())):
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError:
                unparseable.append(f"{relative}#{index}")
                continue
            if isinstance(document, dict) and str(document.get("apiVersion", "")).startswith(ARK_API_PREFIX):
                samples.append(Sample(f"{relative}#{index}", document))
    return samples, unparseable


SAMPLES, UNPARSEABLE = read_samples()


def kind_of(document: dict) -> Kind | None:
    for kind in REGISTRY:
        if (kind.api_version, kind.kind) == (document["apiVersion"], document.get("kind")):
            return kind
    return None


def crd_spec_schema(kind: Kind) -> dict:
    (version,) = [v for v in upstream_crd(kind.plural)["spec"]["versions"] if v["name"] == kind.version]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]


# --- an independent model of kube-apiserver's handling of a structural schema -------------


def crd_prune_and_default(node: dict, value: Any, path: str, unknown: list[str]) -> Any:
    """Structural pruning, null dropping and defaulting, as kube-apiserver applies them."""
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [crd_prune_and_default(node["items"], item, f"{path}[{i}]", unknown) for i, item in enumerate(value)]
    if not isinstance(value, dict) or node.get("type") not in ("object", None):
        return value
    properties = node.get("properties", {})
    values_schema = node.get("additionalProperties")
    keep_unknown = node.get("x-kubernetes-preserve-unknown-fields", False)
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = properties.get(key, values_schema if isinstance(values_schema, dict) else None)
        if sub is None:
            if keep_unknown:
                out[key] = item
            else:
                unknown.append(f"{path}.{key}")
            continue
        if item is None and not sub.get("nullable", False):
            continue  # a non-nullable null is dropped (and defaulted below when it has a default)
        out[key] = crd_prune_and_default(sub, item, f"{path}.{key}", unknown)
    for key, sub in properties.items():
        if key not in out and "default" in sub:
            out[key] = crd_prune_and_default(sub, copy.deepcopy(sub["default"]), f"{path}.{key}", unknown)
    return out


_JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def crd_invalid_paths(node: dict, value: Any, path: str) -> set[str]:
    """Paths kube-apiserver would report as invalid for ``value`` under ``node``."""
    if value is None:
        return set() if node.get("nullable") else {path}
    json_type = node.get("type")
    if json_type is None:
        return set()  # untyped: only x-kubernetes-preserve-unknown-fields in these CRDs
    if not _JSON_TYPES[json_type](value):
        return {path}
    bad: set[str] = set()
    if json_type == "object":
        bad |= {f"{path}.{key}" for key in node.get("required", []) if key not in value}
        properties = node.get("properties", {})
        values_schema = node.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, values_schema if isinstance(values_schema, dict) else None)
            if sub is not None:
                bad |= crd_invalid_paths(sub, item, f"{path}.{key}")
    if json_type == "array":
        for i, item in enumerate(value):
            bad |= crd_invalid_paths(node["items"], item, f"{path}[{i}]")
    size = len(value) if isinstance(value, (str, list, dict)) else None
    checks = [
        "enum" in node and value not in node["enum"],
        "pattern" in node and re.search(node["pattern"], value) is None,
        "minLength" in node and size < node["minLength"],
        "maxLength" in node and size > node["maxLength"],
        "minItems" in node and size < node["minItems"],
        "maxItems" in node and size > node["maxItems"],
        "minimum" in node and value < node["minimum"],
        "maximum" in node and value > node["maximum"],
    ]
    return bad | ({path} if any(checks) else set())


@dataclass(frozen=True)
class Verdict:
    unknown: list[str]
    spec: dict
    invalid: list[str]


def judged_by_crd(kind: Kind, spec: dict) -> Verdict:
    unknown: list[str] = []
    node = crd_spec_schema(kind)
    pruned = crd_prune_and_default(node, copy.deepcopy(spec), "spec", unknown)
    return Verdict(sorted(unknown), pruned, sorted(crd_invalid_paths(node, pruned, "spec")))


def judged_by_us(kind: Kind, spec: dict) -> Verdict:
    unknown: list[str] = []
    pruned = prune_and_default(kind.spec, copy.deepcopy(spec), "spec", unknown)
    return Verdict(sorted(unknown), pruned, sorted({e.field for e in validate(kind.spec, pruned, "spec")}))


def sample_ids(samples: list[Sample]) -> list[str]:
    return [s.id for s in samples]


# --- tests ----------------------------------------------------------------------------------


def test_reference_samples_are_present() -> None:
    reference_dir(SAMPLES_DIR)
    assert SAMPLES, f"no {ARK_API_PREFIX} documents found under {SAMPLES_DIR}"


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_ids(SAMPLES))
def test_sample_names_a_served_kind(sample: Sample) -> None:
    assert kind_of(sample.document) is not None, f"{sample.document['apiVersion']} {sample.document.get('kind')}"


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_ids(SAMPLES))
def test_sample_is_judged_as_kube_apiserver_would_with_the_crd(sample: Sample) -> None:
    kind = kind_of(sample.document)
    assert kind is not None
    assert "spec" in sample.document, "every Ark sample carries a spec"
    ours = judged_by_us(kind, sample.document["spec"])
    theirs = judged_by_crd(kind, sample.document["spec"])
    assert ours.unknown == theirs.unknown, "pruned as unknown"
    assert ours.spec == theirs.spec, "spec after pruning and defaulting"
    assert ours.invalid == theirs.invalid, "invalid paths"


def test_only_the_expected_samples_carry_unknown_fields() -> None:
    reference_dir(SAMPLES_DIR)
    found = {}
    for sample in SAMPLES:
        verdict = judged_by_us(kind_of(sample.document), sample.document["spec"])
        if verdict.unknown:
            found[sample.id] = verdict.unknown
    assert found == EXPECTED_UNKNOWN


def test_only_the_expected_samples_are_invalid() -> None:
    reference_dir(SAMPLES_DIR)
    found = {}
    for sample in SAMPLES:
        verdict = judged_by_us(kind_of(sample.document), sample.document["spec"])
        if verdict.invalid:
            found[sample.id] = verdict.invalid
    assert found == EXPECTED_INVALID


def test_documents_that_are_not_yaml_are_skipped_and_counted() -> None:
    reference_dir(SAMPLES_DIR)
    assert UNPARSEABLE == EXPECTED_UNPARSEABLE
    assert len(UNPARSEABLE) == 2


# --- the independent walk itself ------------------------------------------------------------

_TOY_SCHEMA = {
    "type": "object",
    "required": ["target"],
    "properties": {
        "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "opaque": {"type": "object"},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "target": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}},
        },
    },
}


def test_crd_walk_prunes_unknown_fields_drops_nulls_and_fills_defaults() -> None:
    unknown: list[str] = []
    spec = {"mode": None, "labels": {"a": "b"}, "opaque": {"x": 1}, "free": {"y": 2}, "target": {"name": "t", "z": 3}}
    pruned = crd_prune_and_default(_TOY_SCHEMA, spec, "spec", unknown)
    assert pruned == {"mode": "fast", "labels": {"a": "b"}, "opaque": {}, "free": {"y": 2}, "target": {"name": "t"}}
    assert unknown == ["spec.opaque.x", "spec.target.z"]


def test_crd_walk_reports_missing_required_bad_enum_wrong_type_and_short_strings() -> None:
    assert crd_invalid_paths(_TOY_SCHEMA, {"mode": "medium", "labels": {"a": 1}}, "spec") == {
        "spec.mode",
        "spec.labels.a",
        "spec.target",
    }
    assert crd_invalid_paths(_TOY_SCHEMA, {"target": {"name": ""}}, "spec") == {"spec.target.name"}
    assert crd_invalid_paths(_TOY_SCHEMA, {"target": {}}, "spec") == {"spec.target.name"}
