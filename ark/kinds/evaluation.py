"""Evaluation: one assessment of agent output, scored by an Evaluator.

The type decides what is judged: a given input/output pair (direct), the response of an
existing Query (query), a reference run (baseline), a set of child evaluations (batch), or
CEL rules applied to what happened during a query (event). The result is a score between 0
and 1 and a pass/fail verdict in the status.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds import evaluator
from ark.kinds.admission.durations import duration_errors
from ark.kinds.admission.metadata import namespace_of
from ark.kinds.admission.references import require
from ark.kinds.common import Condition, LabelSelector, ObjectRef, Parameter, QueryRef, TokenUsage
from ark.kinds.fields import Boolean, Integer, String, bounds, enum, length, pattern
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup, Strategy

_PHASES = ("pending", "running", "error", "done", "canceled")
#: Per type: the config fields an evaluation needs, and those it may not set (they come from elsewhere).
CONFIG_BY_TYPE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "direct": (("input", "output"), ("queryRef",)),
    "query": (("queryRef",), ("input", "output")),
    "batch": (("evaluations",), ("input", "output")),
    "baseline": ((), ()),
    "event": (("rules",), ()),
}
_DURATIONS = ("timeout", "ttl")


class EmptyObject(Schema):
    """An object the CRD declares without fields: every key in it is pruned."""


class EvaluatorRef(ObjectRef):
    """A reference to an Evaluator, with parameters for this use of it."""

    parameters = fields.List(fields.Nested(Parameter), metadata={"description": "Parameters sent to the evaluator."})


class ChildEvaluationSpec(Schema):
    """What every child evaluation of a batch needs: its type, its evaluator and its config."""

    config = fields.Nested(
        EmptyObject, required=True, metadata={"description": "Configuration of the child evaluation."}
    )
    evaluator = fields.Nested(EvaluatorRef, required=True, metadata={"description": "Evaluator that scores the child."})
    type = String(
        required=True,
        validate=[enum("direct", "query", "baseline", "event")],
        metadata={"description": "Type of the child evaluation."},
    )


class BatchItem(ChildEvaluationSpec):
    """A child evaluation a batch creates, spelled out explicitly."""

    name = String(metadata={"description": "What to call the child; Ark picks a name when this is empty."})
    timeout = String(metadata={"description": "Timeout for this child instead of the batch's."})
    ttl = String(metadata={"description": "Time to live for this child instead of the batch's."})


class EvaluationTemplate(ChildEvaluationSpec):
    """The pattern for child evaluations a batch creates for each query matched by querySelector."""

    namePrefix = String(metadata={"description": "Prefix of the generated names; defaults to the batch's name."})
    parameters = fields.List(
        fields.Nested(Parameter), metadata={"description": "Parameters given to every generated evaluation."}
    )


class EvaluationRule(Schema):
    """A CEL check used by event evaluations."""

    description = String(metadata={"description": "What the rule checks."})
    expression = String(required=True, metadata={"description": "CEL expression that must evaluate to true."})
    name = String(required=True, validate=[length(1, None)], metadata={"description": "Name of the rule."})
    weight = Integer(
        validate=[bounds(0, None)],
        metadata={"format": "int32", "description": "How much the rule counts towards the score."},
    )


class EvaluationConfig(Schema):
    """Inputs for the evaluation; which fields apply depends on spec.type."""

    concurrency = Integer(
        load_default=10,
        metadata={"format": "int32", "description": "Batch: how many child evaluations may run at once."},
    )
    continueOnFailure = Boolean(
        load_default=False, metadata={"description": "Batch: keep going when a child evaluation fails."}
    )
    evaluations = fields.List(
        fields.Nested(ObjectRef), metadata={"description": "Batch: existing evaluations whose results are combined."}
    )
    input = String(metadata={"description": "Direct and baseline: the input that was given to the agent."})
    items = fields.List(fields.Nested(BatchItem), metadata={"description": "Batch: child evaluations to create."})
    output = String(metadata={"description": "Direct and baseline: the output to judge."})
    queryRef = fields.Nested(QueryRef, metadata={"description": "Query and event: the Query whose run is judged."})
    querySelector = fields.Nested(
        LabelSelector, metadata={"description": "Batch: queries to create child evaluations for, using template."}
    )
    rules = fields.List(fields.Nested(EvaluationRule), metadata={"description": "Event: the rules to check."})
    template = fields.Nested(
        EvaluationTemplate, metadata={"description": "Batch: how to build a child evaluation for a selected query."}
    )


class EvaluationSpec(Schema):
    """What to evaluate, and with which evaluator."""

    config = fields.Nested(EvaluationConfig, required=True, metadata={"description": "Inputs of the evaluation."})
    evaluator = fields.Nested(EvaluatorRef, metadata={"description": "The Evaluator that produces the score."})
    timeout = String(load_default="5m", metadata={"description": "Longest time the evaluation may run."})
    ttl = String(
        load_default="720h",
        metadata={"description": "How long to keep the finished evaluation before it may be deleted."},
    )
    type = String(
        load_default="direct",
        validate=[enum("direct", "baseline", "query", "batch", "event")],
        metadata={"description": "What is evaluated: direct, baseline, query, batch or event."},
    )


class ChildEvaluationStatus(Schema):
    """The outcome of one child evaluation of a batch."""

    message = String(metadata={"description": "Detail about the child's result."})
    name = String(required=True, metadata={"description": "Name of the child Evaluation."})
    passed = Boolean(metadata={"description": "Whether the child passed."})
    phase = String(validate=[enum(*_PHASES)], metadata={"description": "Lifecycle phase of the child."})
    score = String(metadata={"description": "Score of the child."})


class BatchProgress(Schema):
    """Counts of child evaluations of a batch, by state."""

    childEvaluations = fields.List(
        fields.Nested(ChildEvaluationStatus), metadata={"description": "Each child evaluation and how it went."}
    )
    completed = Integer(metadata={"format": "int32", "description": "Children that have finished."})
    failed = Integer(metadata={"format": "int32", "description": "Children that failed."})
    running = Integer(metadata={"format": "int32", "description": "Children still running."})
    total = Integer(metadata={"format": "int32", "description": "Children created in all."})


class EvaluationStatus(Schema):
    """The verdict and how it was reached."""

    batchProgress = fields.Nested(
        BatchProgress, metadata={"description": "Progress of the child evaluations (batch only)."}
    )
    conditions = fields.List(fields.Nested(Condition), metadata={"description": "Current state of the evaluation."})
    duration = String(metadata={"description": "How long the evaluation took."})
    message = String(metadata={"description": "The evaluator's explanation, or why the evaluation failed."})
    passed = Boolean(metadata={"description": "Whether the evaluated output passed."})
    phase = String(validate=[enum(*_PHASES)], metadata={"description": "Lifecycle phase of the evaluation."})
    score = String(
        validate=[pattern("^(0(\\.[0-9]+)?|1(\\.0+)?)$")],
        metadata={"description": "Score from 0 to 1, as a decimal string."},
    )
    tokenUsage = fields.Nested(TokenUsage, metadata={"description": "Tokens the evaluator's model consumed."})


class EvaluationStrategy(Strategy):
    """Ark's Evaluation rules: the Evaluator exists (in ``spec.evaluator.namespace``, else the
    evaluation's namespace); the config has what the type needs and nothing the type takes from
    elsewhere; evaluator parameters have values; durations are ones Go can read."""

    rules_need_spec = True

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, path = obj["spec"], Path("spec")
        ref = spec.get("evaluator") or {}
        problems = require(lookup, evaluator.KIND, ref.get("namespace") or namespace_of(obj), ref.get("name") or "",
                           path.child("evaluator", "name"), "evaluator reference: ")
        problems += _config_errors(spec.get("type") or "direct", spec["config"], path.child("config"))
        for i, parameter in enumerate(ref.get("parameters") or ()):
            if not parameter.get("value"):
                at = path.child("evaluator", "parameters").index(i).child("value")
                problems.append(field.required(at, "evaluator parameters need a value"))
        problems += duration_errors(spec, path, _DURATIONS)
        for i, item in enumerate(spec["config"].get("items") or ()):
            problems += duration_errors(item, path.child("config", "items").index(i), _DURATIONS)
        return problems


def _is_set(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _config_errors(evaluation_type: str, config: dict[str, Any], path: Path) -> list[FieldError]:
    needed, taken_elsewhere = CONFIG_BY_TYPE[evaluation_type]
    problems = [field.required(path.child(name), f"{evaluation_type} mode evaluation requires non-empty {name}")
                for name in needed if not _is_set(config.get(name))]
    return problems + [field.forbidden(path.child(name), f"{evaluation_type} mode evaluation cannot specify {name}")
                       for name in taken_elsewhere if _is_set(config.get(name))]


KIND = Kind(
    kind="Evaluation",
    plural="evaluations",
    singular="evaluation",
    version="v1alpha1",
    description="An assessment of agent output by an Evaluator, resulting in a score and a pass/fail verdict.",
    spec=EvaluationSpec(),
    status=EvaluationStatus(),
    strategy_class=EvaluationStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Score", "string", ".status.score"),
        PrinterColumn("Passed", "boolean", ".status.passed"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
