"""Admission of the kinds that point at services: MCPServer, A2AServer and ExecutionEngine
(docs/admission.md)."""
from __future__ import annotations

import pytest

HEADER = {"name": "Authorization", "value": {"value": "Bearer t"}}


# MCPServer -------------------------------------------------------------------------------------

def test_an_mcp_server_at_any_url_is_accepted(admission):
    admission.create("MCPServer", "m", {"address": {"value": "http://localhost:8080"}, "headers": [HEADER]})


@pytest.mark.parametrize(("spec", "field", "fragment"), [
    ({"address": {}}, "spec.address.value", "must specify either value or valueFrom"),
    ({"address": {"valueFrom": {}}}, "spec.address.valueFrom", "no valid valueFrom source"),
    ({"address": {"valueFrom": {"queryParameterRef": {"name": "url"}}}}, "spec.address.valueFrom",
     "no valid valueFrom source"),
    ({"address": {"value": "http://m:8080"}, "headers": [{"name": "X", "value": {}}]}, "spec.headers[0].value.value",
     "must specify either value or valueFrom"),
    ({"address": {"value": "http://m:8080"}, "pollInterval": "-1s"}, "spec.pollInterval",
     "pollInterval cannot be negative"),
    ({"address": {"value": "http://m:8080"}, "pollInterval": "1 minute"}, "spec.pollInterval", "must be a duration"),
])
def test_an_invalid_mcp_server_is_refused(admission, spec, field, fragment):
    refused = admission.refuse("MCPServer", "m", spec)
    assert refused.fields == [field]
    assert fragment in refused.message


def test_a_header_with_an_empty_name_is_refused_by_the_schema(admission):
    spec = {"address": {"value": "http://m:8080"}, "headers": [{"name": "", "value": {"value": "v"}}]}
    assert admission.refuse("MCPServer", "m", spec).fields == ["spec.headers[0].name"]


def test_an_mcp_server_address_from_a_secret_must_resolve(admission, standalone, cluster):
    spec = {"address": {"valueFrom": {"secretKeyRef": {"name": "mcp", "key": "url"}}}}
    refused = admission.refuse("MCPServer", "m", spec)
    assert refused.fields == ["spec.address.valueFrom.secretKeyRef.name"]
    standalone.create("MCPServer", "m", spec)  # no source of Secrets: skipped
    cluster.secret("mcp", url="http://mcp.tools.svc.cluster.local:8080")
    admission.create("MCPServer", "m2", spec)


def test_header_secrets_are_not_looked_up(admission):
    header = {"name": "Authorization", "value": {"valueFrom": {"secretKeyRef": {"name": "nonexistent", "key": "t"}}}}
    admission.create("MCPServer", "m", {"address": {"value": "http://localhost:8080"}, "headers": [header]})


def test_a_zero_poll_interval_is_accepted(admission):
    admission.create("MCPServer", "m", {"address": {"value": "http://m:8080"}, "pollInterval": "0"})


# A2AServer -------------------------------------------------------------------------------------

def test_a_valid_a2a_server_is_accepted(admission):
    admission.create("A2AServer", "a", {"address": {"value": "https://agents.example.com"}, "headers": [HEADER],
                                        "pollInterval": "30s"})


def test_an_a2a_server_address_from_anywhere_is_not_resolved(admission):
    admission.create("A2AServer", "a", {"address": {"valueFrom": {"secretKeyRef": {"name": "nowhere", "key": "k"}}}})


@pytest.mark.parametrize(("spec", "fields"), [
    ({"address": {}}, ["spec.address.value"]),
    ({"address": {"value": "https://a", "valueFrom": {"configMapKeyRef": {"key": "url"}}}}, ["spec.address.valueFrom"]),
    ({"address": {"value": "https://a"}, "headers": [HEADER, HEADER]}, ["spec.headers[1].name"]),
    ({"address": {"value": "https://a"}, "headers": [{"name": "X", "value": {}}]}, ["spec.headers[0].value.value"]),
    ({"address": {"value": "https://a"}, "pollInterval": "-5m"}, ["spec.pollInterval"]),
    ({"address": {}, "headers": [HEADER, HEADER], "pollInterval": "-1s"},
     ["spec.address.value", "spec.headers[1].name", "spec.pollInterval"]),
])
def test_an_invalid_a2a_server_is_refused_with_every_problem(admission, spec, fields):
    assert admission.refuse("A2AServer", "a", spec).fields == fields


# ExecutionEngine -------------------------------------------------------------------------------

def test_an_execution_engine_at_a_plain_address_is_accepted(admission):
    admission.create("ExecutionEngine", "langgraph", {"address": {"value": "http://localhost:9090"},
                                                      "type": "langgraph"})


def test_the_name_a2a_is_reserved(admission):
    refused = admission.refuse("ExecutionEngine", "a2a", {"address": {"value": "http://e:9090"}, "type": "x"})
    assert refused.fields == ["metadata.name"]
    assert "reserved for A2A servers" in refused.message


def test_an_execution_engine_without_address_is_refused(admission):
    refused = admission.refuse("ExecutionEngine", "e", {"address": {}, "type": "x"})
    assert refused.fields == ["spec.address.value"]


def test_an_execution_engine_address_from_a_service_needs_the_service(admission, standalone, cluster):
    spec = {"address": {"valueFrom": {"serviceRef": {"name": "executor-svc", "port": "http", "path": "/execute"}}},
            "type": "x"}
    refused = admission.refuse("ExecutionEngine", "e", spec)
    assert refused.causes[0]["message"] == ('Not found: "executor-svc": service \'executor-svc\' does not exist in '
                                            "namespace 'team-a'")
    standalone.create("ExecutionEngine", "e", spec)
    cluster.service("executor-svc", ports=(("http", 8080),))
    admission.create("ExecutionEngine", "e2", spec)
    cluster.service("executor-svc", ports=())
    assert "has no ports" in admission.refuse("ExecutionEngine", "e3", {
        "address": {"valueFrom": {"serviceRef": {"name": "executor-svc"}}}, "type": "x"}).message
