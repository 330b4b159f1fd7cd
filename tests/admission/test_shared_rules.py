"""The rules several kinds share (docs/admission.md, "Shared rules"): parameters, headers,
overrides, value sources, durations and migration warnings."""
from __future__ import annotations

import pytest

from ark.kinds.admission.durations import nanoseconds
from ark.kinds.admission.references import resolve
from ark.machinery.field import Path
from tests.admission.conftest import NS, model_spec

SELECTOR = {"matchLabels": {"app": "demo"}}


def query_with(**extra) -> dict:
    return {"input": "hello", "selector": SELECTOR, **extra}


# Parameters (Agent and Query) ------------------------------------------------------------------

@pytest.mark.parametrize("parameter", [
    {"name": "city", "value": "Lisbon"},
    {"name": "url", "valueFrom": {"serviceRef": {"name": "weather"}}},
    {"name": "user", "valueFrom": {"queryParameterRef": {"name": "user"}}},
    {"name": "empty-value", "value": "", "valueFrom": {"queryParameterRef": {"name": "user"}}},
])
def test_a_valid_parameter_is_accepted(admission, parameter):
    admission.create("Query", "q", query_with(parameters=[parameter]))


@pytest.mark.parametrize(("parameter", "field", "fragment"), [
    ({"name": "p", "value": "v", "valueFrom": {"queryParameterRef": {"name": "x"}}}, "spec.parameters[0].valueFrom",
     "cannot specify both value and valueFrom"),
    ({"name": "p"}, "spec.parameters[0].value", "must specify either value or valueFrom"),
    ({"name": "p", "value": ""}, "spec.parameters[0].value", "must specify either value or valueFrom"),
    ({"name": "p", "valueFrom": {}}, "spec.parameters[0].valueFrom", "must specify exactly one source"),
    ({"name": "p", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"},
                                 "configMapKeyRef": {"name": "c", "key": "k"}}},
     "spec.parameters[0].valueFrom", "must specify exactly one source"),
    ({"name": "p", "valueFrom": {"serviceRef": {"name": ""}}}, "spec.parameters[0].valueFrom.serviceRef.name",
     "serviceRef.name cannot be empty"),
])
def test_an_invalid_parameter_is_refused(admission, parameter, field, fragment):
    refused = admission.refuse("Query", "q", query_with(parameters=[{"name": "ok", "value": "v"}, parameter]))
    assert refused.fields == [field.replace("[0]", "[1]")]
    assert fragment in refused.message


def test_a_parameter_without_name_or_query_parameter_name_is_refused_by_the_schema(admission):
    assert admission.refuse("Query", "q", query_with(parameters=[{"name": "", "value": "v"}])).fields == [
        "spec.parameters[0].name"]
    spec = query_with(parameters=[{"name": "p", "valueFrom": {"queryParameterRef": {"name": ""}}}])
    assert admission.refuse("Query", "q", spec).fields == ["spec.parameters[0].valueFrom.queryParameterRef.name"]


def test_parameters_from_secret_and_config_map_keys_need_the_keys(admission, cluster):
    parameters = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                  {"name": "region", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "region"}}}]
    assert admission.refuse("Query", "q", query_with(parameters=parameters)).fields == [
        "spec.parameters[0].valueFrom.secretKeyRef.name", "spec.parameters[1].valueFrom.configMapKeyRef.name"]
    cluster.secret("creds", token="t")
    cluster.config_map("settings", other="x")
    refused = admission.refuse("Query", "q", query_with(parameters=parameters))
    assert refused.fields == ["spec.parameters[1].valueFrom.configMapKeyRef.key"]
    assert f"key 'region' not found in configMap 'settings' in namespace '{NS}'" in refused.message
    cluster.config_map("settings", region="eu-west-1")
    admission.create("Query", "q", query_with(parameters=parameters))


def test_a_secret_key_reference_without_name_or_key_is_not_looked_up(admission, cluster):
    parameters = [{"name": "a", "valueFrom": {"secretKeyRef": {"key": "k"}}},
                  {"name": "b", "valueFrom": {"secretKeyRef": {"name": "s", "key": ""}}}]
    admission.create("Query", "q", query_with(parameters=parameters))
    assert cluster.reads == []


def test_config_map_binary_data_does_not_count(admission, cluster):
    cluster.config_map("settings")
    cluster.objects["configmaps", NS, "settings"]["binaryData"] = {"region": "ZXU="}
    spec = query_with(parameters=[{"name": "r", "valueFrom": {"configMapKeyRef": {"name": "settings",
                                                                                  "key": "region"}}}])
    assert admission.refuse("Query", "q", spec).fields == ["spec.parameters[0].valueFrom.configMapKeyRef.key"]


# Headers (Model, MCPServer, overrides) ---------------------------------------------------------

@pytest.mark.parametrize(("value", "field", "fragment"), [
    ({}, "headers[0].value.value", "must specify either value or valueFrom"),
    ({"value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, "headers[0].value.valueFrom",
     "cannot specify both value and valueFrom"),
    ({"valueFrom": {}}, "headers[0].value.valueFrom", "must specify either secretKeyRef or configMapKeyRef"),
    ({"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}}},
     "headers[0].value.valueFrom", "cannot specify both secretKeyRef and configMapKeyRef"),
])
def test_an_invalid_header_is_refused(admission, value, field, fragment):
    refused = admission.refuse("MCPServer", "m", {"address": {"value": "http://m:80"},
                                                  "headers": [{"name": "X", "value": value}]})
    assert refused.fields == [f"spec.{field}"]
    assert fragment in refused.message


def test_a_header_from_a_secret_is_valid_and_not_looked_up(admission, cluster):
    header = {"name": "Authorization", "value": {"valueFrom": {"secretKeyRef": {"name": "token", "key": "t"}}}}
    admission.create("Model", "m", model_spec(headers=[header]))
    assert ("secrets", NS, "token") not in cluster.reads


# Overrides (Agent and Query) -------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", ["model", "mcpserver"])
def test_an_override_for_models_or_mcp_servers_is_accepted(admission, resource_type):
    override = {"resourceType": resource_type, "headers": [{"name": "X-Team", "value": {"value": "a"}}],
                "labelSelector": {"matchLabels": {"tier": "gold"}}}
    admission.create("Query", "q", query_with(overrides=[override]))


def test_an_override_of_another_type_or_without_headers_or_with_a_bad_header_is_refused(admission):
    overrides = [{"resourceType": "memory", "headers": [{"name": "X", "value": {"value": "v"}}]}]
    assert admission.refuse("Query", "q", query_with(overrides=overrides)).fields == ["spec.overrides[0].resourceType"]
    overrides = [{"resourceType": "model", "headers": []},
                 {"resourceType": "model", "headers": [{"name": "X", "value": {"valueFrom": {}}}]}]
    assert admission.refuse("Query", "q", query_with(overrides=overrides)).fields == [
        "spec.overrides[0].headers", "spec.overrides[1].headers[0].value.valueFrom"]


# Resolving a value source ----------------------------------------------------------------------

def test_a_value_wins_over_a_value_from(admission):
    source = {"value": "https://a.example", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}}
    assert resolve(admission.resources.lookup, NS, source, Path("spec.address")) == ("https://a.example", [])


def test_a_secret_is_read_before_a_config_map_and_a_service(admission, cluster):
    cluster.secret("s", url="https://from-secret.example")
    cluster.config_map("c", url="https://from-config-map.example")
    source = {"valueFrom": {"secretKeyRef": {"name": "s", "key": "url"}, "configMapKeyRef": {"name": "c", "key": "url"},
                            "serviceRef": {"name": "svc"}}}
    assert resolve(admission.resources.lookup, NS, source, Path("x"))[0] == "https://from-secret.example"
    del source["valueFrom"]["secretKeyRef"]
    assert resolve(admission.resources.lookup, NS, source, Path("x"))[0] == "https://from-config-map.example"


@pytest.mark.parametrize(("ref", "url"), [
    ({"name": "svc"}, "http://svc.team-a.svc.cluster.local:80"),
    ({"name": "svc", "port": "api", "path": "v1/chat/"}, "http://svc.team-a.svc.cluster.local:8080/v1/chat"),
    ({"name": "svc", "namespace": "custom-ns", "path": "//api"}, "http://svc.custom-ns.svc.cluster.local:80/api"),
])
def test_a_service_stands_for_its_cluster_url(admission, cluster, ref, url):
    cluster.service("svc", ports=(("http", 80), ("api", 8080)))
    cluster.service("svc", namespace="custom-ns")
    assert resolve(admission.resources.lookup, NS, {"valueFrom": {"serviceRef": ref}}, Path("x")) == (url, [])


@pytest.mark.parametrize(("value_from", "field", "fragment"), [
    ({"serviceRef": {"name": ""}}, "x.valueFrom.serviceRef.name", "service name is required"),
    ({"secretKeyRef": {"name": "", "key": "url"}}, "x.valueFrom.secretKeyRef.name", "secret name is required"),
    ({"configMapKeyRef": {"key": "url"}}, "x.valueFrom.configMapKeyRef.name", "configMap name is required"),
    ({}, "x.valueFrom", "no valid valueFrom source"),
])
def test_a_source_that_names_nothing_does_not_resolve(admission, value_from, field, fragment):
    value, problems = resolve(admission.resources.lookup, NS, {"valueFrom": value_from}, Path("x"))
    assert value is None
    assert [(p.field, fragment in p.detail) for p in problems] == [(field, True)]


def test_without_a_source_of_core_objects_nothing_is_resolved_and_nothing_refused(standalone):
    for value_from in ({"secretKeyRef": {"name": "s", "key": "k"}}, {"serviceRef": {"name": "svc"}}):
        assert resolve(standalone.resources.lookup, NS, {"valueFrom": value_from}, Path("x")) == (None, [])


# Durations -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("300ms", 300_000_000), ("1.5h", 5_400_000_000_000), ("2h45m", 9_900_000_000_000), (".5s", 500_000_000),
    ("-1m", -60_000_000_000), ("+10us", 10_000), ("1µs", 1000), ("2562047h47m16.854775807s", 2**63 - 1),
])
def test_go_durations_are_read(text, expected):
    assert nanoseconds(text) == expected


@pytest.mark.parametrize("text", ["", "10", "1 m", "1min", "1d", "h", ".s", "1h-1m", "2562047h47m16.854775808s",
                                  "1ms1", "--1s"])
def test_what_go_refuses_is_no_duration(text):
    assert nanoseconds(text) is None
