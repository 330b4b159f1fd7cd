"""The export and import commands as a user meets them: formats, selections, stdin, a running
server as the source, and what a bad document or a bad flag does (says where and why, writes nothing)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.adoption.conftest import Target, run_process, write_yaml
from tests.conftest import Server

AGENT = {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Agent",
         "metadata": {"name": "helper", "labels": {"tier": "gold"}}, "spec": {"prompt": "Help."}}


def agent(name: str, namespace: str = "default", tier: str = "gold") -> dict:
    return {**AGENT, "metadata": {"name": name, "namespace": namespace, "labels": {"tier": tier}}}


def test_a_bad_document_imports_nothing(target: Target, tmp_path: Path) -> None:
    good = write_yaml(tmp_path / "good.yaml", [agent("one"), agent("two")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("---\n" + yaml.safe_dump(agent("three")) + "---\nkind: [unclosed\n---\n"
                   + yaml.safe_dump({**agent("four"), "apiVersion": "ark.mckinsey.com/v9"})
                   + "---\n" + yaml.safe_dump({**agent("x"), "metadata": {"name": "Not_A_Name"}}))
    ran = target.ark("import", good, str(bad))
    assert ran.code == 1
    errors = [line for line in ran.err.splitlines() if line.startswith("error:")]
    assert errors[0].startswith(f"error: {bad}: document 1: error decoding YAML document")
    assert errors[1].startswith(f"error: {bad}: document 2: no kind Agent in ark.mckinsey.com/v9")
    assert errors[2].startswith(f'error: {bad}: document 3: Agent "Not_A_Name": metadata.name: Invalid value')
    assert errors[3] == "error: 3 bad document(s): nothing was imported"
    assert target.export() == [] and target.revision() == 0


def test_the_same_object_twice_is_a_bad_document(target: Target, tmp_path: Path) -> None:
    first = write_yaml(tmp_path / "a.yaml", [agent("one")])
    second = write_yaml(tmp_path / "b.yaml", [agent("one")])
    ran = target.ark("import", first, second)
    assert ran.code == 1
    assert f"error: {second}: document 0: agents default/one is also in {first} document 0" in ran.err


def test_process_exit_codes_and_stdin(target: Target, tmp_path: Path) -> None:
    """As a shell sees it: stdin with -, a List, JSON; exit 1 for bad input, 2 for a bad flag."""
    listed = {"apiVersion": "v1", "kind": "List", "items": [agent("from-list")]}
    ok = run_process("import", *target.flags, "-", stdin=json.dumps(listed))
    assert ok.returncode == 0, ok.stderr
    assert [o["metadata"]["name"] for o in target.export()] == ["from-list"]
    bad = run_process("import", *target.flags, "-", stdin='{"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": 3}')
    assert bad.returncode == 1
    assert "error: <stdin>: document 0: apiVersion and kind must be given as strings" in bad.stderr
    flag = run_process("import", *target.flags, "--kind", "pods", "-")
    assert flag.returncode == 2
    assert flag.stderr.startswith("ark-apiserver: error: --kind pods: no such Ark kind")
    neither = run_process("import", *target.flags)
    assert neither.returncode == 2 and "give manifest files (or -) or --from-cluster" in neither.stderr


def test_other_groups_are_skipped_with_a_note(target: Target, tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    ran = target.ark("import", write_yaml(tmp_path / "mixed.yaml", [secret, agent("one")]))
    assert ran.code == 0, ran.err
    assert "note: " in ran.err and "document 0: skipped: Secret of v1 is not an Ark kind" in ran.err
    assert [o["metadata"]["name"] for o in target.export()] == ["one"]


def test_export_selects_and_formats(target: Target, tmp_path: Path) -> None:
    objects = [agent("a", "n1"), agent("b", "n1", "silver"), agent("c", "n2")]
    assert target.ark("import", write_yaml(tmp_path / "in.yaml", objects)).code == 0
    assert [o["metadata"]["name"] for o in target.export("-n", "n1")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in target.export("-l", "tier=gold")] == ["a", "c"]
    assert target.export("--kind", "queries") == []
    as_yaml = target.ark("export", "--kind", "agent")
    documents = [d for d in yaml.safe_load_all(as_yaml.out) if d]
    assert [d["metadata"]["name"] for d in documents] == ["a", "b", "c"]
    out = tmp_path / "out.json"
    ran = target.ark("export", "-o", "json", "--output", str(out))
    assert ran.code == 0 and ran.out == "" and "exported 3 objects, 3 agents" in ran.err
    assert [json.loads(line)["metadata"]["name"] for line in out.read_text().splitlines()] == ["a", "b", "c"]
    # A JSON stream imports as well as YAML does, and into the same objects: nothing changes.
    again = target.ark("import", str(out))
    assert again.code == 0 and again.out.splitlines()[-1].split() == ["total", "0", "0", "3", "0", "0"]
    bad = target.ark("export", "-l", "tier in (gold")
    assert bad.code == 2 and "--selector" in bad.err


def test_export_from_a_running_server(server: Server, api, namespace: str, tmp_path: Path) -> None:
    url = f"{server.url}/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/agents"
    for name in ("x", "y", "z"):
        assert api.post(url, json=agent(name, namespace), timeout=30).status_code == 201
    ran = run_process("export", "--kubeconfig", str(server.kubeconfig), "-n", namespace, "-o", "json")
    assert ran.returncode == 0, ran.stderr
    exported = [json.loads(line) for line in ran.stdout.splitlines()]
    listed = api.get(url, timeout=30).json()["items"]
    assert exported == [{"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Agent", **o} for o in listed]


def test_server_needs_a_kubeconfig(target: Target) -> None:
    ran = target.ark("export", "--server", "https://127.0.0.1:1")
    assert ran.code == 2 and "--server needs --kubeconfig" in ran.err


def test_an_object_larger_than_the_store_takes_is_a_bad_document(target: Target, tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("ARK_MAX_OBJECT_BYTES", "2000")
    big = {**agent("big"), "spec": {"prompt": "x" * 3000}}
    path = write_yaml(tmp_path / "big.yaml", [agent("small"), big])
    ran = target.ark("import", path)
    assert ran.code == 1
    assert f'error: {path}: document 1: Agent "big" takes ' in ran.err and "(--max-object-bytes)" in ran.err
    assert target.revision() == 0


def test_an_import_beside_a_running_server_reaches_its_watchers(server: Server, api, namespace: str,
                                                                 tmp_path: Path) -> None:
    """docs/moving-in.md imports into a SQLite pod's database while the server runs: its watches see it."""
    url = f"{server.url}/apis/ark.mckinsey.com/v1alpha1/namespaces/{namespace}/agents"
    before = api.get(url, timeout=30).json()["metadata"]["resourceVersion"]
    path = write_yaml(tmp_path / "in.yaml", [agent("p", namespace), agent("q", namespace)])
    assert run_process("import", *server.database.flags, path).returncode == 0
    with api.get(url, params={"watch": "1", "resourceVersion": before}, stream=True, timeout=30) as watch:
        lines = watch.iter_lines()
        events = [json.loads(next(lines)) for _ in range(2)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "p"), ("ADDED", "q")]


def test_prune_keeps_to_the_namespaces_and_labels_imported(target: Target, tmp_path: Path) -> None:
    everything = [agent("a", "n1"), agent("b", "n1", "silver"), agent("c", "n1"), agent("d", "n2")]
    assert target.ark("import", write_yaml(tmp_path / "all.yaml", everything)).code == 0
    gold_n1 = write_yaml(tmp_path / "gold.yaml", [agent("a", "n1")])
    ran = target.ark("import", "--prune", "-l", "tier=gold", gold_n1)
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[-1].split() == ["total", "0", "0", "1", "1", "0"]
    # c (gold, n1) is pruned; b (silver) is outside the selector, d outside the namespaces of the file.
    assert sorted(o["metadata"]["name"] for o in target.export()) == ["a", "b", "d"]
