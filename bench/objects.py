"""The objects the benchmark writes, in one place: every request body (the wrk scripts read
them from files written here) and the names of the namespaces each scenario uses.

Every object is a Query with one label, as kubectl would create it; the labels row makes a
create write to all the tables a real create writes to. Each Query asks the Agent ``weather``,
which every namespace written to holds (admission refuses a Query whose target is missing, and
looks the target up on every create, update and patch, as it would in production).
"""
from __future__ import annotations

import json
from pathlib import Path

GROUP_VERSION = "ark.mckinsey.com/v1alpha1"
KIND = "Query"
PLURAL = "queries"
LABELS = {"app": "bench"}
QUESTION = "what is the weather in Paris?"
SPEC = {"input": QUESTION, "target": {"type": "agent", "name": "weather"}}

# Namespaces, one per use, so that a list or a watch sees only its own objects.
TEMPLATE_NS = "bench-template"
CREATE_NS = "bench-create"  # creates (and the objects updates and patches then rewrite)
LIST_NS = "bench-list"  # seeded: gets, lists and pages
WATCH_NS = "bench-watch"
FANOUT_NS = "bench-fanout"
WRITTEN_NAMESPACES = (TEMPLATE_NS, CREATE_NS, LIST_NS, WATCH_NS, FANOUT_NS)

# Placeholders the wrk scripts substitute (plain text: no Lua pattern characters).
NAME, RV, SEQ = "__NAME__", "__RV__", "__SEQ__"

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "bench"


def collection(namespace: str) -> str:
    return f"/apis/{GROUP_VERSION}/namespaces/{namespace}/{PLURAL}"


def query(name: str, input_text: str = QUESTION) -> dict:
    """A Query as a client sends it to create (or replace) it."""
    return {"apiVersion": GROUP_VERSION, "kind": KIND, "metadata": {"name": name, "labels": dict(LABELS)},
            "spec": {**SPEC, "input": input_text}}


def agent() -> dict:
    """The Agent every Query asks."""
    return {"apiVersion": GROUP_VERSION, "kind": "Agent", "metadata": {"name": SPEC["target"]["name"]},
            "spec": {"prompt": "You report the weather.", "modelRef": {"name": "default"}}}


NAMESPACES_PATH = "/api/v1/namespaces"


def namespace(name: str) -> dict:
    """A Namespace to write into: objects go only into namespaces that exist."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def agents_path(namespace: str) -> str:
    return f"/apis/{GROUP_VERSION}/namespaces/{namespace}/agents"


def dumps(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


def create_body() -> str:
    return dumps(query(NAME))


def update_body() -> str:
    """PUT: the whole object with the resourceVersion read last (an optimistic-concurrency update)."""
    obj = query(NAME, f"update {SEQ}")
    obj["metadata"]["resourceVersion"] = RV
    return dumps(obj)


def merge_patch_body() -> str:
    return dumps({"spec": {"input": f"merge patch {SEQ}"}})


def apply_body() -> str:
    """Server-side apply sends YAML (``kubectl apply --server-side``): the object as the user wrote it."""
    return (f"apiVersion: {GROUP_VERSION}\nkind: {KIND}\nmetadata:\n  name: {NAME}\n  labels:\n    app: bench\n"
            f"spec:\n  input: apply {SEQ}\n  target:\n    type: agent\n    name: weather\n")


def write_bodies(directory: Path) -> dict[str, Path]:
    """Write every request body the wrk scripts send; returns {kind of request: file}."""
    bodies = {"create": create_body(), "update": update_body(), "merge": merge_patch_body(), "apply": apply_body()}
    paths = {}
    for kind, text in bodies.items():
        paths[kind] = directory / f"{kind}-body.txt"
        paths[kind].write_text(text)
    return paths


def lua_table(rows: list) -> str:
    """A Lua chunk returning ``rows`` (strings, or lists of strings and integers)."""
    def value(item) -> str:
        if isinstance(item, (list, tuple)):
            return "{" + ",".join(value(part) for part in item) + "}"
        if isinstance(item, int):
            return str(item)
        return json.dumps(str(item))  # a JSON string of ASCII is a valid Lua string literal

    return "return {\n" + ",\n".join(value(row) for row in rows) + "\n}\n"
