"""Load from wrk (Debian's package; C, epoll, LuaJIT), driven by the scripts in ``bench/lua``.

Each run is bounded in time (``-d``) and in count (a per-thread request limit in the Lua
scripts). The rate counts only responses with the expected status, over wrk's measured
duration; a run whose threads hit the count limit ended early, and says so. Besides wrk's
figures, each run records the CPU time wrk itself used (so a reader can see it was not the
bottleneck) and, when given the server's processes, the CPU time they used.
"""
from __future__ import annotations

import json
import resource
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import procfs

LUA = Path(__file__).resolve().parent / "lua"
MARKER = "BENCH-JSON "


class LoadError(Exception):
    """wrk is missing or failed."""


@dataclass
class Load:
    """What one wrk run measured."""

    ok: int  # responses with the expected status
    seconds: float
    statuses: dict[str, int]
    errors: dict[str, int]  # socket errors and timeouts, as wrk counts them (statuses are above)
    latency_ms: dict[str, float]  # percentile ("50", "99", ...) -> milliseconds, over all responses
    count_bound: bool  # some thread stopped at its request limit: the rate is not a sustained one
    client_cpu: float  # seconds of CPU wrk used
    server_cpu: float = 0.0  # seconds of CPU the server's processes used during the run

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(count for status, count in self.statuses.items() if not status.startswith("2")) + \
            sum(self.errors.values())

    def summary(self) -> dict:
        return {"rate": round(self.rate, 1), "ok": self.ok, "seconds": round(self.seconds, 3),
                "p50_ms": self.latency_ms.get("50"), "p99_ms": self.latency_ms.get("99"),
                "latency_ms": self.latency_ms, "statuses": self.statuses, "errors": self.errors,
                "count_bound": self.count_bound, "client_cpu_s": round(self.client_cpu, 3),
                "server_cpu_s": round(self.server_cpu, 3),
                "server_cpu_ms_per_ok": round(1000 * self.server_cpu / self.ok, 3) if self.ok else None}


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    return path


def wrk_version() -> str:
    result = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).splitlines()[0].strip()


@dataclass(frozen=True)
class Shape:
    """How hard to push: connections, wrk threads, seconds and the per-thread request bound."""

    connections: int
    threads: int
    seconds: int
    limit: int
    timeout_s: int = 10


def run(base_url: str, script: str, args: dict[str, str | Path], shape: Shape, expect: int,
        server_pids: Sequence[int] = ()) -> Load:
    """Run ``bench/lua/<script>.lua`` against ``base_url`` and parse its results."""
    argv = [wrk_binary(), "-t", str(shape.threads), "-c", str(shape.connections), "-d", f"{shape.seconds}s",
            "--timeout", f"{shape.timeout_s}s", "-s", str(LUA / f"{script}.lua"), base_url, "--",
            f"limit={shape.limit}", f"threads={shape.threads}", *(f"{key}={value}" for key, value in args.items())]
    before_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = procfs.cpu_seconds(list(server_pids))
    result = subprocess.run(argv, capture_output=True, text=True, timeout=shape.seconds + shape.timeout_s + 30,
                            check=False)
    server_cpu = procfs.cpu_seconds(list(server_pids)) - before_server
    after_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    if result.returncode != 0 or not lines:
        raise LoadError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    raw = json.loads(lines[-1][len(MARKER):])
    statuses = {str(status): count for status, count in raw["statuses"].items()}
    return Load(
        ok=statuses.get(str(expect), 0),
        seconds=raw["duration_us"] / 1e6,
        statuses=statuses,
        errors={kind: count for kind, count in raw["errors"].items() if count and kind != "status"},
        latency_ms={p: round(us / 1000, 3) for p, us in raw["latency_us"]["percentiles"].items()},
        count_bound=raw["threads_at_limit"] > 0,
        client_cpu=(after_client.ru_utime + after_client.ru_stime) - (before_client.ru_utime + before_client.ru_stime),
        server_cpu=server_cpu,
    )
