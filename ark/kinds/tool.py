"""Tool: a function that agents can call.

A tool is backed by an HTTP endpoint, a tool on an MCP server, another agent or team, or a
function built into Ark. Its description and input schema are what the model sees when it
decides to call it.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Header, NamedRef, ObjectRef, Parameter
from ark.kinds.fields import Boolean, FreeObject, String, enum, length, pattern
from ark.kinds.registry import Kind
from ark.registry.strategy import Strategy


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
    strategy_class=Strategy,
)
