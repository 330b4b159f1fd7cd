"""Team: several agents working on one query under a coordination strategy.

A query that targets a team is passed between its members. The strategy decides who speaks
next: each in turn once (sequential), in turns until done (round-robin), chosen by a
selector agent (selector), or along the edges of a graph (graph).
"""

from marshmallow import Schema, fields

from ark.kinds.common import Condition
from ark.kinds.fields import Integer, String
from ark.kinds.registry import Kind, PrinterColumn
from ark.registry.strategy import Strategy


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


KIND = Kind(
    kind="Team",
    plural="teams",
    singular="team",
    version="v1alpha1",
    description="A group of agents that work on a query together, taking turns according to a strategy.",
    spec=TeamSpec(),
    status=TeamStatus(),
    strategy_class=Strategy,
    printer_columns=(
        PrinterColumn("Strategy", "string", ".spec.strategy"),
        PrinterColumn("Available", "string", '.status.conditions[?(@.type=="Available")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
