"""Query: one request to an agent, team, model or tool, and its answer.

Creating a Query runs its input against the target. The status follows the run from pending
to done (or error) and records the response, how long it took and the tokens it used.
Queries can continue a conversation kept in a Memory.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds import agent, model, team, tool
from ark.kinds.admission.durations import duration_errors
from ark.kinds.admission.metadata import namespace_of
from ark.kinds.admission.references import require
from ark.kinds.admission.values import override_errors, parameter_errors
from ark.kinds.common import Condition, LabelSelector, ObjectRef, Override, Parameter, TokenUsage
from ark.kinds.fields import Boolean, FreeForm, String, enum, length
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy


class QueryTarget(Schema):
    """What a query runs against: a resource of one of four kinds, by name."""

    name = String(required=True, validate=[length(1, None)], metadata={"description": "Name of the target resource."})
    type = String(
        required=True,
        validate=[enum("agent", "team", "model", "tool")],
        metadata={"description": "Kind of the target: agent, team, model or tool."},
    )


class A2AResponseInfo(Schema):
    """A2A identifiers of a response that came from an agent on an A2A server."""

    contextId = String(metadata={"description": "A2A conversation context of the response."})
    taskId = String(metadata={"description": "A2A task created for the response, if any (see A2ATask)."})


class QueryResponse(Schema):
    """The answer the target gave."""

    a2a = fields.Nested(A2AResponseInfo, metadata={"description": "A2A identifiers, when the target is an A2A agent."})
    content = String(metadata={"description": "The answer text."})
    phase = String(metadata={"description": "State of this response."})
    raw = String(metadata={"description": "The full answer as returned, e.g. all messages as JSON."})
    target = fields.Nested(QueryTarget, metadata={"description": "The target that gave this response."})


class QuerySpec(Schema):
    """What to ask, whom to ask, and under which limits."""

    cancel = Boolean(metadata={"description": "Set to true to ask for the running query to be stopped."})
    conversationId = String(
        validate=[length(1, None)],
        metadata={"description": "Conversation to continue; its history comes from the memory."},
    )
    input = FreeForm(
        required=True,
        metadata={"description": "The request: a string for type user, a list of chat messages for type messages."},
    )
    memory = fields.Nested(ObjectRef, metadata={"description": "The Memory that stores the conversation."})
    overrides = fields.List(
        fields.Nested(Override),
        metadata={"description": "Extra headers for the models and MCP servers the query calls."},
    )
    parameters = fields.List(
        fields.Nested(Parameter), metadata={"description": "Values substituted into placeholders in the input."}
    )
    selector = fields.Nested(
        LabelSelector,
        metadata={"description": "Choose targets by label instead of naming one.", "x-kubernetes-map-type": "atomic"},
    )
    serviceAccount = String(
        validate=[length(1, None)], metadata={"description": "Service account whose permissions the query runs with."}
    )
    sessionId = String(
        validate=[length(1, None)], metadata={"description": "Groups related queries, e.g. for tracing."}
    )
    target = fields.Nested(QueryTarget, metadata={"description": "The agent, team, model or tool to ask."})
    timeout = String(load_default="5m", metadata={"description": "Longest time the query may run, as a duration."})
    ttl = String(
        load_default="720h", metadata={"description": "How long to keep the finished query before it may be deleted."}
    )
    type = String(
        load_default="user",
        validate=[enum("user", "messages")],
        metadata={"description": "Form of the input: user (one user message) or messages (a chat history)."},
    )


class QueryStatus(Schema):
    """How the query went and what came back."""

    conditions = fields.List(fields.Nested(Condition), metadata={"description": "Current state of the query."})
    conversationId = String(
        validate=[length(1, None)],
        metadata={"description": "Conversation the query took part in; pass it on to continue."},
    )
    duration = String(metadata={"description": "How long the query ran."})
    phase = String(
        load_default="pending",
        validate=[enum("pending", "running", "error", "done", "canceled")],
        metadata={"description": "Lifecycle phase: pending, running, done, error or canceled."},
    )
    response = fields.Nested(QueryResponse, metadata={"description": "The target's answer."})
    tokenUsage = fields.Nested(TokenUsage, metadata={"description": "Tokens the query consumed."})


#: What a target of each type is.
TARGET_KINDS = {"agent": agent.KIND, "team": team.KIND, "model": model.KIND, "tool": tool.KIND}


class QueryStrategy(Strategy):
    """Ark's Query rules: a target or a selector, a target that exists in the query's
    namespace, parameters and overrides that are well formed, durations Go can read. (A Query
    being deleted is never refused: the store skips the rules for it.)"""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, namespace, path = obj["spec"], namespace_of(obj), Path("spec")
        return [
            *_target_errors(lookup, namespace, spec, path),
            *parameter_errors(lookup, namespace, spec.get("parameters"), path.child("parameters")),
            *override_errors(spec.get("overrides"), path.child("overrides")),
            *duration_errors(spec, path, ("timeout", "ttl")),
        ]


def _target_errors(lookup: Lookup, namespace: str, spec: dict[str, Any], path: Path) -> list[FieldError]:
    target = spec.get("target")
    if target is None:
        if spec.get("selector") is None:
            return [field.required(path.child("target"), "target or selector must be specified")]
        return []  # the selector is not checked: it may match nothing yet
    return require(lookup, TARGET_KINDS[target["type"]], namespace, target["name"], path.child("target", "name"),
                   "target references ")


KIND = Kind(
    kind="Query",
    plural="queries",
    singular="query",
    version="v1alpha1",
    description="A request run against an agent, team, model or tool; the status carries the response.",
    spec=QuerySpec(),
    status=QueryStatus(),
    strategy_class=QueryStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Duration", "string", ".status.duration"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
