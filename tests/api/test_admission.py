"""Ark's admission over the real server on both databases: a representative set of the rules
of docs/admission.md (tests/admission has them all, in-process)."""
from __future__ import annotations

from arkrest import GROUP, V1ALPHA1, assert_status, obj, warnings_of

MIGRATED = "spec.type is deprecated for provider values - migrated 'azure' to spec.provider"


def body(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": V1ALPHA1, "kind": kind, "metadata": {"name": name}, "spec": spec}


def post(ark, plural: str, document: dict, **params):
    return ark.http.post(ark.url(plural), json=document, params=params)


def test_a_query_whose_target_is_missing_is_422_naming_the_target(ark):
    query = obj("q1", spec={"input": "hi", "target": {"type": "agent", "name": "weather-agent"}})
    status = assert_status(post(ark, "queries", query), 422, "Invalid")
    detail = f"target references agent 'weather-agent' does not exist in namespace '{ark.namespace}'"
    assert status["message"] == f'Query.{GROUP} "q1" is invalid: spec.target.name: Not found: "weather-agent": {detail}'
    assert status["details"] == {"name": "q1", "group": GROUP, "kind": "Query", "causes": [
        {"reason": "FieldValueNotFound", "message": f'Not found: "weather-agent": {detail}',
         "field": "spec.target.name"}]}
    assert ark.http.get(ark.url("queries", "q1")).status_code == 404

    assert post(ark, "agents", body("Agent", "weather-agent", {"prompt": "p"})).status_code == 201
    created = ark.create(query)
    assert created["spec"]["target"] == {"type": "agent", "name": "weather-agent"}


def test_an_agent_in_another_namespace_is_no_target(ark):
    ark.create_namespace(ark.namespace + "-other")
    other = ark.url("agents", namespace=ark.namespace + "-other")
    assert ark.http.post(other, json=body("Agent", "helper", {"prompt": "p"})).status_code == 201
    query = obj("q1", spec={"input": "hi", "target": {"type": "agent", "name": "helper"}})
    assert_status(post(ark, "queries", query), 422, "Invalid")


def test_a_legacy_model_is_created_migrated_with_a_warning_header(ark):
    legacy = body("Model", "default", {"type": "azure", "model": {"value": "gpt-4.1-mini"}, "config": {"azure": {
        "baseUrl": {"value": "https://example.openai.azure.com"}, "apiKey": {"value": "k"},
        "apiVersion": {"value": "2024-12-01-preview"}}}})
    response = post(ark, "models", legacy)
    assert response.status_code == 201, response.text
    assert warnings_of(response) == [MIGRATED]
    stored = ark.get("default", "models")
    assert (stored["spec"]["provider"], stored["spec"]["type"]) == ("azure", "completions")
    assert stored["metadata"]["annotations"] == {"ark.mckinsey.com/migration-warning-provider": MIGRATED}


def test_an_agent_gets_the_default_model(ark):
    created = post(ark, "agents", body("Agent", "a", {"prompt": "p"})).json()
    assert created["spec"]["modelRef"] == {"name": "default"}


def test_a_team_refusal_lists_one_cause_per_failing_rule(ark):
    assert post(ark, "agents", body("Agent", "researcher", {"prompt": "p"})).status_code == 201
    team = body("Team", "crew", {"strategy": "graph", "members": [
        {"type": "agent", "name": "researcher"}, {"type": "agent", "name": "ghost"}, {"type": "team", "name": "crew"}],
        "graph": {"edges": [{"from": "researcher", "to": "ghost"}, {"from": "researcher", "to": "crew"}]}})
    status = assert_status(post(ark, "teams", team), 422, "Invalid")
    assert [c["field"] for c in status["details"]["causes"]] == [
        "spec.graph.edges[1].from", "spec.maxTurns", "spec.members[1].name", "spec.members[2].name"]
    assert "more than one outgoing edge" in status["message"] and "cannot reference itself" in status["message"]


def test_a_model_aimed_at_the_metadata_service_is_refused_in_any_spelling(ark):
    for url in ("https://169.254.169.254/", "https://2852039166/", "https://[::ffff:169.254.169.254]/"):
        model = body("Model", "m", {"provider": "openai", "model": {"value": "x"}, "config": {"openai": {
            "baseUrl": {"value": url}, "apiKey": {"value": "k"}}}})
        status = assert_status(post(ark, "models", model), 422, "Invalid")
        assert "link-local and metadata service IP addresses are not allowed: 169.254.169.254" in status["message"]


def test_a_builtin_tool_must_be_named_after_a_built_in_and_dry_run_admits_too(ark):
    tool = {"apiVersion": V1ALPHA1, "kind": "Tool", "metadata": {"name": "my-noop"}, "spec": {"type": "builtin"}}
    status = assert_status(post(ark, "tools", tool, dryRun="All"), 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    tool["metadata"]["name"] = "noop"
    assert post(ark, "tools", tool, dryRun="All").status_code == 201
    assert ark.http.get(ark.url("tools", "noop")).status_code == 404
    assert post(ark, "tools", tool).status_code == 201
