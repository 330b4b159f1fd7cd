"""Tool: a function that agents can call.

A tool is backed by an HTTP endpoint, a tool on an MCP server, another agent or team, or a
function built into Ark. Its description and input schema are what the model sees when it
decides to call it.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.admission.metadata import skips_validation
from ark.kinds.admission.urls import parse_problem
from ark.kinds.common import Header, NamedRef, ObjectRef, Parameter
from ark.kinds.fields import Boolean, FreeObject, String, enum, length, pattern
from ark.kinds.registry import CATEGORIES, Kind
from ark.kinds.validation import json_type
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy

#: The built-in tools there are; a Tool of type builtin is named after one of them.
BUILTIN_TOOLS = ("noop", "terminate")
#: The section each type of tool needs (it is named after the type), and what Ark says when it is missing.
SECTIONS = {"http": "http spec is required for http type", "mcp": "MCP spec is required for mcp type",
            "agent": "agent field is required for agent type", "team": "team field is required for team type"}
SCHEMA_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


class ToolAnnotations(Schema):
    """Hints on the tool's behaviour, as defined by MCP; clients may use them, nothing enforces them."""

    destructiveHint = Boolean(
        metadata={"description": "The tool may delete or overwrite; only meaningful if not read-only."}
    )
    idempotentHint = Boolean(
        metadata={
            "description": "Repeating a call with the same arguments changes nothing more; only if not read-only."
        }
    )
    openWorldHint = Boolean(metadata={"description": "The tool reaches systems outside a closed, known set."})
    readOnlyHint = Boolean(metadata={"description": "The tool changes nothing."})
    title = String(metadata={"description": "Display title of the tool."})


class HTTPToolConfig(Schema):
    """The HTTP request a call to the tool makes."""

    body = String(
        metadata={"description": "Request body, a Go template filled from bodyParameters and the call's arguments."}
    )
    bodyParameters = fields.List(
        fields.Nested(Parameter), metadata={"description": "Values available to the body template."}
    )
    headers = fields.List(fields.Nested(Header), metadata={"description": "HTTP headers sent with the request."})
    method = String(
        load_default="GET",
        validate=[enum("GET", "POST", "PUT", "DELETE", "PATCH")],
        metadata={"description": "HTTP method."},
    )
    timeout = String(
        validate=[pattern("^[0-9]+[smh]?$")], metadata={"description": "Longest wait for the response, e.g. 30s."}
    )
    url = String(
        required=True,
        validate=[pattern("^https?://.*"), length(1, None)],
        metadata={"description": "URL to call; an http or https URL."},
    )


class MCPToolConfig(Schema):
    """Which tool on which MCP server a call goes to."""

    mcpServerRef = fields.Nested(ObjectRef, required=True, metadata={"description": "The MCPServer offering the tool."})
    toolName = String(
        required=True, validate=[length(1, None)], metadata={"description": "Name of the tool on that server."}
    )


class ToolSpec(Schema):
    """What the tool does and what backs it; fill in the section that matches type."""

    agent = fields.Nested(NamedRef, metadata={"description": "For type agent: the Agent that answers calls."})
    annotations = fields.Nested(ToolAnnotations, metadata={"description": "Behaviour hints for clients."})
    builtin = fields.Nested(NamedRef, metadata={"description": "For type builtin: the built-in function to run."})
    description = String(metadata={"description": "What the tool does, as the model sees it."})
    http = fields.Nested(HTTPToolConfig, metadata={"description": "For type http: the request to make."})
    inputSchema = FreeObject(metadata={"description": "JSON Schema of the arguments the tool takes."})
    mcp = fields.Nested(MCPToolConfig, metadata={"description": "For type mcp: the MCP server tool to call."})
    team = fields.Nested(NamedRef, metadata={"description": "For type team: the Team that answers calls."})
    type = String(
        required=True,
        validate=[enum("http", "mcp", "agent", "team", "builtin")],
        metadata={"description": "What backs the tool: http, mcp, agent, team or builtin."},
    )


class ToolStatus(Schema):
    """Whether the tool can currently be used."""

    message = String(metadata={"description": "Detail about the current state."})
    state = String(metadata={"description": "Readiness of the tool."})


class ToolStrategy(Strategy):
    """Ark's Tool rules: the input schema is a JSON Schema with known types; the section of
    the tool's type is present; an http tool's URL parses; a builtin tool is named after a
    built-in (``noop`` or ``terminate``). Nothing a tool points to is looked up. The
    skip-validation label bypasses the rules."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        if skips_validation(obj):
            return []
        spec, path = obj["spec"], Path("spec")
        problems = input_schema_errors(spec["inputSchema"], path.child("inputSchema")) if "inputSchema" in spec else []
        tool_type = spec["type"]
        if tool_type == "builtin":
            name = obj["metadata"]["name"]
            if name not in BUILTIN_TOOLS:
                problems.append(field.not_supported(Path("metadata").child("name"), name, BUILTIN_TOOLS))
        elif spec.get(tool_type) is None:
            problems.append(field.required(path.child(tool_type), SECTIONS[tool_type]))
        elif tool_type == "http":
            url = spec["http"]["url"]
            problem = parse_problem(url)
            if problem:
                problems.append(field.invalid(path.child("http", "url"), url, problem))
        return problems


def input_schema_errors(schema: Any, path: Path) -> list[FieldError]:
    """``schema`` reads as a JSON Schema: an object (or a boolean, below the top); ``type`` is
    one of the JSON types or a list of them; ``properties`` maps non-empty names to schemas;
    ``items`` is a schema or a list of schemas; ``required`` lists names."""
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return [field.type_invalid(path, json_type(schema), "must be a JSON Schema object")]
    problems: list[FieldError] = []
    kind = schema.get("type")
    if isinstance(kind, list):
        problems += [field.not_supported(path.child("type").index(i), name, SCHEMA_TYPES)
                     for i, name in enumerate(kind) if name not in SCHEMA_TYPES]
    elif kind is not None and kind not in SCHEMA_TYPES:
        problems.append(field.not_supported(path.child("type"), kind, SCHEMA_TYPES))
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            if not name:
                problems.append(field.invalid(path.child("properties"), name, "property name cannot be empty"))
            problems += input_schema_errors(sub, path.child("properties").key(name))
    elif properties is not None:
        problems.append(field.type_invalid(path.child("properties"), json_type(properties), "must be an object"))
    items = schema.get("items")
    if isinstance(items, list):
        for i, sub in enumerate(items):
            problems += input_schema_errors(sub, path.child("items").index(i))
    elif items is not None:
        problems += input_schema_errors(items, path.child("items"))
    required = schema.get("required")
    if required is not None and not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        problems.append(field.invalid(path.child("required"), required, "must be a list of property names"))
    return problems


KIND = Kind(
    kind="Tool",
    plural="tools",
    singular="tool",
    version="v1alpha1",
    description=(
        "A function agents can call, backed by an HTTP endpoint, an MCP server, an agent, a team or a "
        "built-in."
    ),
    spec=ToolSpec(),
    status=ToolStatus(),
    strategy_class=ToolStrategy,
    categories=CATEGORIES,
)
