"""Evaluation and Evaluator admission (docs/admission.md): Ark's database-backed server
validates both, so we do too."""
from __future__ import annotations

import pytest

from tests.admission.conftest import NS, model_spec

EVALUATOR = {"address": {"value": "http://evaluator.evals.svc.cluster.local:8000"}}
VALID_CONFIGS = {
    "direct": {"input": "2+2?", "output": "4"},
    "query": {"queryRef": {"name": "q1"}},
    "batch": {"evaluations": [{"name": "e1"}, {"name": "e2"}]},
    "baseline": {},
    "event": {"rules": [{"name": "used-tool", "expression": "tool.was_called('search')"}]},
}


@pytest.fixture
def evaluator(admission):
    admission.create("Evaluator", "judge", EVALUATOR)
    return admission


def evaluation(evaluation_type: str | None, config: dict, **evaluator_ref) -> dict:
    spec = {"config": config, "evaluator": {"name": "judge", **evaluator_ref}}
    return spec if evaluation_type is None else {"type": evaluation_type, **spec}


@pytest.mark.parametrize("evaluation_type", VALID_CONFIGS)
def test_a_valid_evaluation_of_each_type_is_accepted(evaluator, evaluation_type):
    evaluator.create("Evaluation", "e", evaluation(evaluation_type, VALID_CONFIGS[evaluation_type]))


def test_no_type_means_direct(evaluator):
    created = evaluator.create("Evaluation", "e", evaluation(None, VALID_CONFIGS["direct"]))
    assert created.obj["spec"]["type"] == "direct"
    assert evaluator.refuse("Evaluation", "f", evaluation(None, {"input": "x"})).fields == ["spec.config.output"]


@pytest.mark.parametrize(("evaluation_type", "config", "field", "reason"), [
    ("direct", {"output": "4"}, "spec.config.input", "FieldValueRequired"),
    ("direct", {"input": "2+2?"}, "spec.config.output", "FieldValueRequired"),
    ("direct", {**VALID_CONFIGS["direct"], "queryRef": {"name": "q"}}, "spec.config.queryRef", "FieldValueForbidden"),
    ("query", {}, "spec.config.queryRef", "FieldValueRequired"),
    ("query", {"queryRef": {"name": "q"}, "input": "x"}, "spec.config.input", "FieldValueForbidden"),
    ("batch", {}, "spec.config.evaluations", "FieldValueRequired"),
    ("batch", {**VALID_CONFIGS["batch"], "input": "x"}, "spec.config.input", "FieldValueForbidden"),
    ("batch", {**VALID_CONFIGS["batch"], "output": "x"}, "spec.config.output", "FieldValueForbidden"),
    ("event", {}, "spec.config.rules", "FieldValueRequired"),
])
def test_an_evaluation_whose_config_does_not_fit_its_type_is_refused(evaluator, evaluation_type, config, field,
                                                                     reason):
    refused = evaluator.refuse("Evaluation", "e", evaluation(evaluation_type, config))
    assert [(c["field"], c["reason"]) for c in refused.causes] == [(field, reason)]
    assert f"{evaluation_type} mode evaluation" in refused.message


def test_an_unknown_type_is_refused_by_the_schema(evaluator):
    assert evaluator.refuse("Evaluation", "e", evaluation("invalid", {})).fields == ["spec.type"]


def test_evaluator_parameters_need_a_name_and_a_value(evaluator):
    refused = evaluator.refuse("Evaluation", "e", evaluation("baseline", {}, parameters=[{"name": "threshold"}]))
    assert refused.fields == ["spec.evaluator.parameters[0].value"]
    refused = evaluator.refuse("Evaluation", "e", evaluation("baseline", {}, parameters=[{"name": "", "value": "1"}]))
    assert refused.fields == ["spec.evaluator.parameters[0].name"]


def test_the_evaluator_must_exist_in_its_namespace(evaluator):
    refused = evaluator.refuse("Evaluation", "e", evaluation("baseline", {}, name="ghost"))
    assert refused.fields == ["spec.evaluator.name"]
    assert f"evaluator 'ghost' does not exist in namespace '{NS}'" in refused.message
    assert evaluator.refuse("Evaluation", "e", evaluation("baseline", {}, namespace="other-ns")).fields == [
        "spec.evaluator.name"]
    evaluator.create("Evaluator", "judge", EVALUATOR, namespace="other-ns")
    evaluator.create("Evaluation", "e", evaluation("baseline", {}, namespace="other-ns"))


def test_evaluation_durations_must_be_ones_go_can_read(evaluator):
    spec = {**evaluation("baseline", {}), "timeout": "forever",
            "config": {"items": [{"type": "direct", "evaluator": {"name": "judge"}, "config": {}, "ttl": "1 day"}]}}
    assert evaluator.refuse("Evaluation", "e", spec).fields == ["spec.timeout", "spec.config.items[0].ttl"]


# Evaluator -------------------------------------------------------------------------------------

def test_an_evaluator_address_must_resolve(admission):
    refused = admission.refuse("Evaluator", "judge", {"address": {"valueFrom": {}}})
    assert refused.fields == ["spec.address.valueFrom"]


def test_the_model_an_evaluator_names_must_exist(admission):
    spec = {**EVALUATOR, "parameters": [{"name": "model.name", "value": "judge-model"}]}
    refused = admission.refuse("Evaluator", "judge", spec)
    assert refused.fields == ["spec.parameters[0].value"]
    assert "model 'judge-model' does not exist" in refused.message
    admission.create("Model", "judge-model", model_spec())
    admission.create("Evaluator", "judge", spec)


def test_the_model_namespace_parameter_says_where_the_model_is(admission):
    spec = {**EVALUATOR, "parameters": [{"name": "model.name", "value": "shared"},
                                        {"name": "model.namespace", "value": "other-ns"}]}
    admission.create("Model", "shared", model_spec())  # in the evaluator's namespace: not the one meant
    assert admission.refuse("Evaluator", "judge", spec).fields == ["spec.parameters[0].value"]
    admission.create("Model", "shared", model_spec(), namespace="other-ns")
    admission.create("Evaluator", "judge", spec)
