"""Agent: an LLM-driven worker with a prompt, a model and the tools it may call.

An agent is what a Query or a Team member usually targets. Ark runs it with its built-in
engine against the referenced Model, or hands it to an ExecutionEngine when one is named.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Condition, ObjectRef, Override, Parameter
from ark.kinds.fields import FreeObject, String, enum, length
from ark.kinds.registry import Kind, PrinterColumn
from ark.registry.strategy import Strategy


class PartialTool(Schema):
    """How a tool is presented to the agent: a different name and parameters fixed in advance."""

    name = String(validate=[length(1, None)], metadata={"description": "Name the agent sees for the tool."})
    parameters = fields.List(
        fields.Nested(Parameter),
        metadata={"description": "Tool arguments set here and hidden from the agent; filled in when the tool runs."},
    )


class AgentTool(Schema):
    """One tool the agent may call."""

    description = String(metadata={"description": "Description of the tool as the agent sees it."})
    functions = fields.List(
        fields.Nested(Parameter), metadata={"description": "Functions of the tool to offer, by name."}
    )
    name = String(validate=[length(1, None)], metadata={"description": "Name of the tool to use."})
    # "partial" is also an attribute of marshmallow's Schema: declared under another name.
    partial_ = fields.Nested(
        PartialTool, data_key="partial", metadata={"description": "Rename the tool or pre-set some of its arguments."}
    )
    type = String(
        required=True,
        validate=[enum("built-in", "custom", "mcp", "http", "agent", "team", "builtin")],
        metadata={"description": "Kind of tool: a Tool resource (custom, http, mcp, agent, team) or a built-in one."},
    )


class AgentSpec(Schema):
    """What the agent is told, which model it uses and what it may call."""

    description = String(
        metadata={"description": "What the agent does; also shown when other agents use it as a tool."}
    )
    executionEngine = fields.Nested(
        ObjectRef, metadata={"description": "ExecutionEngine that runs the agent; unset means Ark's built-in engine."}
    )
    modelRef = fields.Nested(ObjectRef, metadata={"description": "The Model the agent sends its prompts to."})
    outputSchema = FreeObject(metadata={"description": "JSON Schema the agent's answer must conform to."})
    overrides = fields.List(
        fields.Nested(Override),
        metadata={"description": "Extra headers for the models and MCP servers the agent calls."},
    )
    parameters = fields.List(
        fields.Nested(Parameter), metadata={"description": "Values substituted into placeholders in the prompt."}
    )
    prompt = String(metadata={"description": "System prompt: the instructions the agent follows."})
    tools = fields.List(fields.Nested(AgentTool), metadata={"description": "Tools the agent may call."})


class AgentStatus(Schema):
    """Whether the agent can currently be used."""

    conditions = fields.List(
        fields.Nested(Condition), metadata={"description": "Current state, notably the Available condition."}
    )


KIND = Kind(
    kind="Agent",
    plural="agents",
    singular="agent",
    version="v1alpha1",
    description="An LLM-driven agent: a prompt, the model it runs on, and the tools it may call.",
    spec=AgentSpec(),
    status=AgentStatus(),
    strategy_class=Strategy,
    printer_columns=(
        PrinterColumn("Model", "string", ".spec.modelRef.name"),
        PrinterColumn("Available", "string", '.status.conditions[?(@.type=="Available")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
