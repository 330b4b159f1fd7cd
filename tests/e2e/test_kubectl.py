"""Real kubectl binaries against the real server, on SQLite and PostgreSQL.

The README walk-through and the everyday verbs run with both kubectl 1.37 (watch-list,
aggregated discovery) and the machine's own kubectl (1.32); everything else runs with 1.37
only. Each test works in a namespace of its own, so tests sharing a server never meet.
kubectl talks to the server directly here, with no kube-apiserver in front of it: the server
runs in standalone mode and serves the namespaces itself (tests/e2e/test_standalone.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from ark.kinds import REGISTRY
from ark.kinds.query import QuerySpec, QueryTarget

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
QUERY_SAMPLE = SAMPLES / "query.yaml"
GROUP = "ark.mckinsey.com"
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
WATCH_LIST = {"watch-list": {}, "list-watch": {"KUBE_FEATURE_WatchListClient": "false"}}


# --- helpers ----------------------------------------------------------------------------------


def query_manifest(name: str, *, timeout: str = "2m", labels: dict | None = None) -> str:
    """A small Query as YAML, for ``kubectl ... -f -``. It picks its agents by label: a target
    it named would have to exist (admission refuses a Query whose target is missing)."""
    metadata: dict = {"name": name}
    if labels:
        metadata["labels"] = labels
    body = {"input": f"question for {name}", "selector": {"matchLabels": {"app": "weather"}}, "timeout": timeout}
    return yaml.safe_dump({"apiVersion": f"{GROUP}/v1alpha1", "kind": "Query", "metadata": metadata, "spec": body})


@pytest.fixture
def sample_agents(server, namespace) -> None:
    """The agents of samples/agent.yaml in the test's namespace: samples/query.yaml asks
    weather-agent, and admission refuses a Query whose target does not exist."""
    url = f"{server.url}/apis/{GROUP}/v1alpha1/namespaces/{namespace}/agents"
    with server.session() as http:
        for document in yaml.safe_load_all((SAMPLES / "agent.yaml").read_text()):
            response = http.post(url, json=document)
            assert response.status_code == 201, response.text


def get_json(kubectl, *args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def parse_table(text: str) -> list[dict[str, str]]:
    """kubectl's column output as one dict per row, cut at the header's column starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def names_in_order(text: str) -> list[str]:
    return [row["NAME"] for row in parse_table(text)]


def wait_until(predicate, timeout: float = 15, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def in_background(kubectl, *args: str, env: dict | None = None) -> Future:
    """Run a kubectl command that blocks (wait, delete) while the test goes on."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(kubectl, *args, check=False, env=env, timeout=60)
    pool.shutdown(wait=False)
    return future


def description(schema, field: str) -> str:
    return schema.fields[field].metadata["description"]


def assert_watched(trace: str, mode: str) -> None:
    """From a ``-v=6`` trace: the informer used watch-list, or list then watch, as ``mode`` says."""
    watches = re.findall(r'verb="GET" url="([^"]*[?&]watch=true[^"]*)" status="200 OK"', trace)
    assert watches, trace
    if mode == "watch-list":
        assert all("sendInitialEvents=true" in url for url in watches), watches
        assert "received the bookmark that marks the end of initial events stream" in trace
    else:
        assert not any("sendInitialEvents" in url for url in watches), watches


# --- the README walk-through (both kubectl versions, both databases) ------------------------


def test_readme_walkthrough(kubectl, namespace, tmp_path, monkeypatch):
    # The README's commands word for word: a kubeconfig whose context is our namespace stands in
    # for "default", and the working directory is the repository.
    config = tmp_path / "kubeconfig"
    shutil.copy(kubectl.kubeconfig, config)
    user = dataclasses.replace(kubectl, kubeconfig=config)
    user("config", "set-context", "--current", f"--namespace={namespace}")
    monkeypatch.chdir(REPO)

    empty = user("get", "queries")
    assert empty.stdout == ""
    assert empty.stderr.strip() == f"No resources found in {namespace} namespace."

    agents = user("apply", "-f", "samples/agent.yaml")
    assert agents.stdout.splitlines() == ["agent.ark.mckinsey.com/weather-agent created",
                                          "agent.ark.mckinsey.com/reviewer-agent created"]
    created = user("create", "-f", "samples/query.yaml")
    assert created.stdout.strip() == "query.ark.mckinsey.com/test-query created"

    shown = yaml.safe_load(user("get", "query", "test-query", "-o", "yaml").stdout)
    sample = yaml.safe_load(QUERY_SAMPLE.read_text())
    assert shown["apiVersion"] == "ark.mckinsey.com/v1alpha1"
    assert shown["kind"] == "Query"
    meta = shown["metadata"]
    assert (meta["name"], meta["namespace"], meta["generation"]) == ("test-query", namespace, 1)
    assert meta["labels"] == sample["metadata"]["labels"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert shown["spec"] == {**sample["spec"], "ttl": "720h", "type": "user"}  # CRD defaults filled in
    assert "status" not in shown

    listed = parse_table(user("get", "queries").stdout)
    assert [(r["NAME"], r["TYPE"]) for r in listed] == [("test-query", "user")]

    deleted = user("delete", "query", "test-query")
    assert deleted.stdout.startswith('query.ark.mckinsey.com "test-query" deleted')
    again = user("get", "queries")
    assert again.stderr.strip() == f"No resources found in {namespace} namespace."


# --- Ark's admission -------------------------------------------------------------------------

LEGACY_MODEL = """apiVersion: ark.mckinsey.com/v1alpha1
kind: Model
metadata:
  name: legacy
spec:
  type: openai
  model:
    value: gpt-4o-mini
  config:
    openai:
      baseUrl:
        value: https://api.openai.com/v1
      apiKey:
        value: not-a-real-key
"""
MIGRATION_WARNING = "Warning: spec.type is deprecated for provider values - migrated 'openai' to spec.provider"


def test_a_query_whose_agent_is_missing_is_refused_naming_the_target(kubectl, namespace):
    refused = kubectl("apply", "-f", str(QUERY_SAMPLE), "-n", namespace, check=False)
    assert refused.returncode == 1
    assert 'The Query "test-query" is invalid: spec.target.name: Not found: "weather-agent": target references ' \
           f"agent 'weather-agent' does not exist in namespace '{namespace}'" in refused.stderr
    assert "spec.target" in refused.stderr
    assert kubectl("get", "queries", "-n", namespace).stderr.strip() == f"No resources found in {namespace} namespace."


def test_server_dry_run_admits_everything_and_stores_nothing(kubectl_latest, namespace):
    ns = ("-n", namespace)
    refused = kubectl_latest("apply", "--dry-run=server", "-f", str(QUERY_SAMPLE), *ns, check=False)
    assert refused.returncode == 1 and "spec.target.name: Not found" in refused.stderr
    dry = kubectl_latest("apply", "--dry-run=server", "-f", str(SAMPLES / "agent.yaml"), *ns)
    assert dry.stdout.splitlines() == ["agent.ark.mckinsey.com/weather-agent created (server dry run)",
                                       "agent.ark.mckinsey.com/reviewer-agent created (server dry run)"]
    migrated = kubectl_latest("create", "--dry-run=server", "-f", "-", "-o", "json", *ns, input=LEGACY_MODEL)
    assert MIGRATION_WARNING in migrated.stderr
    assert json.loads(migrated.stdout)["spec"]["provider"] == "openai"
    assert kubectl_latest("get", "agents,models,queries", "-o", "name", *ns).stdout == ""


def test_a_legacy_model_is_migrated_with_a_warning_on_stderr(kubectl, namespace):
    ns = ("-n", namespace)
    applied = kubectl("apply", "-f", "-", *ns, input=LEGACY_MODEL)
    assert applied.stdout.strip() == "model.ark.mckinsey.com/legacy created"
    assert MIGRATION_WARNING in applied.stderr
    stored = get_json(kubectl, "model", "legacy", *ns)
    assert (stored["spec"]["provider"], stored["spec"]["type"]) == ("openai", "completions")
    rows = parse_table(kubectl("get", "model", "legacy", *ns).stdout)
    assert (rows[0]["TYPE"], rows[0]["PROVIDER"]) == ("completions", "openai")


def test_a_model_pointing_at_the_metadata_service_is_refused(kubectl_latest, namespace):
    unsafe = LEGACY_MODEL.replace("https://api.openai.com/v1", "http://169.254.169.254/latest/")
    refused = kubectl_latest("apply", "-f", "-", "-n", namespace, input=unsafe, check=False)
    assert refused.returncode == 1
    assert 'The Model "legacy" is invalid: spec.config.openai.baseUrl: Invalid value: ' in refused.stderr
    assert MIGRATION_WARNING in refused.stderr  # warnings go out with the refusal too


# --- get ------------------------------------------------------------------------------------


def test_get_output_formats(kubectl, namespace):
    # Names and timeouts sort differently: by name a, b, c; by timeout c, b, a.
    for name, timeout in (("q-c", "1m"), ("q-a", "3m"), ("q-b", "2m")):
        labels = {"tier": "gold"} if name == "q-b" else None
        kubectl("create", "-f", "-", "-n", namespace, input=query_manifest(name, timeout=timeout, labels=labels))
    ns = ("-n", namespace)

    plain = kubectl("get", "queries", *ns).stdout
    assert plain.splitlines()[0].split() == ["NAME", "TYPE", "PHASE", "DURATION", "AGE"]
    rows = parse_table(plain)
    assert sorted(r["NAME"] for r in rows) == ["q-a", "q-b", "q-c"]
    assert {r["TYPE"] for r in rows} == {"user"}
    assert all(re.fullmatch(r"\d+s|\d+m\d*s?", r["AGE"]) for r in rows), rows

    wide = kubectl("get", "queries", "-o", "wide", *ns).stdout  # Ark declares no priority>0 columns
    assert wide.splitlines()[0].split() == ["NAME", "TYPE", "PHASE", "DURATION", "AGE"]
    assert sorted(names_in_order(wide)) == ["q-a", "q-b", "q-c"]

    one = get_json(kubectl, "query", "q-a", *ns)
    assert (one["kind"], one["apiVersion"], one["spec"]["timeout"]) == ("Query", "ark.mckinsey.com/v1alpha1", "3m")
    many = get_json(kubectl, "queries", *ns)
    assert many["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in many["items"]) == ["q-a", "q-b", "q-c"]
    assert {i["kind"] for i in many["items"]} == {"Query"}
    as_yaml = yaml.safe_load(kubectl("get", "queries", "-o", "yaml", *ns).stdout)
    assert len(as_yaml["items"]) == 3

    assert sorted(kubectl("get", "queries", "-o", "name", *ns).stdout.split()) == [
        "query.ark.mckinsey.com/q-a", "query.ark.mckinsey.com/q-b", "query.ark.mckinsey.com/q-c"]

    labelled = parse_table(kubectl("get", "queries", "--show-labels", *ns).stdout)
    assert {r["NAME"]: r["LABELS"] for r in labelled} == {"q-a": "<none>", "q-b": "tier=gold", "q-c": "<none>"}
    by_column = parse_table(kubectl("get", "queries", "-L", "tier", *ns).stdout)
    assert {r["NAME"]: r["TIER"] for r in by_column} == {"q-a": "", "q-b": "gold", "q-c": ""}
    selected = kubectl("get", "queries", "-l", "tier=gold", *ns).stdout
    assert names_in_order(selected) == ["q-b"]

    assert names_in_order(kubectl("get", "queries", "--sort-by=.metadata.name", *ns).stdout) == ["q-a", "q-b", "q-c"]
    assert names_in_order(kubectl("get", "queries", "--sort-by=.spec.timeout", *ns).stdout) == ["q-c", "q-b", "q-a"]
    # One object per page: the Table pages must carry metadata.continue.
    assert sorted(names_in_order(kubectl("get", "queries", "--chunk-size=1", *ns).stdout)) == ["q-a", "q-b", "q-c"]


def test_get_all_namespaces_shows_the_namespace_column(kubectl, namespace):
    other = namespace + "-b"
    kubectl("create", "namespace", other)
    run = {"e2e-run": namespace}  # other tests share the server: select only our objects
    kubectl("create", "-f", "-", "-n", namespace, input=query_manifest("q1", labels=run))
    kubectl("create", "-f", "-", "-n", other, input=query_manifest("q2", labels=run))
    out = kubectl("get", "queries", "-A", "-l", f"e2e-run={namespace}").stdout
    assert out.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert sorted((r["NAMESPACE"], r["NAME"]) for r in parse_table(out)) == [(namespace, "q1"), (other, "q2")]


def test_get_missing_object_is_not_found(kubectl):
    # In "default"; elsewhere kubectl also asks for the namespace (tests/e2e/test_standalone.py).
    result = kubectl("get", "query", "missing", "-n", "default", check=False)
    assert result.returncode == 1
    assert 'Error from server (NotFound): queries.ark.mckinsey.com "missing" not found' in result.stderr


# --- apply ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sample_agents")
def test_apply_twice_is_a_noop(kubectl, namespace):
    ns = ("-n", namespace)
    first = kubectl("apply", "-f", str(QUERY_SAMPLE), *ns)
    assert first.stdout.strip() == "query.ark.mckinsey.com/test-query created"
    before = get_json(kubectl, "query", "test-query", *ns)
    assert "kubectl.kubernetes.io/last-applied-configuration" in before["metadata"]["annotations"]

    second = kubectl("apply", "-f", str(QUERY_SAMPLE), *ns)
    assert second.stdout.strip() == "query.ark.mckinsey.com/test-query unchanged"
    after = get_json(kubectl, "query", "test-query", *ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    # A changed manifest: the new value lands and the dropped label goes (three-way merge).
    changed = yaml.safe_load(QUERY_SAMPLE.read_text())
    changed["spec"]["timeout"] = "9m"
    del changed["metadata"]["labels"]
    third = kubectl("apply", "-f", "-", *ns, input=yaml.safe_dump(changed))
    assert third.stdout.strip() == "query.ark.mckinsey.com/test-query configured"
    final = get_json(kubectl, "query", "test-query", *ns)
    assert final["spec"]["timeout"] == "9m"
    assert "labels" not in final["metadata"]
    assert final["metadata"]["generation"] == 2


def test_apply_server_side(kubectl, namespace):
    ns = ("-n", namespace)
    model = SAMPLES / "model.yaml"
    created = kubectl("apply", "--server-side", "-f", str(model), *ns)
    assert created.stdout.split("\n")[:-1] == ["secret/openai-credentials serverside-applied",
                                               "model.ark.mckinsey.com/default serverside-applied"]
    before = get_json(kubectl, "model", "default", *ns)
    assert before["spec"]["provider"] == "openai"
    assert before["spec"]["type"] == "completions"  # defaulted

    again = kubectl("apply", "--server-side", "-f", str(model), *ns)
    assert again.stdout.split("\n")[-2] == "model.ark.mckinsey.com/default serverside-applied"
    after = get_json(kubectl, "model", "default", *ns)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["generation"] == 1

    *_, changed = yaml.safe_load_all(model.read_text())  # the Model, after its Secret
    changed["spec"]["model"]["value"] = "gpt-4o"
    kubectl("apply", "--server-side", "-f", "-", *ns, input=yaml.safe_dump(changed))
    final = get_json(kubectl, "model", "default", *ns)
    assert final["spec"]["model"] == {"value": "gpt-4o"}
    assert final["metadata"]["generation"] == 2


@pytest.mark.usefixtures("sample_agents")
def test_server_side_apply_takes_over_a_client_side_applied_object(kubectl_latest, namespace):
    ns = ("-n", namespace)
    kubectl_latest("apply", "-f", str(QUERY_SAMPLE), *ns)
    taken = kubectl_latest("apply", "--server-side", "-f", str(QUERY_SAMPLE), *ns)
    assert taken.stdout.strip() == "query.ark.mckinsey.com/test-query serverside-applied"
    before = get_json(kubectl_latest, "query", "test-query", *ns)
    kubectl_latest("apply", "--server-side", "-f", str(QUERY_SAMPLE), *ns)
    assert get_json(kubectl_latest, "query", "test-query", *ns)["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]  # the same configuration again: nothing written
    # Back to client-side apply: the server kept the last-applied annotation in step with the
    # server-side apply, serialized (as kube-apiserver's last-applied updater does) without the
    # empty annotations map that kubectl's own computation has, so kubectl rewrites just the
    # annotation: "configured", with the spec and the generation unchanged.
    again = kubectl_latest("apply", "-f", str(QUERY_SAMPLE), *ns)
    assert again.stdout.strip() == "query.ark.mckinsey.com/test-query configured"
    after = get_json(kubectl_latest, "query", "test-query", *ns)
    assert (after["spec"], after["metadata"]["generation"]) == (before["spec"], before["metadata"]["generation"])
    once_more = kubectl_latest("apply", "-f", str(QUERY_SAMPLE), *ns)
    assert once_more.stdout.strip() == "query.ark.mckinsey.com/test-query unchanged"


# --- edit, patch, label, annotate -----------------------------------------------------------

EDITOR_SCRIPT = """\
import sys
path = sys.argv[-1]
text = open(path).read()
assert "timeout: 2m" in text, text
open(path, "w").write(text.replace("timeout: 2m", "timeout: 3m"))
"""
# Makes the object invalid and keeps what kubectl showed it, in the file named by its first argument.
BAD_EDITOR_SCRIPT = """\
import sys
path = sys.argv[-1]
text = open(path).read()
open(sys.argv[1], "a").write(text + "\\n=====\\n")
open(path, "w").write(text.replace("type: agent", "type: robot"))
"""


@pytest.mark.usefixtures("sample_agents")
def test_edit_with_a_scripted_editor(kubectl, namespace, tmp_path):
    ns = ("-n", namespace)
    kubectl("create", "-f", str(QUERY_SAMPLE), *ns)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR_SCRIPT)

    edited = kubectl("edit", "query", "test-query", *ns, env={"EDITOR": f"{sys.executable} {script}"})
    assert edited.stdout.strip() == "query.ark.mckinsey.com/test-query edited"
    got = get_json(kubectl, "query", "test-query", *ns)
    assert got["spec"]["timeout"] == "3m"
    assert got["metadata"]["generation"] == 2

    # An invalid edit: the server's 422 causes are shown in the reopened file, nothing is saved.
    bad = tmp_path / "bad-editor.py"
    bad.write_text(BAD_EDITOR_SCRIPT)
    shown = tmp_path / "shown.txt"
    refused = kubectl("edit", "query", "test-query", *ns, check=False,
                      env={"EDITOR": f"{sys.executable} {bad} {shown}"})
    assert refused.returncode == 1
    assert 'queries.ark.mckinsey.com "test-query" is invalid' in refused.stderr
    first, second = shown.read_text().split("\n=====\n")[:2]
    assert "spec.target.type" not in first
    assert '# * spec.target.type: Unsupported value: "robot"' in second
    assert get_json(kubectl, "query", "test-query", *ns)["spec"]["target"]["type"] == "agent"

    untouched = kubectl("edit", "query", "test-query", *ns, env={"EDITOR": "true"})
    assert "Edit cancelled, no changes made." in untouched.stdout + untouched.stderr
    assert get_json(kubectl, "query", "test-query", *ns)["metadata"]["resourceVersion"] == \
        got["metadata"]["resourceVersion"]


@pytest.mark.usefixtures("sample_agents")
def test_patch_merge_and_json(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("create", "-f", str(QUERY_SAMPLE), *ns)

    merged = kubectl("patch", "query", "test-query", *ns, "--type", "merge", "-p", '{"spec":{"timeout":"4m"}}')
    assert merged.stdout.strip() == "query.ark.mckinsey.com/test-query patched"
    got = get_json(kubectl, "query", "test-query", *ns)
    assert (got["spec"]["timeout"], got["metadata"]["generation"]) == ("4m", 2)

    kubectl("patch", "query", "test-query", *ns, "--type", "json",
            "-p", '[{"op":"replace","path":"/spec/timeout","value":"5m"},'
                  '{"op":"add","path":"/spec/sessionId","value":"s1"}]')
    got = get_json(kubectl, "query", "test-query", *ns)
    assert (got["spec"]["timeout"], got["spec"]["sessionId"], got["metadata"]["generation"]) == ("5m", "s1", 3)

    failed = kubectl("patch", "query", "test-query", *ns, "--type", "json",
                     "-p", '[{"op":"test","path":"/spec/timeout","value":"9h"}]', check=False)
    assert failed.returncode == 1
    assert "The request is invalid" in failed.stderr
    assert get_json(kubectl, "query", "test-query", *ns)["metadata"]["resourceVersion"] == \
        got["metadata"]["resourceVersion"]


@pytest.mark.usefixtures("sample_agents")
def test_strategic_patch_is_unsupported_media_type(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("create", "-f", str(QUERY_SAMPLE), *ns)
    result = kubectl("patch", "query", "test-query", *ns, "-p", '{"spec":{"timeout":"6m"}}', check=False)
    assert result.returncode == 1
    assert "application/strategic-merge-patch+json is not supported" in result.stderr
    assert "the body of the request was in an unknown format" in result.stderr
    assert get_json(kubectl, "query", "test-query", *ns)["spec"]["timeout"] == "2m"


@pytest.mark.usefixtures("sample_agents")
def test_label_and_annotate(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("create", "-f", str(QUERY_SAMPLE), *ns)
    stale = get_json(kubectl, "query", "test-query", *ns)["metadata"]["resourceVersion"]

    labeled = kubectl("label", "query", "test-query", "color=blue", *ns)
    assert labeled.stdout.strip() == "query.ark.mckinsey.com/test-query labeled"
    annotated = kubectl("annotate", "query", "test-query", "note=hello world", *ns)
    assert annotated.stdout.strip() == "query.ark.mckinsey.com/test-query annotated"
    got = get_json(kubectl, "query", "test-query", *ns)
    assert got["metadata"]["labels"]["color"] == "blue"
    assert got["metadata"]["annotations"]["note"] == "hello world"
    assert got["metadata"]["generation"] == 1  # metadata-only changes keep the generation

    conflict = kubectl("label", "query", "test-query", "color=red", "--overwrite", f"--resource-version={stale}",
                       *ns, check=False)
    assert conflict.returncode == 1
    assert "Error from server (Conflict)" in conflict.stderr
    assert "the object has been modified" in conflict.stderr
    current = get_json(kubectl, "query", "test-query", *ns)["metadata"]["resourceVersion"]
    kubectl("label", "query", "test-query", "color=red", "--overwrite", f"--resource-version={current}", *ns)

    kubectl("label", "query", "test-query", "color-", *ns)
    kubectl("annotate", "query", "test-query", "note-", *ns)
    got = get_json(kubectl, "query", "test-query", *ns)
    assert "color" not in got["metadata"].get("labels", {})
    assert "note" not in got["metadata"].get("annotations", {})


def test_delete(kubectl, namespace):
    ns = ("-n", namespace)
    for name in ("q1", "q2", "q3"):
        kubectl("create", "-f", "-", *ns, input=query_manifest(name))

    one = kubectl("delete", "query", "q1", *ns)
    assert one.stdout.startswith('query.ark.mckinsey.com "q1" deleted')
    missing = kubectl("delete", "query", "q1", *ns, check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): queries.ark.mckinsey.com "q1" not found' in missing.stderr
    assert kubectl("delete", "query", "q1", "--ignore-not-found", *ns).stdout == ""

    by_file = kubectl("delete", "-f", "-", *ns, input=query_manifest("q2"))
    assert by_file.stdout.startswith('query.ark.mckinsey.com "q2" deleted')
    every = kubectl("delete", "queries", "--all", *ns)
    assert every.stdout.startswith('query.ark.mckinsey.com "q3" deleted')
    assert kubectl("get", "queries", *ns).stderr.strip() == f"No resources found in {namespace} namespace."


# --- kubectl 1.37 only --------------------------------------------------------------------------


@pytest.mark.usefixtures("sample_agents")
def test_create_twice_is_already_exists_and_generate_name_makes_names(kubectl_latest, namespace):
    ns = ("-n", namespace)
    kubectl_latest("create", "-f", str(QUERY_SAMPLE), *ns)
    again = kubectl_latest("create", "-f", str(QUERY_SAMPLE), *ns, check=False)
    assert again.returncode == 1
    assert 'Error from server (AlreadyExists): error when creating "' in again.stderr
    assert 'queries.ark.mckinsey.com "test-query" already exists' in again.stderr

    generated = yaml.safe_load(query_manifest("unused"))
    generated["metadata"] = {"generateName": "gen-"}
    names = set()
    for _ in range(2):
        out = kubectl_latest("create", "-f", "-", *ns, input=yaml.safe_dump(generated)).stdout
        match = re.fullmatch(r"query\.ark\.mckinsey\.com/(gen-[bcdfghjklmnpqrstvwxz2456789]{5}) created\n", out)
        assert match, out
        names.add(match.group(1))
    assert len(names) == 2


@pytest.mark.usefixtures("sample_agents")
def test_replace_diff_and_server_dry_run(kubectl_latest, namespace):
    ns = ("-n", namespace)
    kubectl_latest("apply", "-f", str(QUERY_SAMPLE), *ns)
    before = get_json(kubectl_latest, "query", "test-query", *ns)
    changed = yaml.safe_load(QUERY_SAMPLE.read_text())
    changed["spec"]["timeout"] = "9m"
    manifest = yaml.safe_dump(changed)

    same = kubectl_latest("diff", "-f", str(QUERY_SAMPLE), *ns, check=False)
    assert (same.returncode, same.stdout) == (0, "")
    differs = kubectl_latest("diff", "-f", "-", *ns, input=manifest, check=False)
    assert differs.returncode == 1, differs.stderr
    assert "-  timeout: 2m" in differs.stdout and "+  timeout: 9m" in differs.stdout
    dry = kubectl_latest("apply", "--dry-run=server", "-f", "-", *ns, input=manifest)
    assert dry.stdout.strip() == "query.ark.mckinsey.com/test-query configured (server dry run)"
    created_dry = kubectl_latest("create", "--dry-run=server", "-f", "-", *ns, input=query_manifest("ghost"))
    assert created_dry.stdout.strip() == "query.ark.mckinsey.com/ghost created (server dry run)"
    assert kubectl_latest("get", "queries", "-o", "name", *ns).stdout.split() == ["query.ark.mckinsey.com/test-query"]
    assert get_json(kubectl_latest, "query", "test-query", *ns)["metadata"]["resourceVersion"] == \
        before["metadata"]["resourceVersion"]

    replaced = kubectl_latest("replace", "-f", "-", *ns, input=manifest)
    assert replaced.stdout.strip() == "query.ark.mckinsey.com/test-query replaced"
    after = get_json(kubectl_latest, "query", "test-query", *ns)
    assert (after["spec"]["timeout"], after["metadata"]["generation"]) == ("9m", 2)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]


def test_explain_prints_our_field_docs(kubectl_latest):
    out = kubectl_latest("explain", "query.spec.target").stdout
    assert re.search(r"KIND:\s+Query", out)
    assert re.search(r"VERSION:\s+v1alpha1", out)
    assert "FIELD: target <Object>" in out
    assert description(QuerySpec(), "target") in out
    assert description(QueryTarget(), "name") in out
    assert re.search(r"name\s+<string> -required-", out)
    assert "enum: agent, team, model, tool" in out

    spec = kubectl_latest("explain", "queries.spec").stdout
    for field in ("input", "target", "timeout", "ttl"):
        assert re.search(rf"^\s+{field}\s+<", spec, re.MULTILINE), field


BAD_QUERY = """\
apiVersion: ark.mckinsey.com/v1alpha1
kind: Query
metadata:
  name: bad
spec:
  input: hi
  selector: {matchLabels: {app: weather}}
  bogus: 1
"""


def test_create_validates_fields_strictly_by_default(kubectl_latest, namespace):
    ns = ("-n", namespace)
    strict = kubectl_latest("create", "-f", "-", *ns, input=BAD_QUERY, check=False)
    assert strict.returncode == 1
    assert "Error from server (BadRequest)" in strict.stderr
    assert ('Query in version "v1alpha1" cannot be handled as a Query: strict decoding error: '
            'unknown field "spec.bogus"') in strict.stderr
    assert kubectl_latest("get", "query", "bad", *ns, check=False).returncode == 1

    warned = kubectl_latest("create", "-f", "-", "--validate=warn", *ns, input=BAD_QUERY)
    assert warned.stdout.strip() == "query.ark.mckinsey.com/bad created"
    assert 'Warning: unknown field "spec.bogus"' in warned.stderr
    assert "bogus" not in get_json(kubectl_latest, "query", "bad", *ns)["spec"]  # pruned, as a CRD does

    ignored = kubectl_latest("create", "-f", "-", "--validate=false", *ns,
                             input=BAD_QUERY.replace("name: bad", "name: bad2"))
    assert ignored.stderr == ""
    assert "bogus" not in get_json(kubectl_latest, "query", "bad2", *ns)["spec"]


def test_api_resources_lists_the_twelve_kinds(kubectl_latest):
    out = kubectl_latest("api-resources", f"--api-group={GROUP}", "-o", "wide").stdout
    rows = parse_table(out)
    served = {(k.plural, f"{k.group}/{k.version}", k.kind) for k in REGISTRY}
    assert len(served) == 12
    assert {(r["NAME"], r["APIVERSION"], r["KIND"]) for r in rows} == served
    assert {r["NAMESPACED"] for r in rows} == {"true"}
    assert {r["VERBS"] for r in rows} == {"create,delete,deletecollection,get,list,patch,update,watch"}


def test_discovery_is_aggregated(kubectl_latest, tmp_path):
    groups = json.loads(kubectl_latest("get", "--raw", "/apis").stdout)  # kubectl's Accept: application/json
    assert groups["kind"] == "APIGroupList"
    (group,) = groups["groups"]
    assert group["name"] == GROUP
    assert [v["version"] for v in group["versions"]] == ["v1alpha1", "v1prealpha1"]
    assert group["preferredVersion"]["version"] == "v1alpha1"
    legacy = json.loads(kubectl_latest("get", "--raw", f"/apis/{GROUP}/v1alpha1").stdout)
    names = {r["name"] for r in legacy["resources"]}
    assert {"queries", "queries/status"} <= names

    # With an empty cache kubectl asks /apis for aggregated discovery and, given it, asks
    # nothing per group-version.
    trace = kubectl_latest("--cache-dir", str(tmp_path / "fresh"), "api-resources", f"--api-group={GROUP}",
                           "-v=8").stderr
    assert re.search(r"Accept: " + re.escape(AGGREGATED_V2), trace)
    assert "Content-Type: " + AGGREGATED_V2 in trace
    assert f"/apis/{GROUP}/v1alpha1?" not in trace
    assert f"/apis/{GROUP}/v1prealpha1?" not in trace


CONDITION_PATCH = json.dumps({"status": {"phase": "done", "duration": "1.5s", "conditions": [
    {"type": "Completed", "status": "True", "reason": "Answered", "message": "the agent answered",
     "lastTransitionTime": "2026-01-02T15:04:05Z", "observedGeneration": 1}]}})


@pytest.mark.usefixtures("sample_agents")
@pytest.mark.parametrize("mode", WATCH_LIST)
def test_wait_for_a_condition_set_through_the_status_subresource(kubectl_latest, namespace, mode):
    ns = ("-n", namespace)
    env = WATCH_LIST[mode]
    kubectl_latest("create", "-f", str(QUERY_SAMPLE), *ns)
    for_condition = in_background(kubectl_latest, "wait", "--for=condition=Completed", "query/test-query",
                                  "--timeout=30s", "-v=6", *ns, env=env)
    for_phase = in_background(kubectl_latest, "wait", "--for=jsonpath={.status.phase}=done", "query/test-query",
                              "--timeout=30s", *ns, env=env)
    time.sleep(1)  # let both waiters reach their watch before the change
    assert not for_condition.done() and not for_phase.done()

    patched = kubectl_latest("patch", "query", "test-query", *ns, "--subresource=status", "--type", "merge",
                             "-p", CONDITION_PATCH)
    assert patched.stdout.strip() == "query.ark.mckinsey.com/test-query patched"
    for waiter in (for_condition, for_phase):
        result = waiter.result(timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "query.ark.mckinsey.com/test-query condition met"
    assert_watched(for_condition.result().stderr, mode)

    got = get_json(kubectl_latest, "query", "test-query", *ns)
    assert got["metadata"]["generation"] == 1  # status writes never bump it
    assert got["status"]["conditions"][0]["type"] == "Completed"
    row = parse_table(kubectl_latest("get", "queries", *ns).stdout)[0]
    assert (row["PHASE"], row["DURATION"]) == ("done", "1.5s")

    # The status subresource takes only status; the main resource keeps the stored status.
    kubectl_latest("patch", "query", "test-query", *ns, "--subresource=status", "--type", "merge",
                   "-p", '{"spec":{"timeout":"1h"},"status":{"phase":"error"}}')
    kubectl_latest("patch", "query", "test-query", *ns, "--type", "merge", "-p", '{"status":{"phase":"running"}}')
    got = get_json(kubectl_latest, "query", "test-query", *ns)
    assert (got["spec"]["timeout"], got["status"]["phase"]) == ("2m", "error")


@pytest.mark.usefixtures("sample_agents")
@pytest.mark.parametrize("mode", WATCH_LIST)
def test_delete_waits_for_finalizers(kubectl_latest, namespace, mode):
    ns = ("-n", namespace)
    kubectl_latest("create", "-f", str(QUERY_SAMPLE), *ns)
    kubectl_latest("patch", "query", "test-query", *ns, "--type", "merge",
                   "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')

    env = WATCH_LIST[mode]
    deleting = in_background(kubectl_latest, "delete", "query", "test-query", "--wait", "--timeout=30s", "-v=6", *ns,
                             env=env)

    def marked() -> bool:
        meta = get_json(kubectl_latest, "query", "test-query", *ns)["metadata"]
        return "deletionTimestamp" in meta

    wait_until(marked, message="deletionTimestamp")
    waiting = in_background(kubectl_latest, "wait", "--for=delete", "query/test-query", "--timeout=30s", *ns, env=env)
    time.sleep(1)  # both are now watching for the object to go
    assert not deleting.done() and not waiting.done()
    kubectl_latest("patch", "query", "test-query", *ns, "--type", "json",
                   "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    result = deleting.result(timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('query.ark.mckinsey.com "test-query" deleted')
    assert_watched(result.stderr, mode)
    waited = waiting.result(timeout=30)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.strip() == "query.ark.mckinsey.com/test-query condition met"
    assert kubectl_latest("get", "query", "test-query", *ns, check=False).returncode == 1


class Watching:
    """``kubectl get ... -w --output-watch-events`` running in the background, read line by line."""

    def __init__(self, kubectl, *args: str) -> None:
        command = [str(kubectl.binary), "--cache-dir", str(kubectl.cache_dir), "get", *args, "-w",
                   "--output-watch-events"]
        env = {**os.environ, "KUBECONFIG": str(kubectl.kubeconfig)}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[list[str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def expect(self, event: str, name: str, timeout: float = 15) -> list[str]:
        """Read up to the next row for ``event`` on ``name``; return its cells."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                cells = self.lines.get(timeout=0.2).split()
            except queue.Empty:
                continue
            self.seen.append(cells)
            if cells[:2] == [event, name]:
                return cells
        raise AssertionError(f"no {event} {name} in {self.seen}")

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=10)
        return self.process.stderr.read()


def test_get_watch_prints_rows_as_things_change(kubectl_latest, namespace):
    ns = ("-n", namespace)
    kubectl_latest("create", "-f", "-", *ns, input=query_manifest("q1"))
    every = Watching(kubectl_latest, "queries", *ns)
    one = Watching(kubectl_latest, "query", "q1", *ns)  # starts with a synthetic ADDED for q1
    try:
        for watching in (every, one):
            watching.expect("ADDED", "q1")
            assert watching.seen[0] == ["EVENT", "NAME", "TYPE", "PHASE", "DURATION", "AGE"]
        kubectl_latest("create", "-f", "-", *ns, input=query_manifest("q2"))
        every.expect("ADDED", "q2")
        kubectl_latest("patch", "query", "q1", *ns, "--subresource=status", "--type", "merge",
                       "-p", '{"status":{"phase":"running"}}')
        for watching in (every, one):
            assert watching.expect("MODIFIED", "q1")[:4] == ["MODIFIED", "q1", "user", "running"]
        kubectl_latest("delete", "query", "q2", *ns)
        every.expect("DELETED", "q2")
        kubectl_latest("delete", "query", "q1", *ns)
        one.expect("DELETED", "q1")
    finally:
        errors = [every.stop(), one.stop()]
    assert errors == ["", ""]
    for watching in (every, one):
        assert sum(1 for cells in watching.seen if cells[0] == "EVENT") == 1  # column headers only once
    assert all(cells[1] != "q2" for cells in one.seen)


A2A_SERVER = """\
apiVersion: ark.mckinsey.com/v1prealpha1
kind: A2AServer
metadata:
  name: remote
spec:
  address:
    value: http://a2a.example.com
"""


def test_v1prealpha1_kinds_keep_their_version(kubectl_latest, namespace):
    ns = ("-n", namespace)
    assert kubectl_latest("apply", "-f", "-", *ns, input=A2A_SERVER).stdout.strip() == \
        "a2aserver.ark.mckinsey.com/remote created"
    assert kubectl_latest("apply", "-f", "-", *ns, input=A2A_SERVER).stdout.strip() == \
        "a2aserver.ark.mckinsey.com/remote unchanged"
    got = get_json(kubectl_latest, "a2aservers.v1prealpha1.ark.mckinsey.com", "remote", *ns)
    assert (got["apiVersion"], got["kind"]) == ("ark.mckinsey.com/v1prealpha1", "A2AServer")
    listed = get_json(kubectl_latest, "a2aservers", *ns)
    assert [i["apiVersion"] for i in listed["items"]] == ["ark.mckinsey.com/v1prealpha1"]
    header = kubectl_latest("get", "a2aservers", *ns).stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "DISCOVERING", "ADDRESS", "AGE"]
    assert re.search(r"VERSION:\s+v1prealpha1", kubectl_latest("explain", "a2aserver.spec.address").stdout)


def test_samples_are_accepted(kubectl_latest, namespace):
    out = kubectl_latest("apply", "-f", str(SAMPLES), "-n", namespace).stdout
    assert sorted(out.split("\n")[:-1]) == sorted(f"{name} created" for name in (
        "agent.ark.mckinsey.com/weather-agent", "agent.ark.mckinsey.com/reviewer-agent",
        "model.ark.mckinsey.com/default", "query.ark.mckinsey.com/test-query",
        "team.ark.mckinsey.com/weather-team", "tool.ark.mckinsey.com/get-forecast", "secret/openai-credentials"))
    listed = kubectl_latest("get", "agents,models,queries,teams,tools", "-o", "name", "-n", namespace).stdout
    assert len(listed.split()) == 6
    tools = kubectl_latest("get", "tools", "-n", namespace).stdout  # no printer columns: Name and Age
    assert tools.splitlines()[0].split() == ["NAME", "AGE"]
