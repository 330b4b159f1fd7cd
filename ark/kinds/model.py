"""Model: a connection to an LLM at a provider (OpenAI, Azure OpenAI or AWS Bedrock).

Agents reference a model to send their prompts to. The model names the provider, the model
to use there, and the endpoint and credentials, usually taken from Secrets. Ark probes the
model periodically and reports in the status whether it answers.
"""

from marshmallow import Schema, fields

from ark.kinds.common import Condition, Header, Value
from ark.kinds.fields import Integer, String, bounds, enum, pattern
from ark.kinds.registry import Kind, PrinterColumn
from ark.registry.strategy import Strategy


class OpenAIConfig(Schema):
    """Settings for the OpenAI API or any service compatible with it."""

    apiKey = fields.Nested(Value, required=True, metadata={"description": "API key, usually from a Secret."})
    baseUrl = fields.Nested(Value, required=True, metadata={"description": "Base URL of the API."})
    headers = fields.List(
        fields.Nested(Header), metadata={"description": "Extra HTTP headers sent with every request."}
    )
    properties = fields.Dict(
        keys=String(),
        values=fields.Nested(Value),
        metadata={"description": "Extra request settings passed to the provider, such as temperature, by name."},
    )


class AzureConfig(OpenAIConfig):
    """Settings for Azure OpenAI: the OpenAI settings plus the API version."""

    apiVersion = fields.Nested(Value, metadata={"description": "Azure OpenAI API version to call."})


class BedrockConfig(Schema):
    """Settings for AWS Bedrock."""

    accessKeyId = fields.Nested(
        Value, metadata={"description": "AWS access key ID; unset means the ambient AWS credentials."}
    )
    baseUrl = fields.Nested(
        Value, metadata={"description": "Endpoint to call instead of the regional Bedrock endpoint."}
    )
    maxTokens = Integer(validate=[bounds(1, 100000)], metadata={"description": "Upper limit on tokens per response."})
    modelArn = fields.Nested(Value, metadata={"description": "ARN of the model, e.g. an inference profile."})
    properties = fields.Dict(
        keys=String(),
        values=fields.Nested(Value),
        metadata={"description": "Extra request settings passed to the provider, by name."},
    )
    region = fields.Nested(Value, metadata={"description": "AWS region to call."})
    secretAccessKey = fields.Nested(Value, metadata={"description": "AWS secret access key."})
    sessionToken = fields.Nested(Value, metadata={"description": "AWS session token, for temporary credentials."})
    temperature = String(
        validate=[pattern("^(0(\\.\\d+)?|1(\\.0+)?)$")],
        metadata={"description": "Sampling temperature from 0 to 1, as a decimal string."},
    )


class ProviderConfig(Schema):
    """Provider settings; fill in the section that matches spec.provider."""

    azure = fields.Nested(AzureConfig, metadata={"description": "Settings when spec.provider is azure."})
    bedrock = fields.Nested(BedrockConfig, metadata={"description": "Settings when spec.provider is bedrock."})
    openai = fields.Nested(OpenAIConfig, metadata={"description": "Settings when spec.provider is openai."})


class ModelSpec(Schema):
    """Which model, at which provider, reached how."""

    config = fields.Nested(
        ProviderConfig, required=True, metadata={"description": "Endpoint, credentials and options for the provider."}
    )
    model = fields.Nested(
        Value, required=True, metadata={"description": "The provider's name for the model, e.g. gpt-4o."}
    )
    pollInterval = String(
        load_default="1m", metadata={"description": "How often Ark checks that the model answers, as a duration."}
    )
    provider = String(
        required=True,
        validate=[enum("openai", "azure", "bedrock")],
        metadata={"description": "Provider client to use: openai, azure or bedrock; selects the config section."},
    )
    type = String(
        load_default="completions",
        validate=[enum("completions", "openai", "azure", "bedrock")],
        metadata={
            "description": "API capability of the model. openai, azure and bedrock are accepted from older "
            "manifests only; put the provider in spec.provider instead."
        },
    )


class ModelStatus(Schema):
    """Whether the model answers."""

    conditions = fields.List(
        fields.Nested(Condition), metadata={"description": "Current state, notably the ModelAvailable condition."}
    )
    resolvedAddress = String(metadata={"description": "The base URL the config resolved to."})


KIND = Kind(
    kind="Model",
    plural="models",
    singular="model",
    version="v1alpha1",
    description=(
        "A connection to an LLM at a provider (OpenAI, Azure OpenAI or AWS Bedrock) that agents send "
        "prompts to."
    ),
    spec=ModelSpec(),
    status=ModelStatus(),
    strategy_class=Strategy,
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Provider", "string", ".spec.provider"),
        PrinterColumn("Model", "string", ".spec.model.value"),
        PrinterColumn("Available", "string", '.status.conditions[?(@.type=="ModelAvailable")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
