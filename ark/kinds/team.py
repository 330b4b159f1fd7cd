"""Team: several agents working on one query under a coordination strategy.

A query that targets a team is passed between its members. The strategy decides who speaks
next: each in turn once (sequential), in turns until done (round-robin), chosen by a
selector agent (selector), or along the edges of a graph (graph).
"""

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields

from ark.kinds import agent
from ark.kinds.admission.metadata import namespace_of
from ark.kinds.admission.references import missing, require
from ark.kinds.common import Condition
from ark.kinds.fields import Integer, String
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy

STRATEGIES = ("sequential", "round-robin", "selector", "graph")
MEMBER_TYPES = ("agent", "team")
#: The execution engine of agents served through A2A, which run like Ark's own.
A2A_ENGINE = "a2a"

#: An agent of the team's namespace by name, read at most once per write (None: missing).
AgentReader = Callable[[str], dict[str, Any] | None]


class GraphEdge(Schema):
    """A permitted hand-over from one member to another."""

    from_ = String(required=True, data_key="from", metadata={"description": "Member that hands over."})
    to = String(required=True, metadata={"description": "Member that takes over."})


class TeamGraph(Schema):
    """The hand-overs the graph strategy follows."""

    edges = fields.List(fields.Nested(GraphEdge), required=True, metadata={"description": "Permitted hand-overs."})


class TeamMember(Schema):
    """One participant of the team."""

    name = String(required=True, metadata={"description": "Name of the member resource."})
    type = String(required=True, metadata={"description": "Kind of the member, e.g. agent."})


class TeamSelector(Schema):
    """How the selector strategy picks the next member."""

    agent = String(metadata={"description": "Agent that decides who speaks next."})
    selectorPrompt = String(metadata={"description": "Prompt the deciding agent is given."})


class TeamSpec(Schema):
    """Who is in the team and how they take turns."""

    description = String(metadata={"description": "What the team does; also shown when agents use it as a tool."})
    graph = fields.Nested(TeamGraph, metadata={"description": "Hand-overs allowed under the graph strategy."})
    maxTurns = Integer(metadata={"description": "Upper limit on member turns before the team stops."})
    members = fields.List(
        fields.Nested(TeamMember), required=True, metadata={"description": "The participants, in order."}
    )
    selector = fields.Nested(TeamSelector, metadata={"description": "Settings for the selector strategy."})
    strategy = String(
        required=True,
        metadata={"description": "How members take turns, e.g. sequential, round-robin, selector or graph."},
    )


class TeamStatus(Schema):
    """Whether the team can currently be used."""

    conditions = fields.List(
        fields.Nested(Condition), metadata={"description": "Current state, notably the Available condition."}
    )


class TeamStrategy(Strategy):
    """Ark's Team rules: a known strategy with what it needs (a selector agent that exists; a
    graph whose edges join members, at most one edge out of each member and maxTurns for the
    graph strategy); members that exist, are agents or teams and are not the team itself; no
    mix of agents run by Ark and agents run by an external execution engine."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, namespace, path = obj["spec"], namespace_of(obj), Path("spec")
        loaded: dict[str, dict[str, Any] | None] = {}

        def read_agent(name: str) -> dict[str, Any] | None:
            if name not in loaded:
                loaded[name] = lookup.get(agent.KIND, namespace, name)
            return loaded[name]

        return [
            *_strategy_errors(spec, path, namespace, read_agent),
            *_member_errors(lookup, obj["metadata"]["name"], namespace, spec["members"], path.child("members"),
                            read_agent),
        ]


def _strategy_errors(spec: dict[str, Any], path: Path, namespace: str, read_agent: AgentReader) -> list[FieldError]:
    strategy = spec["strategy"]
    if strategy == "selector":
        selector_agent = (spec.get("selector") or {}).get("agent") or ""
        at = path.child("selector", "agent")
        if not selector_agent:
            problems = [field.required(at, "selector strategy requires selector.agent to be specified")]
        elif read_agent(selector_agent) is None:
            problems = [missing(agent.KIND, namespace, selector_agent, at, "selector ")]
        else:
            problems = []
        if spec.get("graph") is not None:
            problems += _graph_errors(spec, path, single_successor=False)
        return problems
    if strategy == "graph":
        if spec.get("graph") is None:
            return [field.required(path.child("graph"), "graph strategy requires graph configuration")]
        problems = _graph_errors(spec, path, single_successor=True)
        if spec.get("maxTurns") is None:
            problems.append(field.required(path.child("maxTurns"),
                                           "graph strategy requires maxTurns to prevent infinite execution"))
        return problems
    if strategy not in STRATEGIES:
        return [field.not_supported(path.child("strategy"), strategy, STRATEGIES)]
    return []


def _graph_errors(spec: dict[str, Any], path: Path, *, single_successor: bool) -> list[FieldError]:
    """Edges join members; under the graph strategy no member has two successors."""
    edges, at = spec["graph"]["edges"], path.child("graph", "edges")
    if not edges:
        return [field.required(at, "the graph requires at least one edge")]
    members = {member["name"] for member in spec["members"]}
    problems: list[FieldError] = []
    seen: set[str] = set()
    for i, edge in enumerate(edges):
        for end in ("from", "to"):
            if edge[end] not in members:
                problems.append(field.not_found(at.index(i).child(end), edge[end],
                                                f"'{end}' member '{edge[end]}' not found in team members"))
        if single_successor and edge["from"] in seen:
            problems.append(field.invalid(at.index(i).child("from"), edge["from"],
                                          f"member '{edge['from']}' has more than one outgoing edge"))
        seen.add(edge["from"])
    return problems


def _member_errors(lookup: Lookup, team_name: str, namespace: str, members: list[dict[str, Any]], path: Path,
                   read_agent: AgentReader) -> list[FieldError]:
    problems: list[FieldError] = []
    agents: list[tuple[Path, str, str]] = []  # the agent members found: path, name, external engine or ""
    for i, member in enumerate(members):
        at, name, member_type = path.index(i), member["name"], member["type"]
        if name == team_name:
            problems.append(field.invalid(at.child("name"), name, f"team '{name}' cannot reference itself"))
        elif member_type == "team":
            problems += require(lookup, KIND, namespace, name, at.child("name"), "team member references ")
        elif member_type != "agent":
            problems.append(field.not_supported(at.child("type"), member_type, MEMBER_TYPES))
        elif (found := read_agent(name)) is None:
            problems.append(missing(agent.KIND, namespace, name, at.child("name"), "team member references "))
        else:
            engine = ((found.get("spec") or {}).get("executionEngine") or {}).get("name") or ""
            agents.append((at, name, "" if engine == A2A_ENGINE else engine))
    return problems + _mixed_team_errors(agents)


def _mixed_team_errors(agents: list[tuple[Path, str, str]]) -> list[FieldError]:
    """Agents Ark runs (no execution engine, or A2A) and agents an external engine runs cannot
    share a team; reported once, at the first member that mixes them."""
    external = next(((name, engine) for _, name, engine in agents if engine), None)
    if external is None:
        return []
    kinds_seen: set[bool] = set()
    for at, _name, engine in agents:
        kinds_seen.add(bool(engine))
        if len(kinds_seen) == 2:
            return [field.forbidden(at, "mixed teams are not allowed: the team has both internal and external "
                                        f"agents (agent '{external[0]}' uses the external execution engine "
                                        f"'{external[1]}')")]
    return []


KIND = Kind(
    kind="Team",
    plural="teams",
    singular="team",
    version="v1alpha1",
    description="A group of agents that work on a query together, taking turns according to a strategy.",
    spec=TeamSpec(),
    status=TeamStatus(),
    strategy_class=TeamStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Strategy", "string", ".spec.strategy"),
        PrinterColumn("Available", "string", '.status.conditions[?(@.type=="Available")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
