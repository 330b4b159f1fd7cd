"""ExecutionEngine: an external runtime that runs agents in place of Ark's built-in engine.

An Agent that names an execution engine has its queries forwarded to that service, which
lets agents be implemented with other agent frameworks while still being used through Ark.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Address
from ark.kinds.fields import String
from ark.kinds.registry import Kind, PrinterColumn
from ark.registry.strategy import Strategy


class ExecutionEngineSpec(Schema):
    """Where the engine is and which implementation it is."""

    address = fields.Nested(
        Address, required=True, metadata={"description": "URL of the engine service, inline or looked up."}
    )
    description = String(metadata={"description": "Free-text note on the engine."})
    type = String(required=True, metadata={"description": "Which engine implementation this is."})


class ExecutionEngineStatus(Schema):
    """Whether the engine service can be reached."""

    lastResolvedAddress = String(metadata={"description": "The URL spec.address resolved to on the last check."})
    message = String(metadata={"description": "Detail about the current phase."})
    phase = String(metadata={"description": "Readiness of the engine."})


KIND = Kind(
    kind="ExecutionEngine",
    plural="executionengines",
    singular="executionengine",
    version="v1prealpha1",
    description="An external service that runs agents instead of Ark's built-in engine.",
    spec=ExecutionEngineSpec(),
    status=ExecutionEngineStatus(),
    strategy_class=Strategy,
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Address", "string", ".status.lastResolvedAddress"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
