"""Cost of field ownership per write: µs per apply and update on realistic objects.

    .venv/bin/python -m bench.bench_fieldsets [--iterations 2000]      (from the repository root)

For a Query and an Agent that carry a typical set of managedFields (an applier, a controller's
status writes, an editor), measures the pure-Python work the write path adds per request —
create, update, status update, an apply that changes nothing and an apply that changes one
field — next to ``copy.deepcopy`` of the same stored object as the baseline, so the ratio
survives a noisy machine. Each figure is the best of 3 rounds; every loop is bounded in count
and in time.
"""
from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from typing import Any

from ark.kinds import REGISTRY, Kind
from ark.machinery.managedfields import apply, update

TIME_LIMIT = 10.0  # seconds per round, whatever the iteration count
NOW = "2026-03-01T12:00:00Z"
V1 = "ark.mckinsey.com/v1alpha1"


def query_config() -> dict[str, Any]:
    return {
        "apiVersion": V1, "kind": "Query",
        "metadata": {"name": "weather-lisbon", "namespace": "team-a",
                     "labels": {"app.kubernetes.io/part-of": "ark", "app.kubernetes.io/instance": "weather",
                                "team": "a"},
                     "annotations": {"argocd.argoproj.io/tracking-id": "weather:ark.mckinsey.com/Query:team-a/q"}},
        "spec": {
            "type": "messages",
            "input": [{"role": "system", "content": "Answer briefly."},
                      {"role": "user", "content": "What will the weather be like in Lisbon tomorrow?"}],
            "target": {"type": "agent", "name": "weather-agent"},
            "parameters": [{"name": "city", "value": "Lisbon"},
                           {"name": "token", "valueFrom": {"secretKeyRef": {"name": "weather", "key": "token"}}}],
            "memory": {"name": "default"},
            "sessionId": "s-42", "timeout": "2m", "ttl": "24h",
        },
    }


def agent_config() -> dict[str, Any]:
    return {
        "apiVersion": V1, "kind": "Agent",
        "metadata": {"name": "weather-agent", "namespace": "team-a",
                     "labels": {"app.kubernetes.io/part-of": "ark", "team": "a"},
                     "finalizers": ["ark.mckinsey.com/cleanup"]},
        "spec": {
            "description": "Answers questions about the weather.",
            "prompt": "You are a concise weather assistant. Call the get-forecast tool for the place the user "
                      "names and summarise the result in two sentences.",
            "modelRef": {"name": "default"},
            "tools": [{"type": "http", "name": "get-forecast"},
                      {"type": "mcp", "name": "maps", "functions": [{"name": "geocode"}, {"name": "route"}]}],
            "parameters": [{"name": "units", "value": "metric"}],
            "overrides": [{"resourceType": "model",
                           "headers": [{"name": "X-Team", "value": {"value": "a"}},
                                       {"name": "Authorization",
                                        "value": {"valueFrom": {"secretKeyRef": {"name": "llm", "key": "auth"}}}}],
                           "labelSelector": {"matchLabels": {"tier": "premium"}}}],
        },
    }


STATUS = {
    "Query": {"phase": "done", "duration": "3.2s", "tokenUsage": {"promptTokens": 120, "completionTokens": 48,
                                                                  "totalTokens": 168},
              "response": {"content": "Sunny, 24°C.", "target": {"type": "agent", "name": "weather-agent"}},
              "conditions": [{"type": "Completed", "status": "True", "reason": "Done", "message": "ok",
                              "lastTransitionTime": NOW}]},
    "Agent": {"conditions": [{"type": "Available", "status": "True", "reason": "Ready", "message": "ok",
                              "lastTransitionTime": NOW}]},
}


def stored_state(kind: Kind, config: dict[str, Any]) -> dict[str, Any]:
    """The object as stored after an apply, a controller's status writes and an edit."""
    live = apply(kind, None, config, "argocd-controller", "2026-03-01T10:00:00Z").object
    live["metadata"].update(uid="3f1c", resourceVersion="7", creationTimestamp="2026-03-01T10:00:00Z", generation=1)
    new = copy.deepcopy(live)
    new["status"] = STATUS[kind.kind]
    new["metadata"]["managedFields"] = update(kind, live, new, "ark-controller", "2026-03-01T10:00:05Z", "status")
    live = new
    new = copy.deepcopy(live)
    new["metadata"]["labels"]["owner"] = "sre"
    new["metadata"]["managedFields"] = update(kind, live, new, "kubectl-edit", "2026-03-01T11:00:00Z")
    return new


def best_of_three(operation: Callable[[], object], iterations: int) -> float:
    """µs per call: the fastest of three bounded rounds."""
    rounds = []
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while done < iterations and time.perf_counter() - start < TIME_LIMIT:
            operation()
            done += 1
        rounds.append((time.perf_counter() - start) / done * 1e6)
    return min(rounds)


def scenarios(kind: Kind, config: dict[str, Any]) -> dict[str, Callable[[], object]]:
    live = stored_state(kind, config)
    fresh = copy.deepcopy(config)
    fresh["metadata"].update(uid="9a9a", resourceVersion="1", creationTimestamp=NOW, generation=1)
    edited = copy.deepcopy(live)
    edited["metadata"]["labels"]["team"] = "b"
    status = copy.deepcopy(live)
    status["status"] = {**STATUS[kind.kind], "conditions": []}
    changed = copy.deepcopy(config)
    changed["metadata"]["labels"]["team"] = "c"
    return {
        "deepcopy (baseline)": lambda: copy.deepcopy(live),
        "create": lambda: update(kind, None, fresh, "kubectl-create", NOW),
        "update": lambda: update(kind, live, edited, "kubectl-edit", NOW),
        "status update": lambda: update(kind, live, status, "ark-controller", NOW, "status"),
        "apply, unchanged": lambda: apply(kind, live, config, "argocd-controller", NOW),
        "apply, one change": lambda: apply(kind, live, changed, "argocd-controller", NOW),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="calls per round (default 2000)")
    args = parser.parse_args()
    for kind, config in ((REGISTRY.lookup("v1alpha1", "queries"), query_config()),
                         (REGISTRY.lookup("v1alpha1", "agents"), agent_config())):
        assert kind is not None
        figures = {name: best_of_three(op, args.iterations) for name, op in scenarios(kind, config).items()}
        baseline = figures["deepcopy (baseline)"]
        print(f"{kind.kind}:")
        for name, micros in figures.items():
            print(f"  {name:<22} {micros:8.1f} µs  {micros / baseline:5.2f}x deepcopy")


if __name__ == "__main__":
    main()
