"""ExecutionEngine: an external runtime that runs agents in place of Ark's built-in engine.

An Agent that names an execution engine has its queries forwarded to that service, which
lets agents be implemented with other agent frameworks while still being used through Ark.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.admission.metadata import namespace_of
from ark.kinds.admission.references import resolve
from ark.kinds.common import Address
from ark.kinds.fields import String
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy

#: Agents name this engine to be served over A2A, so no ExecutionEngine may take the name.
RESERVED_NAME = "a2a"


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


class ExecutionEngineStrategy(Strategy):
    """Ark's ExecutionEngine rules: the name ``a2a`` is reserved, the address resolves."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        problems = resolve(lookup, namespace_of(obj), obj["spec"]["address"], Path("spec").child("address"))[1]
        if obj["metadata"]["name"] == RESERVED_NAME:
            problems.append(field.invalid(Path("metadata").child("name"), RESERVED_NAME,
                                          f"execution engine name '{RESERVED_NAME}' is reserved for A2A servers"))
        return problems


KIND = Kind(
    kind="ExecutionEngine",
    plural="executionengines",
    singular="executionengine",
    version="v1prealpha1",
    description="An external service that runs agents instead of Ark's built-in engine.",
    spec=ExecutionEngineSpec(),
    status=ExecutionEngineStatus(),
    strategy_class=ExecutionEngineStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Address", "string", ".status.lastResolvedAddress"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
