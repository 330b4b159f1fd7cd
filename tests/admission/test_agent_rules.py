"""Agent admission (docs/admission.md, "Agent"): defaults, migration warnings and rules."""
from __future__ import annotations

import pytest

from tests.admission.conftest import NS, agent_spec

CUSTOM_TOOL_ANNOTATION = "ark.mckinsey.com/migration-warning-tool-type-custom"
SKIP = {"ark.mckinsey.com/skip-webhook-validation": "true"}


def test_an_agent_without_a_model_uses_the_default_model_and_gets_no_warning(admission):
    created = admission.create("Agent", "a", {"prompt": "You help."})
    assert created.obj["spec"]["modelRef"] == {"name": "default"}
    assert created.warnings == []
    assert admission.get("Agent", "a")["spec"]["modelRef"] == {"name": "default"}


def test_a_model_is_kept_and_is_not_looked_up(admission):
    created = admission.create("Agent", "a", agent_spec(modelRef={"name": "custom-model"}))
    assert created.obj["spec"]["modelRef"] == {"name": "custom-model"}


def test_an_agent_an_a2a_server_made_stays_without_a_model(admission):
    created = admission.create("Agent", "a", {"prompt": "remote"},
                               annotations={"ark.mckinsey.com/a2a-server-name": "weather-server"})
    assert "modelRef" not in created.obj["spec"]


def test_removing_the_model_on_update_restores_the_default(admission):
    admission.create("Agent", "a", agent_spec(modelRef={"name": "custom-model"}))
    updated = admission.update("Agent", "a", lambda a: a["spec"].pop("modelRef"))
    assert updated.obj["spec"]["modelRef"] == {"name": "default"}


@pytest.mark.parametrize("engine", ["a2a", "langchain"])
def test_any_execution_engine_is_accepted_on_create_and_update(admission, engine):
    admission.create("Agent", "a", agent_spec(executionEngine={"name": engine}))
    admission.update("Agent", "a", lambda a: a["spec"].update(description="changed"))


def test_a_custom_tool_leaves_a_migration_warning_naming_the_agent_and_its_first_custom_tool(admission):
    tools = [{"type": "mcp", "name": "search"}, {"type": "custom", "name": "my-mcp-tool"},
             {"type": "custom", "name": "second"}]
    created = admission.create("Agent", "test-agent", agent_spec(tools=tools))
    text = created.obj["metadata"]["annotations"][CUSTOM_TOOL_ANNOTATION]
    assert "agent 'test-agent'" in text and "tool 'my-mcp-tool'" in text and "deprecated" in text
    assert "second" not in text
    assert created.warnings == [text]
    # the annotation stays, so every later write warns again
    assert admission.update("Agent", "test-agent", lambda a: a["spec"].update(prompt="again")).warnings == [text]


def test_tools_of_real_types_leave_no_annotation(admission):
    created = admission.create("Agent", "a", agent_spec(tools=[{"type": "mcp", "name": "m"},
                                                               {"type": "http", "name": "h"}]))
    assert "annotations" not in created.obj["metadata"]
    assert created.warnings == []


def test_every_migration_annotation_is_a_warning(admission):
    annotations = {"ark.mckinsey.com/migration-warning-test": "something was migrated", "other": "not a warning"}
    assert admission.create("Agent", "a", agent_spec(), annotations=annotations).warnings == [
        "something was migrated"]


@pytest.mark.parametrize(("tool", "reason", "fragment"), [
    ({"type": "built-in"}, "FieldValueRequired", "built-in tools must specify a name"),
    ({"type": "built-in", "name": "invalid"}, "FieldValueNotSupported", 'supported values: "noop", "terminate"'),
    ({"type": "mcp"}, "FieldValueRequired", "mcp tools must specify a name"),
    ({"type": "http"}, "FieldValueRequired", "http tools must specify a name"),
    ({"type": "custom"}, "FieldValueRequired", "custom tools must specify a name"),
])
def test_tools_need_a_name_and_built_in_ones_a_known_one(admission, tool, reason, fragment):
    refused = admission.refuse("Agent", "a", agent_spec(tools=[{"type": "agent", "name": "fine"}, tool]))
    assert [(c["field"], c["reason"]) for c in refused.causes] == [("spec.tools[1].name", reason)]
    assert fragment in refused.message


@pytest.mark.parametrize("name", ["noop", "terminate"])
def test_the_built_in_tools_are_accepted(admission, name):
    admission.create("Agent", "a", agent_spec(tools=[{"type": "built-in", "name": name}]))


@pytest.mark.parametrize(("spec", "field"), [
    (agent_spec(tools=[{"type": "unknown", "name": "x"}]), "spec.tools[0].type"),
    (agent_spec(parameters=[{"name": "", "value": "v"}]), "spec.parameters[0].name"),
    (agent_spec(overrides=[{"resourceType": "invalid", "headers": [{"name": "h", "value": {"value": "v"}}]}]),
     "spec.overrides[0].resourceType"),
])
def test_what_the_schema_already_refuses_is_refused(admission, spec, field):
    assert admission.refuse("Agent", "a", spec).fields == [field]


def test_parameters_and_overrides_are_checked(admission):
    both = {"name": "p", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    spec = agent_spec(parameters=[both],
                      overrides=[{"resourceType": "model", "headers": [{"name": "h", "value": {}}]}])
    assert admission.refuse("Agent", "a", spec).fields == ["spec.parameters[0].valueFrom",
                                                          "spec.overrides[0].headers[0].value.value"]


def test_a_parameter_from_a_missing_secret_is_refused_when_the_cluster_can_be_read(admission, standalone, cluster):
    spec = agent_spec(parameters=[{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "t"}}}])
    refused = admission.refuse("Agent", "a", spec)
    assert refused.causes == [{"reason": "FieldValueNotFound",
                               "field": "spec.parameters[0].valueFrom.secretKeyRef.name",
                               "message": f"Not found: \"creds\": secret 'creds' does not exist in namespace '{NS}'"}]
    standalone.create("Agent", "b", spec)  # no source of Secrets: skipped without error
    cluster.secret("creds", t="secret-value")
    admission.create("Agent", "a", spec)


def test_the_skip_label_bypasses_defaults_rules_and_warnings(admission):
    tools = [{"type": "built-in", "name": "bogus"}, {"type": "custom", "name": "c"}]
    created = admission.create("Agent", "a", {"prompt": "p", "tools": tools}, labels=SKIP)
    assert "modelRef" not in created.obj["spec"]
    assert "annotations" not in created.obj["metadata"]
    assert created.warnings == []
    assert admission.create("Agent", "b", {"prompt": "p"}, labels={**SKIP}).obj["spec"] == {"prompt": "p"}
    # any other value of the label is no bypass
    refused = admission.refuse("Agent", "c", {"prompt": "p", "tools": tools},
                               labels={"ark.mckinsey.com/skip-webhook-validation": "yes"})
    assert refused.fields == ["spec.tools[0].name"]
