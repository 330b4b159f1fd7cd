"""Evaluator: a service that scores agent output for Evaluations.

Evaluations name an evaluator to get their score. An evaluator may also carry a selector, in
which case Ark evaluates every matching Query automatically when it completes.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds import model
from ark.kinds.admission.metadata import namespace_of
from ark.kinds.admission.references import require, resolve
from ark.kinds.common import LabelSelector, Parameter, Value
from ark.kinds.fields import String, enum
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy


class EvaluatorSelector(LabelSelector):
    """Which resources the evaluator judges automatically: a label selector plus kind and namespaces."""

    apiGroup = String(load_default="ark.mckinsey.com", metadata={"description": "API group of the selected resources."})
    namespaceSelector = fields.Nested(
        LabelSelector,
        metadata={"description": "Select namespaces by label instead of listing them.",
                  "x-kubernetes-map-type": "atomic"},
    )
    namespaces = fields.List(String(), metadata={"description": "Namespaces to watch; empty means all."})
    resourceType = String(
        required=True, validate=[enum("Query")], metadata={"description": "Kind of resource to evaluate; only Query."}
    )


class EvaluatorSpec(Schema):
    """Where the evaluator service is and what it judges on its own."""

    address = fields.Nested(
        Value, required=True, metadata={"description": "URL of the evaluator service, inline or looked up."}
    )
    description = String(metadata={"description": "Free-text note on what the evaluator checks."})
    parameters = fields.List(
        fields.Nested(Parameter), metadata={"description": "Parameters sent with every evaluation request."}
    )
    selector = fields.Nested(
        EvaluatorSelector,
        metadata={"description": "Queries to evaluate automatically; unset means only on request.",
                  "x-kubernetes-map-type": "atomic"},
    )


class EvaluatorStatus(Schema):
    """Whether the evaluator service can be reached."""

    lastResolvedAddress = String(metadata={"description": "The URL spec.address resolved to on the last check."})
    message = String(metadata={"description": "Detail about the current phase."})
    phase = String(metadata={"description": "Readiness of the evaluator."})


class EvaluatorStrategy(Strategy):
    """Ark's Evaluator rules: the address resolves; the Model named by the parameter
    ``model.name`` exists (in the namespace of ``model.namespace``, else the evaluator's).
    Only plain parameter values count, and the last of a name wins, as in Ark."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, namespace, path = obj["spec"], namespace_of(obj), Path("spec")
        problems = resolve(lookup, namespace, spec["address"], path.child("address"))[1]
        model_name, model_path, model_namespace = "", path, namespace
        for i, parameter in enumerate(spec.get("parameters") or ()):
            value = parameter.get("value") or ""
            if parameter["name"] == "model.name" and value:
                model_name, model_path = value, path.child("parameters").index(i).child("value")
            elif parameter["name"] == "model.namespace" and value:
                model_namespace = value
        return problems + require(lookup, model.KIND, model_namespace, model_name, model_path)


KIND = Kind(
    kind="Evaluator",
    plural="evaluators",
    singular="evaluator",
    version="v1alpha1",
    description=(
        "A service that scores agent output; Evaluations use it, and it can evaluate matching Queries "
        "on its own."
    ),
    spec=EvaluatorSpec(),
    status=EvaluatorStatus(),
    strategy_class=EvaluatorStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Address", "string", ".status.lastResolvedAddress"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
