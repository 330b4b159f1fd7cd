"""The upstream CRDs are the contract; our kind descriptors must match them exactly.

Each marshmallow schema is projected into the OpenAPI shape a CRD uses (``type``,
``properties``, ``required``, ``enum``, ``default``, ...) and compared with the CRD's
``openAPIV3Schema`` reduced to the same keywords. Every difference is reported with its path,
so any drift (a field added, dropped, retyped, or a constraint loosened or tightened) fails.

Keywords that only steer server-side apply merging (``x-kubernetes-list-type``,
``x-kubernetes-map-type``) and descriptions are not part of the comparison; any *other*
keyword the comparison does not know fails :func:`test_crds_use_only_keywords_the_contract_compares`,
so a new kind of upstream constraint cannot slip through unnoticed.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields, validate
from marshmallow.utils import missing

from ark.kinds import REGISTRY, Kind
from ark.kinds import fields as ark_fields
from tests.conftest import shared_dir, upstream_crd

# Keywords compared between the CRD and our schemas.
COMPARED = {
    "type",
    "format",
    "enum",
    "default",
    "pattern",
    "nullable",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
}
# Keywords with no effect on pruning, defaulting or validation.
NOT_COMPARED = {"description", "x-kubernetes-list-type", "x-kubernetes-map-type"}

KINDS = sorted(REGISTRY, key=lambda k: k.kind)


def crd_dir() -> Path:
    """The reference CRD folder (skipped when absent, except on CI)."""
    return shared_dir("ark-reference", "crds")


def load_crd(kind: Kind) -> dict:
    return upstream_crd(kind.plural)


def served_version(crd: dict) -> dict:
    versions = [v for v in crd["spec"]["versions"] if v.get("served")]
    assert len(versions) == 1, "the contract assumes one served version per CRD"
    return versions[0]


def crd_section(kind: Kind, section: str) -> dict:
    return served_version(load_crd(kind))["schema"]["openAPIV3Schema"]["properties"][section]


# --- our schemas in OpenAPI form ---------------------------------------------------------

_SCALARS = {
    ark_fields.String: "string",
    ark_fields.Integer: "integer",
    ark_fields.Number: "number",
    ark_fields.Boolean: "boolean",
}


def schema_as_openapi(schema: Schema) -> dict:
    declared = {(f.data_key or name): f for name, f in schema.fields.items()}
    node: dict[str, Any] = {"type": "object"}
    if declared:
        node["properties"] = {key: field_as_openapi(f) for key, f in declared.items()}
    required = sorted(key for key, f in declared.items() if f.required)
    if required:
        node["required"] = required
    return node


def field_as_openapi(field: fields.Field) -> dict:
    if isinstance(field, fields.Nested):
        node = schema_as_openapi(field.schema)
    elif isinstance(field, fields.List):
        node = {"type": "array", "items": field_as_openapi(field.inner)}
    elif isinstance(field, fields.Dict):
        node = {"type": "object", "additionalProperties": field_as_openapi(field.value_field)}
    elif isinstance(field, ark_fields.FreeForm):
        node = {"x-kubernetes-preserve-unknown-fields": True}
    elif isinstance(field, ark_fields.FreeObject):
        node = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    elif isinstance(field, ark_fields.IntOrString):
        node = {"x-kubernetes-int-or-string": True}
    elif isinstance(field, ark_fields.DateTime):
        node = {"type": "string", "format": "date-time"}
    elif type(field) in _SCALARS:
        node = {"type": _SCALARS[type(field)]}
    else:
        raise TypeError(f"the contract test does not know field class {type(field).__name__}")
    if "format" in field.metadata:
        node["format"] = field.metadata["format"]
    if field.load_default is not missing:
        node["default"] = field.load_default
    if field.allow_none:
        node["nullable"] = True
    for validator in field.validators:
        node.update(_validator_as_openapi(validator, node.get("type")))
    return node


def _validator_as_openapi(validator: Any, json_type: str | None) -> dict:
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, validate.Length):
        unit = {"string": "Length", "array": "Items", "object": "Properties"}[json_type]
        out = {f"min{unit}": validator.min, f"max{unit}": validator.max}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(validator, validate.Range):
        out = {"minimum": validator.min, "maximum": validator.max}
        if validator.min is not None and not validator.min_inclusive:
            out["exclusiveMinimum"] = True
        if validator.max is not None and not validator.max_inclusive:
            out["exclusiveMaximum"] = True
        return {k: v for k, v in out.items() if v is not None}
    raise TypeError(f"the contract test does not know validator {type(validator).__name__}")


# --- the CRD in comparable form ------------------------------------------------------------


def comparable(crd_node: dict) -> dict:
    """The CRD node reduced to COMPARED keywords.

    A property that is required *and* has a default is kept out of ``required``: the default
    is applied before validation, so the requirement can never fail, and marshmallow refuses
    a field that is both required and defaulted. Its default is still compared.
    """
    node = {k: copy.deepcopy(v) for k, v in crd_node.items() if k in COMPARED}
    props = node.get("properties", {})
    for key, sub in props.items():
        props[key] = comparable(sub)
    if "required" in node:
        node["required"] = sorted(k for k in node["required"] if "default" not in props.get(k, {}))
        if not node["required"]:
            del node["required"]
    if isinstance(node.get("items"), dict):
        node["items"] = comparable(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = comparable(node["additionalProperties"])
    return node


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def differences(crd: dict, ours: dict, path: str) -> list[str]:
    """Every place where a CRD node and ours disagree, one line each.

    Fields are named by their path (``spec.tools[].partial.name``, ``{*}`` for map values) and
    keywords by ``@keyword``. Values compare as JSON text, which keeps 0 and false apart.
    """
    out: list[str] = []
    for key in sorted(set(crd) | set(ours)):
        if key not in ours:
            out.append(f"{path} @{key}: the CRD has {_json(crd[key])[:100]}, ours has nothing")
        elif key not in crd:
            out.append(f"{path} @{key}: ours has {_json(ours[key])[:100]}, the CRD has nothing")
        elif key == "properties":
            for name in sorted(set(crd[key]) | set(ours[key])):
                if name not in ours[key]:
                    out.append(f"{path}.{name}: field only in the CRD")
                elif name not in crd[key]:
                    out.append(f"{path}.{name}: field only in ours")
                else:
                    out += differences(crd[key][name], ours[key][name], f"{path}.{name}")
        elif key in ("items", "additionalProperties") and isinstance(crd[key], dict) and isinstance(ours[key], dict):
            out += differences(crd[key], ours[key], path + ("[]" if key == "items" else "{*}"))
        elif _json(crd[key]) != _json(ours[key]):
            out.append(f"{path} @{key}: the CRD has {_json(crd[key])}, ours has {_json(ours[key])}")
    return out


def keywords_used(node: dict, path: str) -> list[tuple[str, str]]:
    found = [(path, key) for key in node]
    for key, sub in node.get("properties", {}).items():
        found += keywords_used(sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found += keywords_used(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += keywords_used(node["additionalProperties"], f"{path}{{*}}")
    return found


def _described(schema: Schema) -> dict[str, str]:
    return {(f.data_key or n): f.metadata.get("description", "") for n, f in schema.fields.items()}


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
@pytest.mark.parametrize("section", ["spec", "status"])
def test_schema_matches_the_crd_field_for_field(kind: Kind, section: str) -> None:
    ours = schema_as_openapi(getattr(kind, section))
    found = differences(comparable(crd_section(kind, section)), ours, section)
    assert not found, f"{kind.kind}.{section} drifted from the CRD:\n" + "\n".join(found)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crds_use_only_keywords_the_contract_compares(kind: Kind) -> None:
    unknown = [
        f"{path} @{key}"
        for section in ("spec", "status")
        for path, key in keywords_used(crd_section(kind, section), section)
        if key not in COMPARED | NOT_COMPARED
    ]
    assert not unknown, "teach the contract (and our schemas) these CRD keywords:\n" + "\n".join(unknown)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_names_and_version_match_the_crd(kind: Kind) -> None:
    crd = load_crd(kind)
    names = crd["spec"]["names"]
    version = served_version(crd)
    top = version["schema"]["openAPIV3Schema"]
    assert crd["spec"]["group"] == kind.group
    assert (names["kind"], names["listKind"], names["plural"], names["singular"]) == (
        kind.kind,
        kind.list_kind,
        kind.plural,
        kind.singular,
    )
    assert tuple(names.get("shortNames", ())) == kind.short_names
    # Every kind is also in the "ark" category (``kubectl get ark``), a step beyond the CRDs.
    assert (*names.get("categories", ()), "ark") == kind.categories
    assert version["name"] == kind.version
    assert ("spec" in top.get("required", [])) == kind.spec_required


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_printer_columns_match_additional_printer_columns(kind: Kind) -> None:
    theirs = [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0), c.get("format", ""))
        for c in served_version(load_crd(kind)).get("additionalPrinterColumns", [])
    ]
    ours = [(c.name, c.type, c.json_path, c.priority, c.format) for c in kind.printer_columns]
    assert ours == theirs


def test_every_reference_crd_is_served() -> None:
    files = {p.name for p in crd_dir().glob("*.yaml")}
    served = {f"{k.group}_{k.plural}.yaml" for k in REGISTRY}
    assert files == served


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(lambda s: s["properties"].pop("prompt"), id="field-removed"),
        pytest.param(lambda s: s["properties"].update(extra={"type": "string"}), id="field-added"),
        pytest.param(lambda s: s["properties"]["prompt"].update(type="integer"), id="type-changed"),
        pytest.param(lambda s: s["properties"]["tools"]["items"]["properties"]["type"]["enum"].pop(), id="enum-value"),
        pytest.param(lambda s: s["properties"]["tools"]["items"].update(required=[]), id="required-dropped"),
        pytest.param(lambda s: s["properties"]["modelRef"]["properties"]["name"].update(minLength=2), id="min-length"),
        pytest.param(lambda s: s["properties"]["prompt"].update(default="hi"), id="default-added"),
        pytest.param(lambda s: s["properties"]["prompt"].update(pattern="^a"), id="pattern-added"),
        pytest.param(
            lambda s: s["properties"]["outputSchema"].pop("x-kubernetes-preserve-unknown-fields"), id="preserve-dropped"
        ),
        pytest.param(
            lambda s: s["properties"]["tools"]["items"]["properties"]["partial"]["properties"].pop("name"),
            id="deep-field-removed",
        ),
    ],
)
def test_contract_reports_each_kind_of_drift(mutation) -> None:
    agent = REGISTRY.lookup("v1alpha1", "agents")
    drifted = copy.deepcopy(crd_section(agent, "spec"))
    mutation(drifted)
    assert differences(comparable(drifted), schema_as_openapi(agent.spec), "spec")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_kind_and_top_level_fields_are_documented(kind: Kind) -> None:
    assert kind.description and "TODO" not in kind.description
    for section in ("spec", "status"):
        schema = getattr(kind, section)
        undocumented = [key for key, text in _described(schema).items() if not text]
        assert not undocumented, f"{kind.kind}.{section} fields without a description: {undocumented}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_descriptions_are_our_own_words(kind: Kind) -> None:
    """Our descriptions are written by us; none may repeat (or nearly repeat) the CRD's text."""

    def pairs(schema: Schema, crd_node: dict, path: str):
        props = crd_node.get("properties", {})
        for name, field in schema.fields.items():
            key = field.data_key or name
            sub = props.get(key, {})
            yield f"{path}.{key}", field.metadata.get("description", ""), sub.get("description", "")
            while isinstance(field, fields.List):
                field, sub = field.inner, sub.get("items", {})
            if isinstance(field, fields.Nested):
                yield from pairs(field.schema, sub, f"{path}.{key}")

    copied = [
        f"{path}: {ours!r}"
        for section in ("spec", "status")
        for path, ours, theirs in pairs(getattr(kind, section), crd_section(kind, section), section)
        if ours and theirs and difflib.SequenceMatcher(None, ours.lower(), theirs.lower()).ratio() > 0.8
    ]
    assert not copied, "descriptions too close to the upstream text:\n" + "\n".join(copied)
