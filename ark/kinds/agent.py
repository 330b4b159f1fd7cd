"""Agent: an LLM-driven worker with a prompt, a model and the tools it may call.

An agent is what a Query or a Team member usually targets. Ark runs it with its built-in
engine against the referenced Model, or hands it to an ExecutionEngine when one is named.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.admission.metadata import (
    annotate_migration,
    annotations_of,
    migration_warnings,
    namespace_of,
    skips_validation,
)
from ark.kinds.admission.values import override_errors, parameter_errors
from ark.kinds.common import Condition, ObjectRef, Override, Parameter
from ark.kinds.fields import FreeObject, String, enum, length
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy

#: Agents an A2AServer generates carry this annotation and run without a model.
A2A_SERVER_ANNOTATION = "ark.mckinsey.com/a2a-server-name"
DEFAULT_MODEL = "default"
#: The functions an agent tool of type ``built-in`` may name.
BUILT_IN_TOOLS = ("noop", "terminate")


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


class AgentStrategy(Strategy):
    """Ark's Agent admission. Defaults: an agent without ``modelRef`` uses the Model named
    ``default`` (unless an A2AServer made it); a tool of the deprecated type ``custom`` leaves a
    migration warning. Rules: parameters and overrides are well formed, every tool has a name
    and a ``built-in`` one is ``noop`` or ``terminate``. The model and the tools are not looked
    up (their absence shows in the agent's status). The skip-validation label bypasses all of it."""

    def default(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if skips_validation(obj):
            return
        spec = obj.setdefault("spec", {})  # an agent sent without a spec gets the default model too
        if not isinstance(spec, dict):
            return  # the schema refuses it
        if spec.get("modelRef") is None and A2A_SERVER_ANNOTATION not in annotations_of(obj):
            spec["modelRef"] = {"name": DEFAULT_MODEL}
        tools = spec.get("tools")
        custom = next((t for t in tools if isinstance(t, dict) and t.get("type") == "custom"), None) \
            if isinstance(tools, list) else None
        if custom is not None:
            annotate_migration(obj, "tool-type-custom",
                               f"agent '{obj['metadata'].get('name', '')}' tool '{custom.get('name', '')}': type "
                               "'custom' is deprecated, use the tool's actual type (mcp, http, agent, team, builtin) "
                               "instead")

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        if skips_validation(obj):
            return []
        spec, namespace, path = obj["spec"], namespace_of(obj), Path("spec")
        return [
            *parameter_errors(lookup, namespace, spec.get("parameters"), path.child("parameters")),
            *override_errors(spec.get("overrides"), path.child("overrides")),
            *_tool_errors(spec.get("tools"), path.child("tools")),
        ]

    def warnings(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        return [] if skips_validation(obj) else migration_warnings(obj)


def _tool_errors(tools: list[dict[str, Any]] | None, path: Path) -> list[FieldError]:
    problems: list[FieldError] = []
    for i, tool in enumerate(tools or ()):
        at, name = path.index(i).child("name"), tool.get("name") or ""
        if not name:
            problems.append(field.required(at, f"{tool['type']} tools must specify a name"))
        elif tool["type"] == "built-in" and name not in BUILT_IN_TOOLS:
            problems.append(field.not_supported(at, name, BUILT_IN_TOOLS))
    return problems


KIND = Kind(
    kind="Agent",
    plural="agents",
    singular="agent",
    version="v1alpha1",
    description="An LLM-driven agent: a prompt, the model it runs on, and the tools it may call.",
    spec=AgentSpec(),
    status=AgentStatus(),
    strategy_class=AgentStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Model", "string", ".spec.modelRef.name"),
        PrinterColumn("Available", "string", '.status.conditions[?(@.type=="Available")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
