"""Admission as the API serves it (in-process, Flask's test client on a SQLite file): the order
mutations → schema → rules, warnings on successes and refusals, dry-run, every write verb, no
rules on /status, and the server options."""
from __future__ import annotations

import json

import pytest

from ark.app import create_app
from ark.kinds import REGISTRY
from ark.settings import Settings
from ark.storage.dialects import create_engine_for
from ark.storage.migrations import upgrade_engine
from ark.storage.store import Store

BASE = "/apis/ark.mckinsey.com/v1alpha1/namespaces/ns"
MERGE = {"Content-Type": "application/merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}
MIGRATED = "spec.type is deprecated for provider values - migrated 'openai' to spec.provider"


def legacy_model(name: str = "m", base_url: str = "https://api.openai.com/v1") -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Model", "metadata": {"name": name},
            "spec": {"type": "openai", "model": {"value": "gpt-4o"},
                     "config": {"openai": {"baseUrl": {"value": base_url}, "apiKey": {"value": "k"}}}}}


def query(name: str = "q", target: str = "helper") -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": name},
            "spec": {"input": "hello", "target": {"type": "agent", "name": target}}}


def agent(name: str = "helper") -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Agent", "metadata": {"name": name},
            "spec": {"prompt": "You help."}}


def warnings(response) -> list[str]:
    return [json.loads(value.split(" ", 2)[2]) for value in response.headers.getlist("Warning")]


@pytest.fixture
def make_client(tmp_path):
    """A test client of an app with extra server flags, on its own migrated SQLite file."""
    engines = []

    def make(*flags: str):
        path = tmp_path / f"ark{len(engines)}.db"
        settings = Settings.load(["--storage-driver", "sqlite", "--sqlite-path", str(path), *flags], env={})
        engine = create_engine_for(settings)
        upgrade_engine(engine)
        engines.append(engine)
        client = create_app(settings, Store(engine)).test_client()
        created = client.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": "ns"}})
        assert created.status_code == 201, created.get_json()  # objects go only into namespaces that exist
        return client

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def client(make_client):
    return make_client()


def test_a_legacy_model_is_migrated_before_the_schema_check_and_warned_about(client):
    response = client.post(f"{BASE}/models", json=legacy_model())
    assert response.status_code == 201, response.get_json()
    assert warnings(response) == [MIGRATED]
    stored = client.get(f"{BASE}/models/m").get_json()
    assert (stored["spec"]["provider"], stored["spec"]["type"]) == ("openai", "completions")
    assert stored["metadata"]["annotations"] == {"ark.mckinsey.com/migration-warning-provider": MIGRATED}
    relabeled = client.patch(f"{BASE}/models/m", json={"metadata": {"labels": {"a": "b"}}}, headers=MERGE)
    assert relabeled.status_code == 200 and warnings(relabeled) == [MIGRATED]


def test_warnings_go_out_with_a_refusal_too(client):
    response = client.post(f"{BASE}/models", json=legacy_model(base_url="https://169.254.169.254/"))
    assert response.status_code == 422
    status = response.get_json()
    assert status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.config.openai.baseUrl"]
    assert warnings(response) == [MIGRATED]


def test_unknown_field_warnings_and_migration_warnings_together(client):
    body = legacy_model()
    body["spec"]["flavour"] = "vanilla"
    response = client.post(f"{BASE}/models?fieldValidation=Warn", json=body)
    assert response.status_code == 201
    assert warnings(response) == ['unknown field "spec.flavour"', MIGRATED]


def test_dry_run_runs_every_rule_and_stores_nothing(client):
    refused = client.post(f"{BASE}/queries?dryRun=All", json=query())
    assert refused.status_code == 422
    assert refused.get_json()["details"]["causes"][0]["field"] == "spec.target.name"
    assert client.post(f"{BASE}/agents?dryRun=All", json=agent()).status_code == 201
    assert client.get(f"{BASE}/agents/helper").status_code == 404
    dry = client.post(f"{BASE}/models?dryRun=All", json=legacy_model())
    assert dry.status_code == 201 and dry.get_json()["spec"]["provider"] == "openai"
    assert warnings(dry) == [MIGRATED]
    assert client.get(f"{BASE}/models/m").status_code == 404


def test_every_write_verb_is_admitted(client):
    assert client.post(f"{BASE}/agents", json=agent()).status_code == 201
    assert client.post(f"{BASE}/queries", json=query()).status_code == 201
    # merge patch
    patched = client.patch(f"{BASE}/queries/q", json={"spec": {"target": {"name": "ghost"}}}, headers=MERGE)
    assert patched.status_code == 422
    assert "target references agent 'ghost' does not exist" in patched.get_json()["message"]
    dropped = client.patch(f"{BASE}/queries/q", json={"spec": {"target": None}}, headers=MERGE)
    assert dropped.get_json()["details"]["causes"][0]["message"].endswith("target or selector must be specified")
    # update (PUT)
    current = client.get(f"{BASE}/queries/q").get_json()
    current["spec"]["target"]["name"] = "ghost"
    assert client.put(f"{BASE}/queries/q", json=current).status_code == 422
    # server-side apply, creating and updating
    applied = client.patch(f"{BASE}/queries/fresh?fieldManager=test", data=json.dumps(query("fresh", "ghost")),
                           headers=APPLY)
    assert applied.status_code == 422
    assert client.get(f"{BASE}/queries/fresh").status_code == 404
    # (forced: the target's name belongs to the manager that created the query)
    assert client.patch(f"{BASE}/queries/q?fieldManager=test&force=true", data=json.dumps(query("q", "ghost")),
                        headers=APPLY).status_code == 422
    assert client.get(f"{BASE}/queries/q").get_json()["spec"]["target"]["name"] == "helper"


def test_status_writes_run_no_rules(client):
    client.post(f"{BASE}/agents", json=agent())
    client.post(f"{BASE}/queries", json=query())
    assert client.delete(f"{BASE}/agents/helper").status_code == 200  # the target now dangles
    status = client.patch(f"{BASE}/queries/q/status", json={"status": {"phase": "running"}}, headers=MERGE)
    assert status.status_code == 200, status.get_json()
    assert client.patch(f"{BASE}/queries/q", json={"metadata": {"labels": {"a": "b"}}},
                        headers=MERGE).status_code == 422


def test_missing_references_can_be_made_warnings(make_client):
    client = make_client("--admission-references", "warn")
    response = client.post(f"{BASE}/queries", json=query())
    assert response.status_code == 201
    assert warnings(response) == ['spec.target.name: Not found: "helper": target references agent \'helper\' does '
                                  "not exist in namespace 'ns'"]
    team = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Team", "metadata": {"name": "t"},
            "spec": {"strategy": "sequential", "members": [{"type": "agent", "name": "later"}]}}
    assert client.post(f"{BASE}/teams", json=team).status_code == 201
    # every other rule still refuses
    no_target = {**query("q2"), "spec": {"input": "hello"}}
    assert client.post(f"{BASE}/queries", json=no_target).status_code == 422
    team["metadata"]["name"] = "self"
    team["spec"]["members"] = [{"type": "team", "name": "self"}]
    assert client.post(f"{BASE}/teams", json=team).status_code == 422


def test_private_ranges_and_domains_for_model_urls_are_server_options(make_client):
    private = legacy_model(base_url="https://10.100.1.1/v1")
    assert make_client().post(f"{BASE}/models", json=private).status_code == 422
    allowing = make_client("--model-allowed-private-ranges", "10.100.0.0/16")
    assert allowing.post(f"{BASE}/models", json=private).status_code == 201
    assert allowing.post(f"{BASE}/models", json=legacy_model("loop", "https://127.0.0.1/")).status_code == 422
    domains = make_client("--model-allowed-domains", "*.openai.azure.com,api.openai.com")
    assert domains.post(f"{BASE}/models", json=legacy_model()).status_code == 201
    refused = domains.post(f"{BASE}/models", json=legacy_model("other", "https://llm.example.com/v1"))
    assert refused.status_code == 422 and "domain not in the allowed list" in refused.get_json()["message"]


@pytest.mark.parametrize("kind", [k for k in REGISTRY if k.kind not in ("Agent", "Memory", "A2ATask")],
                         ids=lambda k: k.kind)
def test_an_object_without_spec_is_refused_when_the_rules_need_one(client, kind):
    url = f"/apis/{kind.group}/{kind.version}/namespaces/ns/{kind.plural}"
    for spec in ({}, {"spec": None}):
        response = client.post(url, json={"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": "x"},
                                          **spec})
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["details"]["causes"] == [
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec"}]


def test_kinds_without_rules_take_objects_without_spec_and_an_agent_gets_the_default_model(client):
    for plural, kind in (("memories", "Memory"), ("a2atasks", "A2ATask"), ("agents", "Agent")):
        body = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": kind, "metadata": {"name": "x"}}
        assert client.post(f"{BASE}/{plural}", json=body).status_code == 201
    assert client.get(f"{BASE}/agents/x").get_json()["spec"] == {"modelRef": {"name": "default"}}
