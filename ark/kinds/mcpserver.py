"""MCPServer: a Model Context Protocol server whose tools Ark discovers.

Ark connects to the server, lists the tools it offers, and makes them available as Tools that
agents can call. The status reports whether the server is reachable and how many tools it has.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Condition, Header, Value
from ark.kinds.fields import Integer, String, enum
from ark.kinds.registry import Kind, PrinterColumn
from ark.registry.strategy import Strategy


class MCPServerSpec(Schema):
    """Where the MCP server is and how to talk to it."""

    address = fields.Nested(
        Value, required=True, metadata={"description": "URL of the MCP server, inline or looked up."}
    )
    description = String(metadata={"description": "Free-text note on what the server offers."})
    headers = fields.List(
        fields.Nested(Header), metadata={"description": "HTTP headers sent with every request, e.g. credentials."}
    )
    pollInterval = String(
        load_default="1m", metadata={"description": "How often Ark lists the server's tools again, as a duration."}
    )
    timeout = String(
        load_default="30s", metadata={"description": "Longest time one tool call may take; raise it for slow tools."}
    )
    # Required in the CRD as well; a default makes that moot and marshmallow cannot express both.
    transport = String(
        load_default="http",
        validate=[enum("http", "sse")],
        metadata={"description": "MCP transport: http (streamable HTTP) or sse (server-sent events)."},
    )


class MCPServerStatus(Schema):
    """Reachability of the server and what was found on it."""

    conditions = fields.List(
        fields.Nested(Condition),
        metadata={"description": "Current state, notably the Available and Discovering conditions."},
    )
    resolvedAddress = String(metadata={"description": "The URL spec.address resolved to."})
    toolCount = Integer(metadata={"description": "How many tools the server offered at the last discovery."})


KIND = Kind(
    kind="MCPServer",
    plural="mcpservers",
    singular="mcpserver",
    version="v1alpha1",
    description="A Model Context Protocol server whose tools Ark discovers and offers to agents.",
    spec=MCPServerSpec(),
    status=MCPServerStatus(),
    strategy_class=Strategy,
    printer_columns=(
        PrinterColumn("Available", "string", ".status.conditions[?(@.type=='Available')].status"),
        PrinterColumn("Discovering", "string", ".status.conditions[?(@.type=='Discovering')].status",
                      "Discovery status"),
        PrinterColumn("Tools", "integer", ".status.toolCount", "Number of tools"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Age"),
    ),
)
