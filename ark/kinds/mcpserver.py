"""MCPServer: a Model Context Protocol server whose tools Ark discovers.

Ark connects to the server, lists the tools it offers, and makes them available as Tools that
agents can call. The status reports whether the server is reachable and how many tools it has.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.admission.durations import duration_errors
from ark.kinds.admission.metadata import namespace_of
from ark.kinds.admission.references import resolve
from ark.kinds.admission.values import header_errors
from ark.kinds.common import Condition, Header, Value
from ark.kinds.fields import Integer, String, enum
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy


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


class MCPServerStrategy(Strategy):
    """Ark's MCPServer rules: the address resolves (any URL: MCP servers are often in-cluster
    or local), headers are well formed, the poll interval is a duration that is not negative."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, path = obj["spec"], Path("spec")
        return [
            *resolve(lookup, namespace_of(obj), spec["address"], path.child("address"))[1],
            *header_errors(spec.get("headers"), path.child("headers")),
            *duration_errors(spec, path, ("pollInterval",), non_negative=True),
        ]


KIND = Kind(
    kind="MCPServer",
    plural="mcpservers",
    singular="mcpserver",
    version="v1alpha1",
    description="A Model Context Protocol server whose tools Ark discovers and offers to agents.",
    spec=MCPServerSpec(),
    status=MCPServerStatus(),
    strategy_class=MCPServerStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Available", "string", ".status.conditions[?(@.type=='Available')].status"),
        PrinterColumn("Discovering", "string", ".status.conditions[?(@.type=='Discovering')].status",
                      "Discovery status"),
        PrinterColumn("Tools", "integer", ".status.toolCount", "Number of tools"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Age"),
    ),
)
