"""Tool admission (docs/admission.md, "Tool"): input schemas, the section of each type, the
names of builtin tools. Nothing a tool points to is looked up."""
from __future__ import annotations

import pytest

HTTP = {"type": "http", "http": {"url": "https://api.example.com/search", "method": "POST"}}
SKIP = {"ark.mckinsey.com/skip-webhook-validation": "true"}


@pytest.mark.parametrize("spec", [
    HTTP,
    {"type": "mcp", "mcp": {"mcpServerRef": {"name": "github"}, "toolName": "search"}},
    {"type": "agent", "agent": {"name": "researcher"}},
    {"type": "team", "team": {"name": "crew"}},
], ids=["http", "mcp", "agent", "team"])
def test_a_tool_of_each_type_is_accepted_without_its_target_existing(admission, spec):
    assert admission.create("Tool", "t", spec).warnings == []


@pytest.mark.parametrize("name", ["noop", "terminate"])
def test_a_builtin_tool_named_after_a_built_in_is_accepted(admission, name):
    admission.create("Tool", name, {"type": "builtin"})


def test_a_builtin_tool_with_another_name_is_refused(admission):
    refused = admission.refuse("Tool", "unknown-builtin", {"type": "builtin", "builtin": {"name": "noop"}})
    assert refused.fields == ["metadata.name"]
    assert 'Unsupported value: "unknown-builtin": supported values: "noop", "terminate"' in refused.message


@pytest.mark.parametrize(("tool_type", "fragment"), [
    ("http", "http spec is required for http type"),
    ("mcp", "MCP spec is required for mcp type"),
    ("agent", "agent field is required for agent type"),
    ("team", "team field is required for team type"),
])
def test_a_tool_without_the_section_of_its_type_is_refused(admission, tool_type, fragment):
    refused = admission.refuse("Tool", "t", {"type": tool_type})
    assert refused.fields == [f"spec.{tool_type}"]
    assert fragment in refused.message


@pytest.mark.parametrize(("spec", "field"), [
    ({"type": "http", "http": {}}, "spec.http.url"),
    ({"type": "http", "http": {"url": "https://x.example", "method": "BREW"}}, "spec.http.method"),
    ({"type": "mcp", "mcp": {"mcpServerRef": {"name": ""}, "toolName": "t"}}, "spec.mcp.mcpServerRef.name"),
    ({"type": "mcp", "mcp": {"mcpServerRef": {"name": "s"}}}, "spec.mcp.toolName"),
    ({"type": "agent", "agent": {"name": ""}}, "spec.agent.name"),
    ({"type": "team", "team": {"name": ""}}, "spec.team.name"),
    ({"type": "unknown"}, "spec.type"),
])
def test_what_the_schema_already_refuses_is_refused(admission, spec, field):
    assert admission.refuse("Tool", "t", spec).fields == [field]


@pytest.mark.parametrize("url", ["https://exa mple.com/x", "https://example.com:port/x", "https://example.com/%zz",
                                 "https://[::1/x"])
def test_an_http_url_that_does_not_parse_is_refused(admission, url):
    refused = admission.refuse("Tool", "t", {"type": "http", "http": {"url": url}})
    assert refused.fields == ["spec.http.url"]
    assert "invalid URL format" in refused.message


def test_a_valid_input_schema_is_accepted(admission):
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "tags": {"type": "array", "items": {"type": ["string", "null"]}},
                                               "anything": True},
              "required": ["name"]}
    admission.create("Tool", "t", {**HTTP, "inputSchema": schema})


@pytest.mark.parametrize(("schema", "field"), [
    ({"type": "invalid-type"}, "spec.inputSchema.type"),
    ({"type": "object", "properties": {"url": {"type": "uri"}}}, "spec.inputSchema.properties[url].type"),
    ({"type": "object", "properties": {"": {"type": "string"}}}, "spec.inputSchema.properties"),
    ({"type": ["string", 5]}, "spec.inputSchema.type[1]"),
    ({"type": "object", "properties": ["a"]}, "spec.inputSchema.properties"),
    ({"type": "object", "properties": {"a": "string"}}, "spec.inputSchema.properties[a]"),
    ({"type": "array", "items": {"type": "text"}}, "spec.inputSchema.items.type"),
    ({"type": "object", "required": "name"}, "spec.inputSchema.required"),
])
def test_an_input_schema_that_is_no_json_schema_is_refused(admission, schema, field):
    assert admission.refuse("Tool", "t", {**HTTP, "inputSchema": schema}).fields == [field]


def test_an_input_schema_that_is_not_an_object_is_refused_by_the_schema(admission):
    assert admission.refuse("Tool", "t", {**HTTP, "inputSchema": "invalid json"}).fields == ["spec.inputSchema"]


def test_the_skip_label_bypasses_the_tool_rules(admission):
    admission.create("Tool", "anything", {"type": "builtin"}, labels=SKIP)
    admission.create("Tool", "t", {"type": "agent", "inputSchema": {"type": "nonsense"}}, labels=SKIP)
