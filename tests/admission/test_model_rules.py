"""Model admission (docs/admission.md, "Model"): the legacy-layout migration, credentials from
Secrets and ConfigMaps, the base URL and headers."""
from __future__ import annotations

import copy

import pytest

from ark.kinds.model import KIND as MODEL
from tests.admission.conftest import NS, model_spec

PROVIDER_ANNOTATION = "ark.mckinsey.com/migration-warning-provider"
SECRET_KEY = {"secretKeyRef": {"name": "test-secret", "key": "api-key"}}
#: The Bedrock settings Ark checks, and where the tests take them from.
BEDROCK = {"region": ("configMapKeyRef", "aws-settings"), "accessKeyId": ("secretKeyRef", "aws"),
           "secretAccessKey": ("secretKeyRef", "aws"), "sessionToken": ("secretKeyRef", "aws"),
           "modelArn": ("configMapKeyRef", "aws-settings")}


def azure_spec(**config):
    return {"provider": "azure", "model": {"value": "gpt-4.1-mini"},
            "config": {"azure": {"baseUrl": {"value": "https://my-resource.openai.azure.com/openai"},
                                 "apiKey": {"value": "k"}, "apiVersion": {"value": "2024-12-01-preview"}, **config}}}


def bedrock_spec(**config):
    return {"provider": "bedrock", "model": {"value": "anthropic.claude-3"},
            "config": {"bedrock": {"region": {"value": "us-east-1"}, **config}}}


@pytest.mark.parametrize("spec", [model_spec(), azure_spec(), bedrock_spec()], ids=["openai", "azure", "bedrock"])
def test_each_provider_with_direct_values_is_accepted_without_warnings(admission, spec):
    created = admission.create("Model", "m", spec)
    assert created.warnings == []
    assert admission.update("Model", "m", lambda m: None).warnings == []  # an update that changes nothing


@pytest.mark.parametrize("legacy", ["openai", "azure", "bedrock"])
def test_a_legacy_model_is_migrated_before_the_schema_requires_a_provider(admission, legacy):
    spec = {"openai": model_spec(), "azure": azure_spec(), "bedrock": bedrock_spec()}[legacy]
    spec.pop("provider")
    spec["type"] = legacy
    created = admission.create("Model", "m", spec)
    assert (created.obj["spec"]["provider"], created.obj["spec"]["type"]) == (legacy, "completions")
    text = created.obj["metadata"]["annotations"][PROVIDER_ANNOTATION]
    assert f"migrated '{legacy}' to spec.provider" in text and "deprecated" in text
    assert created.warnings == [text]
    assert admission.update("Model", "m", lambda m: m["spec"].update(pollInterval="5m")).warnings == [text]


def test_a_model_without_a_provider_and_no_legacy_type_is_refused(admission):
    spec = model_spec()
    spec.pop("provider")
    refused = admission.refuse("Model", "m", {**spec, "type": "completions"})
    assert refused.fields == ["spec.provider"]
    assert refused.causes[0]["reason"] == "FieldValueRequired"


def test_the_default_leaves_models_that_name_their_provider_alone():
    for spec in (model_spec(), {**model_spec(), "type": "custom-type"}):
        obj = {"metadata": {"name": "m"}, "spec": copy.deepcopy(spec)}
        MODEL.strategy.default(obj, None)
        assert obj == {"metadata": {"name": "m"}, "spec": spec}


def test_the_default_copes_with_what_the_schema_refuses_later(admission):
    for spec in ("not an object", {"type": ["openai"]}):
        assert "spec" in admission.refuse("Model", "m", spec).fields[0]


def test_two_migration_annotations_are_two_warnings(admission):
    annotations = {"ark.mckinsey.com/migration-warning-a": "first", "ark.mckinsey.com/migration-warning-b": "second"}
    assert admission.create("Model", "m", model_spec(), annotations=annotations).warnings == ["first", "second"]


@pytest.mark.parametrize("provider", ["openai", "azure", "bedrock"])
def test_the_section_of_the_provider_is_required(admission, provider):
    spec = {"provider": provider, "model": {"value": "x"}, "config": {}}
    refused = admission.refuse("Model", "m", spec)
    assert refused.fields == [f"spec.config.{provider}"]
    assert f"{provider} configuration is required" in refused.message


def test_an_unsupported_provider_is_refused(admission):
    refused = admission.refuse("Model", "m", {**model_spec(), "provider": "anthropic"})
    assert refused.fields == ["spec.provider"] and refused.causes[0]["reason"] == "FieldValueNotSupported"


# Credentials and settings from Secrets and ConfigMaps -------------------------------------------

def test_an_api_key_from_a_missing_secret_is_refused(admission):
    refused = admission.refuse("Model", "m", model_spec(apiKey={"valueFrom": {
        "secretKeyRef": {"name": "nonexistent-secret", "key": "api-key"}}}))
    assert refused.fields == ["spec.config.openai.apiKey.valueFrom.secretKeyRef.name"]
    assert "spec.config.openai.apiKey" in refused.message
    assert "secret 'nonexistent-secret' does not exist" in refused.message


def test_an_api_key_from_a_secret_without_the_key_is_refused_and_with_it_accepted(admission, cluster):
    cluster.secret("test-secret", other="x")
    refused = admission.refuse("Model", "m", model_spec(apiKey={"valueFrom": SECRET_KEY}))
    assert refused.fields == ["spec.config.openai.apiKey.valueFrom.secretKeyRef.key"]
    assert f"key 'api-key' not found in secret 'test-secret' in namespace '{NS}'" in refused.message
    cluster.secret("test-secret", **{"api-key": "sk-123"})
    admission.create("Model", "m", model_spec(apiKey={"valueFrom": SECRET_KEY}))


def test_a_secret_in_another_namespace_does_not_count(admission, cluster):
    cluster.secret("test-secret", namespace="elsewhere", **{"api-key": "sk"})
    assert admission.refuse("Model", "m", model_spec(apiKey={"valueFrom": SECRET_KEY})).fields == [
        "spec.config.openai.apiKey.valueFrom.secretKeyRef.name"]


def test_a_base_url_from_a_missing_config_map_or_key_is_refused_and_from_a_present_one_accepted(admission, cluster):
    spec = model_spec()
    spec["config"]["openai"]["baseUrl"] = {"valueFrom": {"configMapKeyRef": {"name": "test-configmap",
                                                                              "key": "base-url"}}}
    refused = admission.refuse("Model", "m", spec)
    assert refused.fields == ["spec.config.openai.baseUrl.valueFrom.configMapKeyRef.name"]
    assert "configMap 'test-configmap' does not exist" in refused.message
    cluster.config_map("test-configmap", other="x")
    refused = admission.refuse("Model", "m", spec)
    assert refused.fields == ["spec.config.openai.baseUrl.valueFrom.configMapKeyRef.key"]
    assert "key 'base-url' not found in configMap 'test-configmap'" in refused.message
    cluster.config_map("test-configmap", **{"base-url": "https://llm.example.com/v1"})
    admission.create("Model", "m", spec)


def test_a_base_url_read_from_a_config_map_is_checked_but_not_repeated(admission, cluster):
    cluster.config_map("endpoints", url="http://169.254.169.254/latest")
    spec = model_spec()
    spec["config"]["openai"]["baseUrl"] = {"valueFrom": {"configMapKeyRef": {"name": "endpoints", "key": "url"}}}
    refused = admission.refuse("Model", "m", spec)
    assert refused.fields == ["spec.config.openai.baseUrl"]
    assert "169.254.169.254/latest" not in refused.message
    assert refused.causes[0]["message"].startswith("Invalid value: all URLs must use HTTPS")


def test_a_base_url_from_a_secret_is_decoded_and_checked(admission, cluster):
    cluster.secret("endpoints", url="https://10.0.0.8/v1")
    spec = model_spec()
    spec["config"]["openai"]["baseUrl"] = {"valueFrom": {"secretKeyRef": {"name": "endpoints", "key": "url"}}}
    assert "private IP addresses are not allowed" in admission.refuse("Model", "m", spec).message
    cluster.secret("endpoints", url="https://llm.example.com/v1")
    admission.create("Model", "m", spec)


def test_bedrock_settings_from_secrets_and_config_maps_are_accepted_when_present(admission, cluster):
    cluster.secret("aws", accessKeyId="AKIA", secretAccessKey="s", sessionToken="t")
    cluster.config_map("aws-settings", region="us-east-1", modelArn="arn:aws:bedrock:x")
    config = {name: {"valueFrom": {ref: {"name": source, "key": name}}} for name, (ref, source) in BEDROCK.items()}
    admission.create("Model", "m", bedrock_spec(**config))
    cluster.objects.clear()
    refused = admission.refuse("Model", "m2", bedrock_spec(**config))
    assert refused.fields == [f"spec.config.bedrock.{name}.valueFrom.{ref}.name" for name, (ref, _) in BEDROCK.items()]


def test_the_model_name_from_a_secret_is_checked(admission, cluster):
    spec = {**model_spec(), "model": {"valueFrom": {"secretKeyRef": {"name": "model-name", "key": "model"}}}}
    assert admission.refuse("Model", "m", spec).fields == ["spec.model.valueFrom.secretKeyRef.name"]
    cluster.secret("model-name", model="gpt-4o")
    admission.create("Model", "m", spec)


def test_a_value_beside_a_value_from_is_no_error_for_credentials(admission, cluster):
    cluster.secret("test-secret", **{"api-key": "sk"})
    admission.create("Model", "m", model_spec(apiKey={"value": "sk", "valueFrom": SECRET_KEY}))


def test_without_a_source_of_secrets_the_checks_that_need_one_are_skipped(standalone):
    spec = model_spec(apiKey={"valueFrom": SECRET_KEY})
    spec["config"]["openai"]["baseUrl"] = {"valueFrom": {"configMapKeyRef": {"name": "none", "key": "url"}}}
    standalone.create("Model", "m", spec)


def test_a_base_url_from_a_service_is_its_cluster_url(admission, cluster):
    spec = model_spec()
    spec["config"]["openai"]["baseUrl"] = {"valueFrom": {"serviceRef": {"name": "llm", "port": "api",
                                                                        "path": "v1"}}}
    assert admission.refuse("Model", "m", spec).fields == ["spec.config.openai.baseUrl.valueFrom.serviceRef.name"]
    cluster.service("llm", ports=(("metrics", 9090),))
    refused = admission.refuse("Model", "m", spec)
    assert refused.fields == ["spec.config.openai.baseUrl.valueFrom.serviceRef.port"]
    assert "port 'api' not found in service 'llm'" in refused.message
    cluster.service("llm", ports=(("metrics", 9090), ("api", 8000)))
    admission.create("Model", "m", spec)  # http://llm.team-a.svc.cluster.local:8000/v1: http is fine in-cluster


def test_a_base_url_without_value_or_source_is_refused(admission):
    spec = model_spec()
    spec["config"]["openai"]["baseUrl"] = {}
    refused = admission.refuse("Model", "m", spec)
    assert refused.fields == ["spec.config.openai.baseUrl.value"]
    assert "must specify either value or valueFrom" in refused.message


# The base URL ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "fragment"), [
    ("http://api.openai.com/v1", "must use HTTPS"),
    ("https://169.254.169.254/", "metadata"),
    ("https://2130706433/v1", "loopback"),
    ("https://[::ffff:10.0.0.1]/v1", "private IP addresses are not allowed"),
    ("ftp://models.example.com", "unsupported scheme"),
])
def test_an_unsafe_base_url_is_refused(admission, url, fragment):
    refused = admission.refuse("Model", "m", model_spec(url))
    assert refused.fields == ["spec.config.openai.baseUrl"]
    assert refused.causes[0]["message"].startswith(f"Invalid value: {url!r}".replace("'", '"'))
    assert fragment in refused.message


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://ollama.models.svc.cluster.local:11434/v1"])
def test_a_safe_base_url_is_accepted(admission, url):
    admission.create("Model", "m", model_spec(url))


def test_the_azure_and_bedrock_base_urls_are_checked_too(admission):
    assert admission.refuse("Model", "a", azure_spec(baseUrl={"value": "https://127.0.0.1"})).fields == [
        "spec.config.azure.baseUrl"]
    assert admission.refuse("Model", "b", bedrock_spec(baseUrl={"value": "https://10.1.2.3"})).fields == [
        "spec.config.bedrock.baseUrl"]
    admission.create("Model", "c", bedrock_spec(baseUrl={"value": "https://bedrock-runtime.us-east-1.amazonaws.com"}))


@pytest.mark.parametrize("provider_spec", [model_spec, azure_spec], ids=["openai", "azure"])
def test_headers_are_checked(admission, provider_spec):
    provider = "openai" if provider_spec is model_spec else "azure"
    headers = [{"name": "X-Ok", "value": {"value": "v"}},
               {"name": "X-Both", "value": {"value": "v", "valueFrom": SECRET_KEY}},
               {"name": "X-Query", "value": {"valueFrom": {"queryParameterRef": {"name": "p"}}}}]
    refused = admission.refuse("Model", "m", provider_spec(headers=headers))
    assert refused.fields == [f"spec.config.{provider}.headers[1].value.valueFrom",
                              f"spec.config.{provider}.headers[2].value.valueFrom"]


def test_a_poll_interval_go_cannot_read_is_refused(admission):
    assert admission.refuse("Model", "m", {**model_spec(), "pollInterval": "every minute"}).fields == [
        "spec.pollInterval"]
