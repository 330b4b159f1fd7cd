"""Team admission (docs/admission.md, "Team"): strategies, graphs and members."""
from __future__ import annotations

import pytest

from tests.admission.conftest import NS, agent_spec, team_spec


@pytest.fixture
def agents(admission):
    for name in ("researcher", "writer", "reviewer", "coordinator"):
        admission.create("Agent", name, agent_spec())
    return admission


def edges(*pairs: tuple[str, str]) -> dict:
    return {"edges": [{"from": a, "to": b} for a, b in pairs]}


@pytest.mark.parametrize("strategy", ["sequential", "round-robin"])
def test_members_that_exist_under_a_simple_strategy_are_accepted(agents, strategy):
    agents.create("Team", "t", team_spec("researcher", "writer", strategy=strategy))


def test_an_unknown_strategy_is_refused(agents):
    refused = agents.refuse("Team", "t", team_spec("researcher", strategy="unknown"))
    assert refused.fields == ["spec.strategy"]
    assert 'supported values: "sequential", "round-robin", "selector", "graph"' in refused.message


def test_a_team_that_lists_itself_is_refused_whatever_the_member_type(agents):
    for member_type in ("team", "agent"):
        spec = {"strategy": "sequential", "members": [{"type": member_type, "name": "t"}]}
        refused = agents.refuse("Team", "t", spec)
        assert refused.fields == ["spec.members[0].name"]
        assert "team 't' cannot reference itself" in refused.message


def test_a_member_of_another_type_is_refused(agents):
    refused = agents.refuse("Team", "t", {"strategy": "sequential", "members": [{"type": "invalid", "name": "x"}]})
    assert refused.fields == ["spec.members[0].type"]
    assert refused.causes[0]["reason"] == "FieldValueNotSupported"


def test_a_missing_member_is_refused(agents):
    refused = agents.refuse("Team", "t", team_spec("researcher", "nonexistent"))
    assert refused.causes == [{"reason": "FieldValueNotFound", "field": "spec.members[1].name",
                               "message": 'Not found: "nonexistent": team member references agent '
                                          f"'nonexistent' does not exist in namespace '{NS}'"}]


def test_a_team_member_that_exists_is_accepted_and_a_missing_one_refused(agents):
    sub_team = {"strategy": "sequential", "members": [{"type": "team", "name": "sub-team"}]}
    assert agents.refuse("Team", "t", sub_team).fields == ["spec.members[0].name"]
    agents.create("Team", "sub-team", team_spec("writer"))
    agents.create("Team", "t", sub_team)


def test_an_update_after_a_member_was_deleted_is_refused(agents):
    agents.create("Team", "t", team_spec("researcher", "writer"))
    agents.delete("Agent", "writer")
    refused = agents.refuse_update("Team", "t", lambda t: t["spec"].update(description="changed"))
    assert refused.fields == ["spec.members[1].name"]


def test_agents_run_by_an_external_engine_and_by_ark_do_not_mix(agents):
    agents.create("Agent", "external", agent_spec(executionEngine={"name": "langgraph"}))
    agents.create("Agent", "via-a2a", agent_spec(executionEngine={"name": "a2a"}))
    refused = agents.refuse("Team", "t", team_spec("researcher", "external"))
    assert refused.fields == ["spec.members[1]"]
    assert "mixed teams are not allowed" in refused.message and "'langgraph'" in refused.message
    assert agents.refuse("Team", "u", team_spec("external", "writer")).fields == ["spec.members[1]"]
    agents.create("Team", "ark-run", team_spec("researcher", "via-a2a"))  # A2A agents count as Ark's own
    agents.create("Agent", "external-2", agent_spec(executionEngine={"name": "langgraph"}))
    agents.create("Team", "all-external", team_spec("external", "external-2"))


# selector --------------------------------------------------------------------------------------

def test_a_selector_team_needs_a_selector_agent_that_exists(agents):
    refused = agents.refuse("Team", "t", team_spec("researcher", strategy="selector"))
    assert refused.fields == ["spec.selector.agent"]
    assert "requires selector.agent" in refused.message
    refused = agents.refuse("Team", "t", team_spec("researcher", strategy="selector", selector={"agent": "boss"}))
    assert refused.fields == ["spec.selector.agent"]
    assert "selector agent 'boss' does not exist" in refused.message
    agents.create("Team", "t", team_spec("researcher", strategy="selector", selector={"agent": "coordinator"}))


def test_a_selector_graph_may_branch_but_only_between_members(agents):
    spec = team_spec("researcher", "writer", "reviewer", strategy="selector", selector={"agent": "coordinator"})
    agents.create("Team", "ok", {**spec, "graph": edges(("researcher", "writer"), ("researcher", "reviewer"))})
    refused = agents.refuse("Team", "t", {**spec, "graph": edges(("researcher", "nonexistent"))})
    assert refused.fields == ["spec.graph.edges[0].to"]
    assert "not found in team members" in refused.message
    refused = agents.refuse("Team", "t", {**spec, "graph": {"edges": []}})
    assert refused.fields == ["spec.graph.edges"]
    assert "at least one edge" in refused.message


# graph -----------------------------------------------------------------------------------------

def test_a_valid_graph_team_is_accepted(agents):
    spec = team_spec("researcher", "writer", "reviewer", strategy="graph", maxTurns=10,
                     graph=edges(("researcher", "writer"), ("writer", "reviewer")))
    agents.create("Team", "t", spec)


@pytest.mark.parametrize(("extra", "field", "fragment"), [
    ({"maxTurns": 10}, "spec.graph", "graph strategy requires graph configuration"),
    ({"maxTurns": 10, "graph": {"edges": []}}, "spec.graph.edges", "at least one edge"),
    ({"maxTurns": 10, "graph": edges(("nobody", "writer"))}, "spec.graph.edges[0].from", "not found in team members"),
    ({"maxTurns": 10, "graph": edges(("researcher", "nobody"))}, "spec.graph.edges[0].to", "not found in team members"),
    ({"maxTurns": 10, "graph": edges(("researcher", "writer"), ("researcher", "reviewer"))},
     "spec.graph.edges[1].from", "more than one outgoing edge"),
    ({"graph": edges(("researcher", "writer"))}, "spec.maxTurns", "requires maxTurns"),
])
def test_an_invalid_graph_team_is_refused(agents, extra, field, fragment):
    refused = agents.refuse("Team", "t", team_spec("researcher", "writer", "reviewer", strategy="graph", **extra))
    assert refused.fields == [field]
    assert fragment in refused.message


def test_each_problem_of_a_team_is_one_cause(agents):
    spec = team_spec("researcher", "ghost", strategy="graph", graph=edges(("researcher", "x"), ("researcher", "ghost")))
    assert agents.refuse("Team", "t", spec).fields == [
        "spec.graph.edges[0].to", "spec.graph.edges[1].from", "spec.maxTurns", "spec.members[1].name"]


def test_each_agent_is_read_once_per_write(agents, store):
    reads: list[str] = []
    original = agents.resources.lookup.get

    def counting(kind, namespace, name):
        reads.append(f"{kind.kind}/{name}")
        return original(kind, namespace, name)

    agents.resources.lookup.get = counting  # type: ignore[method-assign]
    agents.create("Team", "t", team_spec("researcher", "coordinator", strategy="selector",
                                         selector={"agent": "coordinator"}))
    assert sorted(reads) == ["Agent/coordinator", "Agent/researcher"]
