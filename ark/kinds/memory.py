"""Memory: a service that keeps conversation history between queries.

A Query that names a memory has its messages stored there and read back on later queries of
the same conversation, so an agent can refer to what was said before.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Header, Value
from ark.kinds.fields import String, enum
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.registry.strategy import Strategy


class MemorySpec(Schema):
    """Where the memory service is and how to talk to it."""

    address = fields.Nested(
        Value, required=True, metadata={"description": "URL of the memory service, inline or looked up."}
    )
    headers = fields.List(
        fields.Nested(Header), metadata={"description": "HTTP headers sent with every request to the memory service."}
    )


class MemoryStatus(Schema):
    """Whether the memory service can be reached."""

    lastResolvedAddress = String(metadata={"description": "The URL spec.address resolved to on the last check."})
    message = String(metadata={"description": "Detail about the current phase."})
    phase = String(
        validate=[enum("running", "ready", "error")], metadata={"description": "Readiness: running, ready or error."}
    )


KIND = Kind(
    kind="Memory",
    plural="memories",
    singular="memory",
    version="v1alpha1",
    description="A service that stores conversation history so that later queries can build on earlier ones.",
    spec=MemorySpec(),
    status=MemoryStatus(),
    strategy_class=Strategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase", "Phase of the memory"),
        PrinterColumn("Address", "string", ".status.lastResolvedAddress", "Last resolved address"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Age of the memory"),
    ),
)
