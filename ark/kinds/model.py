"""Model: a connection to an LLM at a provider (OpenAI, Azure OpenAI or AWS Bedrock).

Agents reference a model to send their prompts to. The model names the provider, the model
to use there, and the endpoint and credentials, usually taken from Secrets. Ark probes the
model periodically and reports in the status whether it answers.
"""

from typing import Any

from marshmallow import Schema, fields

from ark.kinds.admission.durations import duration_errors
from ark.kinds.admission.metadata import annotate_migration, migration_warnings, namespace_of, spec_of
from ark.kinds.admission.references import resolve, value_source_errors
from ark.kinds.admission.urls import base_url_problem
from ark.kinds.admission.values import header_errors
from ark.kinds.common import Condition, Header, Value
from ark.kinds.fields import Integer, String, bounds, enum, pattern
from ark.kinds.registry import CATEGORIES, Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import OMITTED, FieldError, Path
from ark.registry.strategy import Lookup, Strategy

#: Older manifests name the provider in spec.type; the default moves it to spec.provider.
LEGACY_PROVIDER_TYPES = ("openai", "azure", "bedrock")
#: Bedrock settings that may come from Secrets or ConfigMaps (checked to exist, never read).
BEDROCK_VALUES = ("region", "accessKeyId", "secretAccessKey", "sessionToken", "modelArn")


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


class ModelStrategy(Strategy):
    """Ark's Model admission. Default: the legacy layout (``spec.type: openai|azure|bedrock``
    and no provider) is migrated to ``provider: <that>, type: completions``, with a migration
    warning, before the schema (which requires a provider) is checked. Rules: the section of
    the provider is present; the Secret and ConfigMap keys credentials come from exist; the base
    URL resolves and is safe to call (``ark/kinds/admission/urls.py``); headers are well formed."""

    rules_need_spec = True

    def default(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = spec_of(obj)
        if spec is None or spec.get("provider") or spec.get("type") not in LEGACY_PROVIDER_TYPES:
            return
        legacy = spec["type"]
        spec["provider"], spec["type"] = legacy, "completions"
        annotate_migration(obj, "provider",
                           f"spec.type is deprecated for provider values - migrated '{legacy}' to spec.provider")

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        spec, namespace, path = obj["spec"], namespace_of(obj), Path("spec")
        problems = value_source_errors(lookup, namespace, spec["model"], path.child("model"))
        problems += _provider_errors(lookup, namespace, spec, path)
        return problems + duration_errors(spec, path, ("pollInterval",))

    def warnings(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        return migration_warnings(obj)


def _provider_errors(lookup: Lookup, namespace: str, spec: dict[str, Any], path: Path) -> list[FieldError]:
    provider = spec["provider"]
    config, at = spec["config"].get(provider), path.child("config", provider)
    if config is None:
        return [field.required(at, f"{provider} configuration is required for {provider} model type")]
    if provider == "bedrock":
        problems = [p for name in BEDROCK_VALUES
                    for p in value_source_errors(lookup, namespace, config.get(name), at.child(name))]
        if config.get("baseUrl") is not None:
            problems += _base_url_errors(lookup, namespace, config["baseUrl"], at.child("baseUrl"))
        return problems
    problems = value_source_errors(lookup, namespace, config["apiKey"], at.child("apiKey"))
    problems += value_source_errors(lookup, namespace, config.get("apiVersion"), at.child("apiVersion"))
    problems += _base_url_errors(lookup, namespace, config["baseUrl"], at.child("baseUrl"))
    return problems + header_errors(config.get("headers"), at.child("headers"))


def _base_url_errors(lookup: Lookup, namespace: str, source: dict[str, Any], path: Path) -> list[FieldError]:
    """The base URL resolves, and is safe to call once resolved. A URL read from a Secret or
    ConfigMap is not repeated in the message."""
    url, problems = resolve(lookup, namespace, source, path)
    if problems or url is None:
        return problems
    problem = base_url_problem(url, lookup.options)
    if problem is None:
        return []
    return [field.invalid(path, url if source.get("value") else OMITTED, problem)]


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
    strategy_class=ModelStrategy,
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type"),
        PrinterColumn("Provider", "string", ".spec.provider"),
        PrinterColumn("Model", "string", ".spec.model.value"),
        PrinterColumn("Available", "string", '.status.conditions[?(@.type=="ModelAvailable")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
