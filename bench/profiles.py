"""How much each kind of run does: the full benchmark, a quick rerun, and the smoke test's.

Only the full profile's figures are the benchmark's; ``quick`` keeps every scenario but with
shorter loads, fewer samples and smaller stores (its sizes are in the results), and
``smoke`` only proves that every scenario still runs and reports numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.loadgen import Shape


@dataclass(frozen=True)
class Profile:
    name: str
    rounds: int
    load: Shape  # every wrk run
    raw_commit_seconds: float
    raw_commit_limit: int
    watch_samples: int  # per kind of watch latency and round
    fanout: tuple[int, int]  # watchers of one event: the small and the large figure
    sizes: tuple[int, int, int, int]  # objects in the listed namespace: small, list, memory, large
    page_size: int
    pages_sampled: int  # pages timed per walk of the large store (the first ones)
    write_pool: int  # objects that updates and patches rewrite

    @property
    def small(self) -> int:
        return self.sizes[0]

    @property
    def list_size(self) -> int:
        return self.sizes[1]

    @property
    def memory_size(self) -> int:
        return self.sizes[2]

    @property
    def large(self) -> int:
        return self.sizes[3]


CONNECTIONS, WRK_THREADS = 16, 2

PROFILES = {
    "full": Profile("full", rounds=3, load=Shape(CONNECTIONS, WRK_THREADS, seconds=3, limit=200_000),
                    raw_commit_seconds=2.0, raw_commit_limit=100_000, watch_samples=100, fanout=(1000, 10000),
                    sizes=(1000, 10_000, 50_000, 100_000), page_size=500, pages_sampled=21, write_pool=2000),
    "quick": Profile("quick", rounds=3, load=Shape(CONNECTIONS, WRK_THREADS, seconds=1, limit=100_000),
                     raw_commit_seconds=0.5, raw_commit_limit=50_000, watch_samples=30, fanout=(200, 1000),
                     sizes=(1000, 10_000, 20_000, 30_000), page_size=500, pages_sampled=11, write_pool=1000),
    "smoke": Profile("smoke", rounds=1, load=Shape(4, 1, seconds=1, limit=200),
                     raw_commit_seconds=0.2, raw_commit_limit=200, watch_samples=3, fanout=(5, 10),
                     sizes=(30, 60, 90, 120), page_size=20, pages_sampled=3, write_pool=20),
}
