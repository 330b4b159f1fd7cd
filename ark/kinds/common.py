"""Structures that several Ark kinds share.

Three families live here:

* references to other objects (:class:`ObjectRef`, :class:`NamedRef`, :class:`QueryRef`);
* values that are either written inline or looked up elsewhere. The CRDs allow different
  lookups in different places, so the sources come in three shapes:

  ==========================  ==========  ======  ===============  =======
  source                      ConfigMap   Secret  query parameter  Service
  ==========================  ==========  ======  ===============  =======
  :class:`ValueSource`        yes         yes     yes              yes
  :class:`HeaderValueSource`  yes         yes     yes              no
  :class:`AddressSource`      yes         yes     no               yes
  ==========================  ==========  ======  ===============  =======

* status and selection building blocks (:class:`Condition`, :class:`LabelSelector`,
  :class:`TokenUsage`, :class:`Override`).

Kind-specific structures stay in their kind's module.
"""

from marshmallow import Schema, fields

from ark.kinds.fields import Boolean, DateTime, Integer, String, bounds, enum, length, pattern


class ObjectRef(Schema):
    """A reference to another resource by name, optionally in another namespace."""

    name = String(
        required=True, validate=[length(1, None)], metadata={"description": "Name of the referenced resource."}
    )
    namespace = String(
        metadata={"description": "Namespace of the referenced resource; empty means the referring object's namespace."}
    )


class NamedRef(Schema):
    """A reference by name alone: a resource in the same namespace, or a query parameter."""

    name = String(required=True, validate=[length(1, None)], metadata={"description": "The name being referred to."})


class QueryRef(ObjectRef):
    """A reference to a Query, optionally narrowed to the response of one of its targets."""

    responseTarget = String(
        metadata={"description": "Name of the query target whose response is meant, e.g. an agent or team name."}
    )


class KeySelector(Schema):
    """One key of a ConfigMap or Secret (the shape of core/v1 ConfigMapKeySelector and SecretKeySelector)."""

    key = String(required=True, metadata={"description": "Key whose content is the value."})
    name = String(load_default="", metadata={"description": "Name of the ConfigMap or Secret, in the same namespace."})
    optional = Boolean(metadata={"description": "If true, a missing object or key is not an error."})


class ServiceRef(Schema):
    """A Kubernetes Service whose in-cluster URL is the value."""

    name = String(required=True, metadata={"description": "The Service to use."})
    namespace = String(
        metadata={"description": "Namespace of the Service; empty means the referring object's namespace."}
    )
    path = String(metadata={"description": "Path appended to the Service URL."})
    port = String(metadata={"description": "Port of the Service to use, by name or number."})


class KeyRefSource(Schema):
    """The lookups every value source offers: a key of a ConfigMap or of a Secret."""

    configMapKeyRef = fields.Nested(
        KeySelector, metadata={"description": "Read the value from a ConfigMap key.", "x-kubernetes-map-type": "atomic"}
    )
    secretKeyRef = fields.Nested(
        KeySelector, metadata={"description": "Read the value from a Secret key.", "x-kubernetes-map-type": "atomic"}
    )


class HeaderValueSource(KeyRefSource):
    """Where a header value comes from: a ConfigMap, a Secret or a query parameter (no Service)."""

    queryParameterRef = fields.Nested(
        NamedRef, metadata={"description": "Take the value from the parameter of this name on the running Query."}
    )


class AddressSource(KeyRefSource):
    """Where an address comes from: a ConfigMap, a Secret or a Service (no query parameter)."""

    serviceRef = fields.Nested(ServiceRef, metadata={"description": "Use the in-cluster URL of a Service."})


class ValueSource(AddressSource, HeaderValueSource):
    """Where a value comes from: a ConfigMap, a Secret, a query parameter or a Service."""


class Value(Schema):
    """A setting given inline (``value``) or looked up from any :class:`ValueSource` (``valueFrom``)."""

    value = String(metadata={"description": "The value itself; use either this or valueFrom."})
    valueFrom = fields.Nested(
        ValueSource, metadata={"description": "Where to look the value up; use either this or value."}
    )


class HeaderValue(Schema):
    """A header value given inline or looked up from a :class:`HeaderValueSource`."""

    value = String(metadata={"description": "The header value itself; use either this or valueFrom."})
    valueFrom = fields.Nested(
        HeaderValueSource, metadata={"description": "Where to look the header value up; use either this or value."}
    )


class Address(Schema):
    """A service address given inline or looked up from an :class:`AddressSource` (never a query parameter)."""

    value = String(metadata={"description": "The address itself, a URL; use either this or valueFrom."})
    valueFrom = fields.Nested(
        AddressSource, metadata={"description": "Where to look the address up; use either this or value."}
    )


class Header(Schema):
    """An HTTP header sent with outgoing requests."""

    name = String(required=True, validate=[length(1, None)], metadata={"description": "Header name."})
    value = fields.Nested(HeaderValue, required=True, metadata={"description": "Header value, inline or looked up."})


class Parameter(Schema):
    """A named value for template substitution, given inline or looked up."""

    name = String(
        required=True, validate=[length(1, None)], metadata={"description": "Parameter name, as used in templates."}
    )
    value = String(metadata={"description": "The value itself; use either this or valueFrom."})
    valueFrom = fields.Nested(
        ValueSource, metadata={"description": "Where to look the value up; use either this or value."}
    )


class LabelSelectorRequirement(Schema):
    """One label condition: a key, an operator (In, NotIn, Exists, DoesNotExist) and values."""

    key = String(required=True, metadata={"description": "Label key the condition tests."})
    operator = String(
        required=True, metadata={"description": "How the label relates to values: In, NotIn, Exists or DoesNotExist."}
    )
    values = fields.List(
        String(), metadata={"description": "Values for In and NotIn; empty for Exists and DoesNotExist."}
    )


class LabelSelector(Schema):
    """A Kubernetes label selector; all of its conditions must hold."""

    matchExpressions = fields.List(
        fields.Nested(LabelSelectorRequirement), metadata={"description": "Label conditions that must all hold."}
    )
    matchLabels = fields.Dict(
        keys=String(),
        values=String(),
        metadata={"description": "Labels that must be present with exactly these values."},
    )


class Condition(Schema):
    """A standard Kubernetes status condition (the shape of meta/v1 Condition)."""

    lastTransitionTime = DateTime(required=True, metadata={"description": "When status last changed."})
    message = String(
        required=True,
        validate=[length(None, 32768)],
        metadata={"description": "Human-readable detail about the transition."},
    )
    observedGeneration = Integer(
        validate=[bounds(0, None)],
        metadata={"format": "int64", "description": "metadata.generation the condition was computed from."},
    )
    reason = String(
        required=True,
        validate=[pattern("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"), length(1, 1024)],
        metadata={"description": "Machine-readable CamelCase reason for the last transition."},
    )
    status = String(
        required=True, validate=[enum("True", "False", "Unknown")], metadata={"description": "True, False or Unknown."}
    )
    type = String(
        required=True,
        validate=[
            pattern(
                "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
            ),
            length(None, 316),
        ],
        metadata={"description": "Which aspect of the object the condition describes, e.g. Ready or Available."},
    )


class Override(Schema):
    """Extra headers for calls to the models or MCP servers that match a label selector."""

    headers = fields.List(
        fields.Nested(Header), required=True, metadata={"description": "Headers to add to each call."}
    )
    labelSelector = fields.Nested(
        LabelSelector,
        metadata={"description": "Which resources of resourceType get the headers; unset means all.",
                  "x-kubernetes-map-type": "atomic"},
    )
    resourceType = String(
        required=True,
        validate=[enum("model", "mcpserver")],
        metadata={"description": "Kind of resource the override applies to: model or mcpserver."},
    )


class TokenUsage(Schema):
    """LLM token counts consumed by a piece of work."""

    completionTokens = Integer(metadata={"format": "int64", "description": "Tokens generated by the model."})
    promptTokens = Integer(metadata={"format": "int64", "description": "Tokens sent to the model."})
    totalTokens = Integer(metadata={"format": "int64", "description": "Prompt plus completion tokens."})
