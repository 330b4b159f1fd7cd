"""The scenarios of the benchmark, by the names ``--scenarios`` takes and the results use."""
from __future__ import annotations

SCENARIOS = {
    "create": "Create (16 clients, unique names)",
    "update": "Update (PUT with resourceVersion)",
    "merge": "Merge patch",
    "apply": "Server-side apply",
    "get": "Get (names that exist)",
    "list": "List of the list-size namespace (JSON one page, JSON and Table pages)",
    "pages": "Cost per page and list time as the store grows",
    "watch": "Watch latency (same worker, other worker, other replica)",
    "fanout": "Fan-out of one event to many watchers",
    "idle": "Idle watch memory, and worker memory after the watches close",
    "memory": "Worker memory after listing the memory-size namespace as a Table",
    "scaling": "Scaling: 1 → 2 workers, small → large store",
}
