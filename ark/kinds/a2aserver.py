"""A2AServer: a remote agent server that Ark talks to over the Agent-to-Agent (A2A) protocol.

Ark polls the server's agent card and makes the agents it advertises available inside the
cluster, so that queries and teams can use agents that run outside Ark.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.admission.durations import duration_errors
from ark.kinds.admission.values import one_value_errors
from ark.kinds.common import Address, Condition, Header
from ark.kinds.fields import String
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy


class A2AServerSpec(Schema):
    """Where the A2A server is and how to talk to it."""

    address = fields.Nested(
        Address, required=True, metadata={"description": "Base URL of the A2A server, inline or looked up."}
    )
    description = String(metadata={"description": "Free-text note on what the server offers."})
    headers = fields.List(
        fields.Nested(Header), metadata={"description": "HTTP headers sent with every request, e.g. credentials."}
    )
    pollInterval = String(
        load_default="1m", metadata={"description": "How often Ark re-reads the server's agent list, as a duration."}
    )
    timeout = String(
        load_default="5m", metadata={"description": "Longest time a call to one of the server's agents may take."}
    )


class A2AServerStatus(Schema):
    """Reachability and discovery state of the A2A server."""

    conditions = fields.List(
        fields.Nested(Condition),
        metadata={"description": "Current state, notably the Ready and Discovering conditions."},
    )
    lastResolvedAddress = String(metadata={"description": "The URL spec.address resolved to on the last check."})


class A2AServerStrategy(Strategy):
    """Ark's A2AServer rules, which look nothing up: the address and each header give exactly
    one of value and valueFrom, header names are unique, the poll interval is not negative."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, path = obj["spec"], Path("spec")
        problems = one_value_errors(spec["address"], path.child("address"))
        names: set[str] = set()
        for i, header in enumerate(spec.get("headers") or ()):
            at = path.child("headers").index(i)
            if header["name"] in names:
                problems.append(field.duplicate(at.child("name"), header["name"]))
            names.add(header["name"])
            problems += one_value_errors(header["value"], at.child("value"))
        return problems + duration_errors(spec, path, ("pollInterval",), non_negative=True)


KIND = Kind(
    kind="A2AServer",
    plural="a2aservers",
    singular="a2aserver",
    version="v1prealpha1",
    description=(
        "An external agent server reached over the A2A protocol, whose agents Ark makes available in "
        "the cluster."
    ),
    spec=A2AServerSpec(),
    status=A2AServerStatus(),
    strategy_class=A2AServerStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Ready", "string", ".status.conditions[?(@.type=='Ready')].status", "Ready status"),
        PrinterColumn("Discovering", "string", ".status.conditions[?(@.type=='Discovering')].status",
                      "Discovery status"),
        PrinterColumn("Address", "string", ".status.lastResolvedAddress", "Last resolved address"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Age"),
    ),
)
