"""Event (core v1): what controllers report about an object, as kopf and client-go's event
recorder post them; ``kubectl describe`` finds an object's events with field selectors on
``involvedObject``. Events expire an hour after their last write, as with kube-apiserver's
``--event-ttl`` (``ark.controllers.events``).
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.core.common import CORE_VERSION, NONE, CoreStrategy
from ark.kinds.fields import DateTime, Integer, String
from ark.kinds.registry import Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError
from ark.registry.strategy import Lookup

_MICRO_TIME = {"format": "date-time", "description": "MicroTime: a time with microseconds."}


class ObjectReference(Schema):
    """The object an event is about (core v1 ObjectReference)."""

    apiVersion = String(metadata={"description": "API version of the referent."})
    fieldPath = String(metadata={"description": "A part of the object, e.g. spec.containers{name}."})
    kind = String(metadata={"description": "Kind of the referent."})
    name = String(metadata={"description": "Name of the referent."})
    namespace = String(metadata={"description": "Namespace of the referent."})
    resourceVersion = String(metadata={"description": "The referent's resourceVersion the event is about."})
    uid = String(metadata={"description": "UID of the referent."})


class EventSource(Schema):
    component = String(metadata={"description": "Component from which the event is generated."})
    host = String(metadata={"description": "Node name on which the event is generated."})


class EventSeries(Schema):
    count = Integer(metadata={"format": "int32", "description": "Number of occurrences in this series up to the "
                                                                "last heartbeat time."})
    lastObservedTime = String(metadata=_MICRO_TIME)


class EventBody(Schema):
    action = String(metadata={"description": "What action was taken/failed regarding to the Regarding object."})
    count = Integer(metadata={"format": "int32", "description": "The number of times this event has occurred."})
    eventTime = String(metadata=_MICRO_TIME)
    firstTimestamp = DateTime(metadata={"description": "The time at which the event was first recorded."})
    involvedObject = fields.Nested(ObjectReference, required=True, metadata={
        "description": "The object that this event is about."})
    lastTimestamp = DateTime(metadata={"description": "The time at which the most recent occurrence of this event "
                                                      "was recorded."})
    message = String(metadata={"description": "A human-readable description of the status of this operation."})
    reason = String(metadata={"description": "This should be a short, machine understandable string that gives "
                                             "the reason for the transition into the object's current status."})
    related = fields.Nested(ObjectReference, metadata={"description": "Optional secondary object for more complex "
                                                                     "actions."})
    reportingComponent = String(metadata={"description": "Name of the controller that emitted this Event."})
    reportingInstance = String(metadata={"description": "ID of the controller instance."})
    series = fields.Nested(EventSeries, metadata={"description": "Data about the Event series this event "
                                                                "represents."})
    source = fields.Nested(EventSource, metadata={"description": "The component reporting this event."})
    type = String(metadata={"description": "Type of this event (Normal, Warning)."})


class EventStrategy(CoreStrategy):
    """An event is about an object in its own namespace (or a cluster-scoped one)."""

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        involved = obj.get("involvedObject") or {}
        namespace = obj["metadata"].get("namespace") or ""
        if involved.get("namespace") and involved["namespace"] != namespace:
            return [field.invalid("involvedObject.namespace", involved["namespace"], "does not match event.namespace")]
        return []


KIND = Kind(
    kind="Event",
    plural="events",
    singular="event",
    version=CORE_VERSION,
    group="",
    description="Event is a report of an event somewhere in the cluster.",
    spec=NONE,
    status=NONE,
    body=EventBody(),
    strategy_class=EventStrategy,
    short_names=("ev",),
    subresources=(),
    field_labels=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                  "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                  "reason", "reportingComponent", "source", "type"),
    printer_columns=(
        PrinterColumn("Last Seen", "date", ".lastTimestamp"),
        PrinterColumn("Type", "string", ".type"),
        PrinterColumn("Reason", "string", ".reason"),
        PrinterColumn("Object", "string", ".involvedObject.name"),
        PrinterColumn("Message", "string", ".message"),
    ),
)
