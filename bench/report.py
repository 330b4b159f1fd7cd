"""The targets of issue 12, and the results as ``latest.json`` and ``latest.md``.

Each row of the table is one figure of the server beside its baseline (the ratio is the
median of the rounds' ratios) and the targets it must meet. Thresholds are the issue's;
"flat" is read as "within a factor 1.25" (page cost at the large store at most 1.25 x the
small store's; rates at the large store at least 0.8 x the small store's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench.profiles import Profile
from bench.results import DriverResults, Figure
from bench.scenarios import SCENARIOS

DRIVERS = ("sqlite", "postgresql")
DRIVER_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
FLAT = 1.25
BASELINES = ("Baselines: minimal create = parse, one INSERT, dump, on the same stack; raw commit loop = in-process "
             "commits, no HTTP; trivial endpoint = a constant Query body; raw list = one SELECT of the bodies by "
             "key range; minimal stream = a gevent queue per chunked response; raw NOTIFY→LISTEN = psycopg2, no "
             "HTTP. See `bench/README.md`.")

Key = tuple[str, str]  # (scenario, figure key)


@dataclass(frozen=True)
class Target:
    text: str
    op: str  # "<=" or ">="
    threshold: float
    ratio: bool = False  # on the row's ratio to its baseline, not on the figure itself
    drivers: tuple[str, ...] = DRIVERS

    def met(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value):
            return None
        return value <= self.threshold if self.op == "<=" else value >= self.threshold


@dataclass(frozen=True)
class Row:
    label: str
    figure: Key
    baseline: dict[str, Key] = field(default_factory=dict)  # per driver
    targets: tuple[Target, ...] = ()

    @property
    def scenario(self) -> str:
        return self.figure[0]

    def value(self, results: DriverResults) -> Figure | None:
        return results.get(*self.figure)

    def base(self, results: DriverResults) -> Figure | None:
        key = self.baseline.get(results.driver)
        return results.get(*key) if key else None

    def ratio(self, results: DriverResults) -> float | None:
        key = self.baseline.get(results.driver)
        return results.ratio(*self.figure, *key) if key else None


def both(key: Key) -> dict[str, Key]:
    return dict.fromkeys(DRIVERS, key)


def rows(profile: Profile) -> list[Row]:
    small, listed, memory, large = profile.sizes
    fan_small, fan_large = profile.fanout
    sqlite, postgres = ("sqlite",), ("postgresql",)
    creates = both(("create", "rate"))
    return [
        Row("creates/s (16 clients)", ("create", "rate"),
            {"sqlite": ("create", "minimal_full"), "postgresql": ("create", "minimal_postgresql")},
            (Target("SQLite ≥ 0.6x minimal create (synchronous=FULL)", ">=", 0.6, ratio=True, drivers=sqlite),
             Target("SQLite ≥ 800/s", ">=", 800, drivers=sqlite),
             Target("PostgreSQL ≥ 700/s (≥ 4x kine's 165/s)", ">=", 700, drivers=postgres))),
        Row("creates/s vs minimal create, synchronous=NORMAL", ("create", "rate"),
            {"sqlite": ("create", "minimal_normal")}),
        Row("creates/s vs raw commit loop", ("create", "rate"),
            {"sqlite": ("create", "raw_commits_full"), "postgresql": ("create", "raw_commits_postgresql")}),
        Row("create latency p99 (ms)", ("create", "p99_ms"), targets=(Target("p99 ≤ 50 ms", "<=", 50),)),
        Row("server CPU per create (ms; not PostgreSQL's)", ("create", "server_cpu_ms"),
            {"sqlite": ("create", "minimal_full_cpu_ms"), "postgresql": ("create", "minimal_postgresql_cpu_ms")}),
        Row("gets/s", ("get", "rate"), both(("get", "trivial")),
            (Target("≥ 0.6x trivial endpoint", ">=", 0.6, ratio=True),)),
        Row("get latency p99 (ms)", ("get", "p99_ms"), targets=(Target("p99 ≤ 20 ms", "<=", 20),)),
        Row("server CPU per get (ms; not PostgreSQL's)", ("get", "server_cpu_ms"), both(("get", "trivial_cpu_ms"))),
        Row("updates/s (PUT with resourceVersion)", ("update", "rate"), creates,
            (Target("≥ 0.8x create rate", ">=", 0.8, ratio=True),)),
        Row("merge patches/s", ("merge", "rate"), creates, (Target("≥ 0.8x create rate", ">=", 0.8, ratio=True),)),
        Row("server-side applies/s", ("apply", "rate"), creates,
            (Target("≥ 0.8x create rate", ">=", 0.8, ratio=True),)),
        Row(f"list {listed:,}, JSON, one page (s)", ("list", "json_one_page_s"), both(("list", "raw_one_page_s")),
            (Target("≤ 0.15 s", "<=", 0.15),)),
        Row(f"list {listed:,}, JSON, pages of {profile.page_size} (s)", ("list", "json_pages_s"),
            both(("list", "raw_pages_s")), (Target("≤ 0.2 s", "<=", 0.2),)),
        Row(f"list {listed:,}, Table, pages of {profile.page_size} (s)", ("list", "table_pages_s"),
            both(("list", "raw_pages_s")), (Target("≤ 0.3 s", "<=", 0.3),)),
        *(Row(f"cost of a page of {profile.page_size} at {size:,} objects (ms)", ("pages", f"page_ms@{size}"),
              both(("pages", f"raw_page_ms@{size}"))) for size in (small, listed, large)),
        Row(f"page cost at {large:,} / at {small:,}", ("pages", f"page_ms@{large}"),
            both(("pages", f"page_ms@{small}")), (Target(f"flat (≤ {FLAT}x)", "<=", FLAT, ratio=True),)),
        Row("watch latency, same worker, p50 (ms)", ("watch", "same_worker_p50_ms"),
            both(("watch", "minimal_stream_p50_ms")), (Target("p50 ≤ 2 ms", "<=", 2),)),
        Row("watch latency, same worker, p99 (ms)", ("watch", "same_worker_p99_ms"),
            both(("watch", "minimal_stream_p99_ms")), (Target("p99 ≤ 10 ms", "<=", 10),)),
        Row("watch latency, other worker, p50 (ms)", ("watch", "other_worker_p50_ms"),
            {"postgresql": ("watch", "notify_listen_p50_ms")}, (Target("p50 ≤ 5 ms", "<=", 5),)),
        Row("watch latency, other worker, p99 (ms)", ("watch", "other_worker_p99_ms"),
            {"postgresql": ("watch", "notify_listen_p99_ms")}),
        Row("watch latency, other replica, p50 (ms)", ("watch", "other_replica_p50_ms"),
            {"postgresql": ("watch", "notify_listen_p50_ms")}, (Target("p50 ≤ 5 ms", "<=", 5, drivers=postgres),)),
        Row("watch latency, other replica, p99 (ms)", ("watch", "other_replica_p99_ms"),
            {"postgresql": ("watch", "notify_listen_p99_ms")}, (Target("p99 ≤ 20 ms", "<=", 20, drivers=postgres),)),
        Row(f"{fan_small:,} watchers of one event, last delivered (ms)", ("fanout", "small_last_ms"),
            both(("fanout", "small_minimal_last_ms"))),
        Row(f"{fan_large:,} watchers of one event, last delivered (ms)", ("fanout", "large_last_ms"),
            both(("fanout", "large_minimal_last_ms")), (Target("≤ 500 ms", "<=", 500),)),
        Row("idle watch memory (KiB each)", ("idle", "per_watch_kib"), both(("idle", "per_stream_kib")),
            (Target("≤ 1.1x minimal stream", "<=", 1.1, ratio=True),)),
        Row(f"worker RSS after a Table of {memory:,} (MiB)", ("memory", "table_rss_mib"),
            targets=(Target("≤ 150 MiB", "<=", 150),)),
        Row(f"workers' RSS after {fan_large:,} watches close, x boot", ("idle", "rss_after_close_ratio"),
            targets=(Target("≤ 1.2x boot", "<=", 1.2),)),
        Row("creates/s, 2 workers vs 1", ("scaling", "create_2w"), both(("scaling", "create_1w")),
            (Target("≥ 1.6x", ">=", 1.6, ratio=True),)),
        Row("gets/s, 2 workers vs 1", ("scaling", "get_2w"), both(("scaling", "get_1w")),
            (Target("≥ 1.6x", ">=", 1.6, ratio=True),)),
        Row(f"creates/s, {large:,} objects vs {small:,}", ("scaling", "create_large"),
            both(("scaling", "create_small")), (Target(f"flat (≥ {1 / FLAT:.1f}x)", ">=", 1 / FLAT, ratio=True),)),
        Row(f"gets/s, {large:,} objects vs {small:,}", ("scaling", "get_large"), both(("scaling", "get_small")),
            (Target(f"flat (≥ {1 / FLAT:.1f}x)", ">=", 1 / FLAT, ratio=True),)),
    ]


def checks(row: Row, results: DriverResults) -> list[dict[str, Any]]:
    figure = row.value(results)
    out = []
    for target in row.targets:
        if results.driver not in target.drivers:
            continue
        value = row.ratio(results) if target.ratio else (figure.median if figure else None)
        out.append({"target": target.text, "value": value, "op": target.op, "threshold": target.threshold,
                    "on": "ratio" if target.ratio else "figure", "met": target.met(value)})
    return out


def to_json(all_results: dict[str, DriverResults], profile: Profile, header: dict[str, Any]) -> dict[str, Any]:
    table = rows(profile)
    drivers = {}
    for driver, results in all_results.items():
        scenarios: dict[str, Any] = {}
        for scenario, title in SCENARIOS.items():
            figures = results.scenarios.get(scenario, {})
            if not figures:
                continue
            entry: dict[str, Any] = {"title": title, "figures": {k: f.to_json() for k, f in figures.items()},
                                     "ratios": [], "targets": []}
            for row in table:
                if row.scenario != scenario or row.value(results) is None:
                    continue
                if row.base(results) is not None:
                    entry["ratios"].append({"row": row.label, "figure": "/".join(row.figure),
                                            "baseline": "/".join(row.baseline[driver]), "ratio": row.ratio(results)})
                entry["targets"].extend({"row": row.label, **check} for check in checks(row, results))
            scenarios[scenario] = entry
        drivers[driver] = {"scenarios": scenarios, "notes": results.notes}
    return {**header, "drivers": drivers}


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.2f}x"


def _spread(figure: Figure | None) -> str:
    if figure is None or figure.median is None:
        return "—"
    values = figure.values()
    text = _number(figure.median)
    return text if len(values) < 2 else f"{text} ({_number(min(values))}-{_number(max(values))})"


def _mark(met: bool | None) -> str:
    return {True: "✅", False: "❌", None: "—"}[met]


def to_markdown(all_results: dict[str, DriverResults], profile: Profile, header: dict[str, Any],
                plots: list[str]) -> str:
    drivers = [d for d in DRIVERS if d in all_results]
    names = " / ".join(DRIVER_NAMES[d] for d in drivers)
    machine = header["machine"]
    summary = (f"Commit `{header['commit']}`{' (with local changes in ark/)' if header['dirty'] else ''}, "
               f"profile **{profile.name}**, started {header['started']}, took {header['duration_seconds']:.0f} s. "
               f"{machine['cpus']} x {machine['cpu']}, {machine['memory_gib']} GiB, {machine['kernel']}; "
               f"load average at the start {machine['load_at_start']}, at the end {header['load_at_end']}.")
    method = (f"Load: {header['settings']['load']}. Each figure is the median of {profile.rounds} rounds "
              "(min-max in brackets), each round interleaved with its baselines; a ratio is the median of the "
              "rounds' ratios. Every round's values and load average are in `latest.json`.")
    columns = (f"| figure | {' | '.join(DRIVER_NAMES[d] for d in drivers)} | baseline ({names}) | "
               f"ratio ({names}) | target | met? ({names}) |")
    lines = ["# Benchmark results", "", summary, method, "", columns, "|---" * (len(drivers) + 5) + "|"]
    for row in rows(profile):
        if all(row.value(all_results[d]) is None for d in drivers):
            continue
        values = [_spread(row.value(all_results[d])) for d in drivers]
        bases = [_spread(row.base(all_results[d])) for d in drivers]
        ratios = [_ratio(row.ratio(all_results[d])) for d in drivers]
        targets = "; ".join(t.text for t in row.targets) or "—"
        marks = []
        for driver in drivers:
            found = checks(row, all_results[driver])
            marks.append(" ".join(_mark(c["met"]) for c in found) if found else "—")
        lines.append(f"| {row.label} | {' | '.join(values)} | {' / '.join(bases)} | {' / '.join(ratios)} "
                     f"| {targets} | {' / '.join(marks)} |")
    lines += ["", BASELINES, ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    for driver in drivers:
        results = all_results[driver]
        lines += [f"## Every figure, {DRIVER_NAMES[driver]}", "",
                  "| scenario | figure | median | min | max | rounds | load (1 min) per round |",
                  "|---|---|---|---|---|---|---|"]
        for scenario, figures in results.scenarios.items():
            for figure in figures.values():
                measured = figure.values()
                lines.append(f"| {scenario} | {figure.label}{' (baseline)' if figure.baseline else ''} "
                             f"({figure.unit}) | {_number(figure.median)} | {_number(min(measured))} | "
                             f"{_number(max(measured))} | {', '.join(_number(v) for v in measured)} | "
                             f"{', '.join(str(e['load'][0]) for e in figure.rounds)} |")
        if results.notes:
            lines += ["", "Notes:", ""] + [f"- {note}" for note in results.notes]
        lines.append("")
    return "\n".join(lines)
