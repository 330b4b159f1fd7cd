"""Query admission (docs/admission.md, "Query"), on both databases."""
from __future__ import annotations

import pytest

from tests.admission.conftest import NS, agent_spec, model_spec, query_spec, team_spec

TOOL = {"type": "http", "http": {"url": "https://tools.example.com/run"}}


def test_a_query_needs_a_target_or_a_selector(admission):
    refused = admission.refuse("Query", "q", {"input": "hello"})
    assert refused.fields == ["spec.target"]
    assert refused.causes[0]["reason"] == "FieldValueRequired"
    assert "target or selector must be specified" in refused.message


def test_a_selector_alone_is_enough_and_is_not_checked(admission):
    admission.create("Query", "q", {"input": "hello", "selector": {"matchLabels": {"app": "nobody-yet"}}})


@pytest.mark.parametrize(("target_type", "kind", "spec"), [
    ("agent", "Agent", agent_spec()),
    ("model", "Model", model_spec()),
    ("tool", "Tool", TOOL),
])
def test_a_target_that_exists_is_accepted(admission, target_type, kind, spec):
    admission.create(kind, "it", spec)
    created = admission.create("Query", "q", query_spec(target={"type": target_type, "name": "it"}))
    assert created.obj["spec"]["target"] == {"type": target_type, "name": "it"}


def test_a_team_target_that_exists_is_accepted(admission):
    admission.create("Agent", "member", agent_spec())
    admission.create("Team", "crew", team_spec("member"))
    admission.create("Query", "q", query_spec(target={"type": "team", "name": "crew"}))


@pytest.mark.parametrize("target_type", ["agent", "team", "model", "tool"])
def test_a_target_that_does_not_exist_is_refused(admission, target_type):
    refused = admission.refuse("Query", "q", query_spec(target={"type": target_type, "name": "ghost"}))
    assert refused.causes == [{"reason": "FieldValueNotFound", "field": "spec.target.name",
                               "message": f'Not found: "ghost": target references {target_type} \'ghost\' '
                                          f"does not exist in namespace '{NS}'"}]


def test_a_target_of_the_same_name_in_another_namespace_does_not_count(admission):
    admission.create("Agent", "helper", agent_spec(), namespace="elsewhere")
    assert admission.refuse("Query", "q", query_spec()).fields == ["spec.target.name"]


def test_a_target_type_outside_the_list_is_refused(admission):
    refused = admission.refuse("Query", "q", query_spec(target={"type": "memory", "name": "m"}))
    assert refused.fields == ["spec.target.type"]
    assert refused.causes[0]["reason"] == "FieldValueNotSupported"


def test_an_invalid_parameter_is_refused(admission):
    admission.create("Agent", "helper", agent_spec())
    refused = admission.refuse("Query", "q", query_spec(parameters=[{"name": "city"}]))
    assert refused.fields == ["spec.parameters[0].value"]
    assert "must specify either value or valueFrom" in refused.message


def test_an_invalid_override_is_refused(admission):
    admission.create("Agent", "helper", agent_spec())
    refused = admission.refuse("Query", "q", query_spec(overrides=[{"resourceType": "model", "headers": []}]))
    assert refused.fields == ["spec.overrides[0].headers"]
    assert "headers list cannot be empty" in refused.message


def test_durations_must_be_ones_go_can_read(admission):
    admission.create("Agent", "helper", agent_spec())
    admission.create("Query", "fine", query_spec(timeout="1m30s", ttl="720h"))
    refused = admission.refuse("Query", "q", query_spec(timeout="5 minutes", ttl="10"))
    assert refused.fields == ["spec.timeout", "spec.ttl"]
    assert "must be a duration such as 30s" in refused.message


def test_every_failing_rule_is_one_cause(admission):
    spec = query_spec(target={"type": "agent", "name": "ghost"}, parameters=[{"name": "p"}],
                      overrides=[{"resourceType": "mcpserver", "headers": []}], timeout="soon")
    assert admission.refuse("Query", "q", spec).fields == [
        "spec.target.name", "spec.parameters[0].value", "spec.overrides[0].headers", "spec.timeout"]


def test_an_update_re_checks_the_target(admission):
    admission.create("Agent", "helper", agent_spec())
    admission.create("Query", "q", query_spec())
    admission.delete("Agent", "helper")
    refused = admission.refuse_update("Query", "q", lambda q: q["metadata"].update(labels={"a": "b"}))
    assert refused.fields == ["spec.target.name"]


def test_a_query_being_deleted_is_never_refused(admission):
    admission.create("Agent", "helper", agent_spec())
    admission.create("Query", "q", query_spec())
    admission.update("Query", "q", lambda q: q["metadata"].update(finalizers=["ark.mckinsey.com/cleanup"]))
    admission.delete("Query", "q")
    admission.delete("Agent", "helper")  # the target now dangles

    def break_it_and_release(query: dict) -> None:
        query["spec"]["timeout"] = "not a duration"
        query["metadata"]["finalizers"] = []

    admission.update("Query", "q", break_it_and_release)
    assert admission.get("Query", "q") is None  # the last finalizer gone: deleted
