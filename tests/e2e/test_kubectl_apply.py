"""Server-side apply with real kubectl (1.37 and the machine's own) on both databases: re-applying,
dropping fields, conflicts between managers, --force-conflicts, kubectl diff, the migrations
between client-side and server-side apply, and --show-managed-fields."""
from __future__ import annotations

import json

import pytest
import yaml

GROUP = "ark.mckinsey.com"


@pytest.fixture(autouse=True)
def weather_agent(server, namespace) -> None:
    """The agent the queries below ask: admission refuses a Query whose target does not exist."""
    agent = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Agent", "metadata": {"name": "weather-agent"},
             "spec": {"prompt": "You report the weather."}}
    with server.session() as http:
        response = http.post(f"{server.url}/apis/{GROUP}/v1alpha1/namespaces/{namespace}/agents", json=agent)
    assert response.status_code == 201, response.text


def manifest(name: str = "ssa", *, labels: dict | None = None, **spec: str) -> str:
    metadata: dict = {"name": name}
    if labels:
        metadata["labels"] = labels
    return yaml.safe_dump({"apiVersion": f"{GROUP}/v1alpha1", "kind": "Query", "metadata": metadata,
                           "spec": {"input": "hello", "target": {"type": "agent", "name": "weather-agent"},
                                    **spec}})


def stored(kubectl, namespace: str, name: str = "ssa") -> dict:
    return json.loads(kubectl("get", "query", name, "-n", namespace, "-o", "json", "--show-managed-fields").stdout)


def owners(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


def test_apply_twice_then_drop_a_label_and_a_field(kubectl, namespace):
    ns = ("-n", namespace)
    first = kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest(labels={"app": "x"}, timeout="9m"))
    assert first.stdout.strip() == f"query.{GROUP}/ssa serverside-applied"
    rv = stored(kubectl, namespace)["metadata"]["resourceVersion"]
    kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest(labels={"app": "x"}, timeout="9m"))
    assert stored(kubectl, namespace)["metadata"]["resourceVersion"] == rv  # nothing changed, nothing written

    kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest())
    after = stored(kubectl, namespace)
    assert "labels" not in after["metadata"]
    assert after["spec"]["timeout"] == "5m"  # the applied 9m is gone: the schema's default is back
    assert owners(after)[("kubectl", "Apply")]["f:spec"] == {"f:input": {}, "f:target": {"f:name": {}, "f:type": {}}}


def test_a_second_manager_conflicts_until_it_forces(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest())
    other = ("--server-side", "--field-manager=other", "-f", "-", *ns)
    conflict = kubectl("apply", *other, input=manifest(input="changed"), check=False)
    assert conflict.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.input' in conflict.stderr
    assert stored(kubectl, namespace)["spec"]["input"] == "hello"

    kubectl("apply", "--force-conflicts", *other, input=manifest(input="changed"))
    after = stored(kubectl, namespace)
    assert after["spec"]["input"] == "changed"
    assert owners(after)[("other", "Apply")]["f:spec"] == {"f:input": {}, "f:target": {"f:name": {}, "f:type": {}}}
    assert "f:input" not in owners(after)[("kubectl", "Apply")]["f:spec"]  # ownership moved


def test_diff_server_side(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest())
    same = kubectl("diff", "--server-side", "-f", "-", *ns, input=manifest(), check=False)
    assert (same.returncode, same.stdout) == (0, "")
    changed = kubectl("diff", "--server-side", "-f", "-", *ns, input=manifest(timeout="9m"), check=False)
    assert changed.returncode == 1, changed.stderr
    assert "-  timeout: 5m" in changed.stdout and "+  timeout: 9m" in changed.stdout
    assert stored(kubectl, namespace)["spec"]["timeout"] == "5m"  # a diff changes nothing


def test_client_side_to_server_side_and_back(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("apply", "-f", "-", *ns, input=manifest(timeout="9m"))
    assert set(owners(stored(kubectl, namespace))) == {("kubectl-client-side-apply", "Update")}

    taken = kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest(timeout="9m"))
    assert taken.stdout.strip() == f"query.{GROUP}/ssa serverside-applied"
    migrated = owners(stored(kubectl, namespace))
    # kubectl moved the client-side fields to its server-side manager, and keeps the last-applied
    # annotation (which its manifest lacks) under kubectl-last-applied.
    assert set(migrated) == {("kubectl", "Apply"), ("kubectl-last-applied", "Apply")}
    assert migrated[("kubectl", "Apply")]["f:spec"]["f:timeout"] == {}
    assert migrated[("kubectl-last-applied", "Apply")] == {
        "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}}

    back = kubectl("apply", "-f", "-", *ns, input=manifest(timeout="3m"))
    assert back.stdout.strip() == f"query.{GROUP}/ssa configured"
    final = stored(kubectl, namespace)
    assert final["spec"]["timeout"] == "3m"
    assert owners(final)[("kubectl-client-side-apply", "Update")]["f:spec"] == {"f:timeout": {}}
    last = json.loads(final["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["timeout"] == "3m"


def test_managed_fields_are_shown_on_request_only(kubectl, namespace):
    ns = ("-n", namespace)
    kubectl("apply", "--server-side", "-f", "-", *ns, input=manifest())
    hidden = yaml.safe_load(kubectl("get", "query", "ssa", *ns, "-o", "yaml").stdout)
    assert "managedFields" not in hidden["metadata"]
    shown = yaml.safe_load(kubectl("get", "query", "ssa", *ns, "-o", "yaml", "--show-managed-fields").stdout)
    (entry,) = shown["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("kubectl", "Apply", "FieldsV1")
