"""PNG plots of the results (matplotlib, no display): latency distributions, rate against
workers and store size, list time against size. Each returns its file name, or None when
the run measured nothing it could draw."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, before pyplot is imported
import matplotlib.pyplot as plt

from bench.report import DRIVER_NAMES
from bench.results import DriverResults, Figure

REQUEST_CURVES = (("create", "rate", "create"), ("update", "rate", "update"), ("merge", "rate", "merge patch"),
                  ("apply", "rate", "apply"), ("get", "rate", "get"), ("get", "trivial", "trivial endpoint"),
                  ("create", "minimal_full", "minimal create FULL"),
                  ("create", "minimal_normal", "minimal create NORMAL"),
                  ("create", "minimal_postgresql", "minimal create"))
WATCH_CURVES = (("same_worker", "same worker"), ("other_worker", "other worker"), ("other_replica", "other replica"),
                ("minimal_stream", "minimal stream"), ("notify_listen", "raw NOTIFY→LISTEN"))


def _median_round(figure: Figure) -> dict:
    ordered = sorted(figure.rounds, key=lambda entry: entry["value"])
    return ordered[(len(ordered) - 1) // 2]


def _save(fig, directory: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(directory / name, dpi=100)
    plt.close(fig)
    return name


def request_latency(results: dict[str, DriverResults], directory: Path) -> str | None:
    drivers = [d for d in results if any(results[d].get(s, k) for s, k, _ in REQUEST_CURVES)]
    if not drivers:
        return None
    fig, axes = plt.subplots(1, len(drivers), figsize=(6 * len(drivers), 4.5), squeeze=False)
    for axis, driver in zip(axes[0], drivers, strict=True):
        for scenario, key, label in REQUEST_CURVES:
            figure = results[driver].get(scenario, key)
            if figure is None or not figure.rounds:
                continue
            latency = _median_round(figure)["latency_ms"]
            points = sorted((float(p), ms) for p, ms in latency.items())
            axis.plot([p for p, _ in points], [ms for _, ms in points], marker="o", ms=3,
                      linestyle="--" if figure.baseline else "-", label=label)
        axis.set(title=f"{DRIVER_NAMES[driver]}: request latency (wrk, median round)", xlabel="percentile",
                 ylabel="ms", yscale="log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    return _save(fig, directory, "latency-requests.png")


def watch_latency(results: dict[str, DriverResults], directory: Path) -> str | None:
    drivers = [d for d in results if results[d].get("watch", "same_worker_p50_ms")]
    if not drivers:
        return None
    fig, axes = plt.subplots(1, len(drivers), figsize=(6 * len(drivers), 4.5), squeeze=False)
    for axis, driver in zip(axes[0], drivers, strict=True):
        for key, label in WATCH_CURVES:
            figure = results[driver].get("watch", f"{key}_p50_ms")
            if figure is None:
                continue
            samples = sorted(s for entry in figure.rounds for s in entry["samples_ms"])
            axis.plot(samples, [(i + 1) / len(samples) for i in range(len(samples))],
                      linestyle="--" if figure.baseline else "-", label=label)
        axis.set(title=f"{DRIVER_NAMES[driver]}: write acknowledged → event (all rounds)", xlabel="ms",
                 ylabel="fraction of events", xscale="symlog")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    return _save(fig, directory, "latency-watch.png")


def rates(results: dict[str, DriverResults], directory: Path) -> str | None:
    groups = (("1 worker", "create_1w", "get_1w"), ("2 workers", "create_2w", "get_2w"),
              ("small store", "create_small", "get_small"), ("large store", "create_large", "get_large"))
    drivers = [d for d in results if results[d].scenarios.get("scaling")]
    if not drivers:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for axis, operation, index in ((axes[0], "creates/s", 1), (axes[1], "gets/s", 2)):
        width = 0.8 / len(drivers)
        for offset, driver in enumerate(drivers):
            names, medians, low, high = [], [], [], []
            for group in groups:
                figure = results[driver].get("scaling", group[index])
                if figure is None or figure.median is None:
                    continue
                names.append(group[0])
                medians.append(figure.median)
                low.append(figure.median - min(figure.values()))
                high.append(max(figure.values()) - figure.median)
            positions = [i + offset * width for i in range(len(names))]
            axis.bar(positions, medians, width, yerr=[low, high], capsize=3, label=DRIVER_NAMES[driver])
            axis.set_xticks([i + width * (len(drivers) - 1) / 2 for i in range(len(names))], names)
        axis.set(title=f"{operation}: workers and store size (median, min-max)", ylabel=operation)
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize=8)
    return _save(fig, directory, "rates-workers-store.png")


def list_sizes(results: dict[str, DriverResults], directory: Path) -> str | None:
    drivers = [d for d in results if results[d].scenarios.get("pages")]
    if not drivers:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for driver in drivers:
        figures = results[driver].scenarios["pages"]
        for axis, prefix, label in ((axes[0], "one_page_s@", "JSON, one page"),
                                    (axes[0], "raw_one_page_s@", "raw list, one page"),
                                    (axes[1], "page_ms@", "JSON page"), (axes[1], "raw_page_ms@", "raw page")):
            points = sorted((int(key.split("@")[1]), figure.median) for key, figure in figures.items()
                            if key.startswith(prefix) and figure.median is not None)
            if points:
                axis.plot([n for n, _ in points], [v for _, v in points], marker="o",
                          linestyle="--" if prefix.startswith("raw") else "-",
                          label=f"{DRIVER_NAMES[driver]}: {label}")
    axes[0].set(title="whole list in one response", xlabel="objects in the namespace", ylabel="s",
                xscale="log", yscale="log")
    axes[1].set(title="one page (first pages of the large store)", xlabel="objects in the namespace",
                ylabel="ms per page", xscale="log")
    for axis in axes:
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    return _save(fig, directory, "list-size.png")


def draw_all(results: dict[str, DriverResults], directory: Path) -> list[str]:
    drawn = [plot(results, directory) for plot in (request_latency, watch_latency, rates, list_sizes)]
    return [name for name in drawn if name is not None]
