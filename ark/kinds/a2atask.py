"""A2ATask: one long-running task on an A2A server, created on behalf of a Query.

When an agent behind an A2AServer answers a query with a task instead of an immediate reply,
Ark records the task here and polls the server until it finishes. The status mirrors the A2A
task: its protocol state, the message history and the artifacts it produced.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Condition, ObjectRef, QueryRef
from ark.kinds.fields import DateTime, Integer, String, enum, length
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.registry.strategy import Strategy


class AgentRef(Schema):
    """A reference to an Agent; unlike :class:`ObjectRef`, the name may be left empty."""

    name = String(metadata={"description": "Name of the Agent."})
    namespace = String(metadata={"description": "Namespace of the Agent; empty means the task's namespace."})


class MessagePart(Schema):
    """One piece of A2A content: text, a file reference or inline data."""

    data = String(metadata={"description": "Base64-encoded content, for kind data."})
    kind = String(
        required=True,
        validate=[enum("text", "file", "data")],
        metadata={"description": "Content type: text, file or data."},
    )
    metadata = fields.Dict(
        keys=String(), values=String(), metadata={"description": "Extra key/value pairs for the part."}
    )
    mimeType = String(metadata={"description": "Media type of the content, e.g. text/plain."})
    text = String(metadata={"description": "The text, for kind text."})
    uri = String(metadata={"description": "Location of the file, for kind file."})


class Message(Schema):
    """One A2A message exchanged while the task ran."""

    messageId = String(metadata={"description": "Message identifier assigned by the A2A server."})
    metadata = fields.Dict(
        keys=String(), values=String(), metadata={"description": "Extra key/value pairs for the message."}
    )
    parts = fields.List(fields.Nested(MessagePart), required=True, metadata={"description": "Content of the message."})
    role = String(
        required=True,
        validate=[enum("user", "agent", "system")],
        metadata={"description": "Who sent the message: user, agent or system."},
    )


class Artifact(Schema):
    """An output the A2A task produced."""

    artifactId = String(
        required=True,
        validate=[length(1, None)],
        metadata={"description": "Identifier of the artifact within the task."},
    )
    description = String(metadata={"description": "What the artifact contains."})
    metadata = fields.Dict(
        keys=String(), values=String(), metadata={"description": "Extra key/value pairs for the artifact."}
    )
    name = String(metadata={"description": "Display name of the artifact."})
    parts = fields.List(fields.Nested(MessagePart), required=True, metadata={"description": "Content of the artifact."})


class A2ATaskSpec(Schema):
    """Which task to follow, on which server, and for which query."""

    a2aServerRef = fields.Nested(
        ObjectRef, required=True, metadata={"description": "The A2AServer that runs the task and is polled for it."}
    )
    agentRef = fields.Nested(AgentRef, required=True, metadata={"description": "The Agent working on the task."})
    contextId = String(metadata={"description": "A2A conversation context the task belongs to."})
    input = String(metadata={"description": "The input that started the task."})
    parameters = fields.Dict(
        keys=String(), values=String(), metadata={"description": "Extra key/value parameters passed with the task."}
    )
    pollInterval = String(
        load_default="5s", metadata={"description": "How often to ask the server for progress, as a duration."}
    )
    priority = Integer(
        load_default=0, metadata={"format": "int32", "description": "Ordering hint; higher values are handled first."}
    )
    queryRef = fields.Nested(QueryRef, required=True, metadata={"description": "The Query that led to this task."})
    taskId = String(
        required=True,
        validate=[length(1, None)],
        metadata={"description": "Task identifier assigned by the A2A server."},
    )
    timeout = String(
        load_default="12h",
        metadata={"description": "How long to wait for the task to finish before marking it failed."},
    )
    ttl = String(
        load_default="720h", metadata={"description": "How long to keep the finished task before it may be deleted."}
    )


class A2ATaskStatus(Schema):
    """Progress of the task, both as Ark sees it and as the A2A protocol reports it."""

    artifacts = fields.List(fields.Nested(Artifact), metadata={"description": "Outputs the task produced."})
    completionTime = DateTime(metadata={"description": "When the task finished, successfully or not."})
    conditions = fields.List(
        fields.Nested(Condition), metadata={"description": "Current state, notably whether the task has completed."}
    )
    contextId = String(metadata={"description": "A2A conversation context reported by the server."})
    error = String(metadata={"description": "Why the task failed, when it did."})
    history = fields.List(fields.Nested(Message), metadata={"description": "All messages exchanged for the task."})
    lastStatusMessage = fields.Nested(Message, metadata={"description": "The latest status message from the server."})
    lastStatusTimestamp = String(
        metadata={"description": "When the server last reported status, as an RFC 3339 string."}
    )
    phase = String(
        load_default="pending",
        validate=[
            enum(
                "pending",
                "assigned",
                "running",
                "input-required",
                "auth-required",
                "completed",
                "failed",
                "cancelled",
                "unknown",
            )
        ],
        metadata={"description": "Where the task is in its Ark lifecycle."},
    )
    protocolMetadata = fields.Dict(
        keys=String(),
        values=String(),
        metadata={"description": "Key/value metadata the A2A server attached to the task."},
    )
    protocolState = String(
        validate=[
            enum(
                "submitted",
                "working",
                "input-required",
                "completed",
                "canceled",
                "failed",
                "rejected",
                "auth-required",
                "unknown",
            )
        ],
        metadata={"description": "Task state exactly as the A2A protocol reports it."},
    )
    startTime = DateTime(metadata={"description": "When the task started running."})


KIND = Kind(
    kind="A2ATask",
    plural="a2atasks",
    singular="a2atask",
    version="v1alpha1",
    description="A long-running task on an A2A server, started by a Query and followed by Ark until it finishes.",
    spec=A2ATaskSpec(),
    status=A2ATaskStatus(),
    strategy_class=Strategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Query", "string", ".spec.queryRef.name"),
        PrinterColumn("Agent", "string", ".spec.agentRef.name"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
