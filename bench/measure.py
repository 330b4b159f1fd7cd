"""Measurements made with the benchmark's own client: list walks, event latencies, and waits
for the server to let go of closed connections.

Timing covers only the request and the response's bytes; the client checks what it received
(item counts, event names) after the clock has stopped, so checking costs the server nothing.
"""
from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import procfs
from bench.https import Connection, Stream

CONTINUE = re.compile(rb'"continue":"([^"]*)"')
HEAD_BYTES = 4096  # list metadata (with the continue token) comes before the items
EVENT_TIMEOUT = 10.0
WALK_PAGE_LIMIT = 1000  # more pages than any walk of the benchmark needs: a server looping on tokens fails


class MeasureError(Exception):
    """The server answered something other than what the scenario needs."""


@dataclass
class Walk:
    """A list read page by page as kubectl and informers read it."""

    page_seconds: list[float]
    total_seconds: float
    items: int

    @property
    def median_page_ms(self) -> float:
        return statistics.median(self.page_seconds) * 1000


def items_in(body: bytes) -> int:
    parsed = json.loads(body)
    return len(parsed["rows"] if parsed.get("kind") == "Table" else parsed["items"])


def walk(connection: Connection, path: str, page_size: int | None, accept: str = "application/json",
         max_pages: int | None = None) -> Walk:
    """GET ``path`` with ``limit=page_size`` and follow its continue tokens (at most ``max_pages``
    pages); ``page_size`` None reads everything in one response."""
    bodies, times = [], []
    token = ""
    started = time.perf_counter()
    while True:
        query = [f"limit={page_size}"] if page_size else []
        if token:
            query.append(f"continue={token}")
        request_started = time.perf_counter()
        status, body = connection.request("GET", path + ("?" + "&".join(query) if query else ""),
                                          headers={"Accept": accept})
        times.append(time.perf_counter() - request_started)
        if status != 200:
            raise MeasureError(f"GET {path} answered {status}: {body[:300]!r}")
        bodies.append(body)
        found = CONTINUE.search(body[:HEAD_BYTES])
        token = found.group(1).decode() if found else ""
        if not token or (max_pages is not None and len(times) >= max_pages):
            break
        if len(times) >= WALK_PAGE_LIMIT:
            raise MeasureError(f"GET {path}: still a continue token after {WALK_PAGE_LIMIT} pages")
    total = time.perf_counter() - started
    return Walk(times, total, sum(items_in(body) for body in bodies))


def event_latencies(stream: Stream, write: Callable[[str], int], names: list[str], expect_status: int) -> list[float]:
    """For each name: ``write(name)`` (which returns once its response is in) then the time,
    in ms, until the stream's next line, which must be that name's ADDED event. An event that
    arrived before the write's response counts 0: the client already had it when the write
    was acknowledged."""
    latencies = []
    for name in names:
        status = write(name)
        acknowledged = time.perf_counter()
        if status != expect_status:
            raise MeasureError(f"the write of {name} answered {status}, not {expect_status}")
        arrived, line = stream.next_line(EVENT_TIMEOUT)
        if f'"name":"{name}"'.encode() not in line or not line.startswith(b'{"type":"ADDED"'):
            raise MeasureError(f"expected the ADDED event of {name}, got {line[:200]!r}")
        latencies.append(max(0.0, (arrived - acknowledged) * 1000))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def wait_for_connections_closed(port: int, at_most: int, timeout: float = 60.0) -> int:
    """Wait (bounded) until the server on ``port`` holds at most ``at_most`` client connections;
    returns how many it still holds."""
    deadline = time.monotonic() + timeout
    while True:
        held = procfs.open_connections(port)
        if held <= at_most or time.monotonic() >= deadline:
            return held
        time.sleep(0.2)
