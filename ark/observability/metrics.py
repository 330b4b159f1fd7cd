"""Prometheus metrics, named as kube-apiserver names them so that existing dashboards and alerts
work, plus ours for what kube-apiserver has no name for.

gunicorn runs several worker processes; prometheus_client's multiprocess mode keeps each
process's values in files under ``PROMETHEUS_MULTIPROC_DIR`` and adds them up when any worker
is scraped. That mode is chosen when prometheus_client is *imported*, so this module imports it
only when a metric is first used — in a worker, after the master has set the directory
(:func:`prepare_multiprocess_dir`). Without the directory (tests in-process) values live in the
process.
"""
from __future__ import annotations

import functools
import glob
import os
import shutil
import tempfile
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: kube-apiserver's buckets for apiserver_request_duration_seconds.
REQUEST_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30,
                   45, 60)
LOCK_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")


class Metrics:
    """Every metric the server records."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # here, not at the top: see the module docstring

        self.requests = Counter("apiserver_request_total", "Counter of apiserver requests broken out for each "
                                "verb, dry run value, group, version, resource, scope, component, and HTTP "
                                "response code.", (*REQUEST_LABELS, "code"))
        self.request_duration = Histogram("apiserver_request_duration_seconds", "Response latency distribution in "
                                          "seconds for each verb, dry run value, group, version, resource, "
                                          "subresource, scope and component.", REQUEST_LABELS,
                                          buckets=REQUEST_BUCKETS)
        self.longrunning = Gauge("apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
                                 "requests (watches) broken out by verb, group, version, resource, scope and "
                                 "component.", ("verb", "group", "version", "resource", "subresource", "scope",
                                                "component"), multiprocess_mode="livesum")
        self.watch_events = Counter("apiserver_watch_events_total", "Number of events sent in watch clients",
                                    ("group", "version", "kind"))
        self.feed_lag = Histogram("ark_change_feed_lag_seconds", "Time from a write's commit to its change "
                                  "reaching the watchers of a process.", buckets=LAG_BUCKETS)
        self.feed_reconnects = Counter("ark_change_feed_reconnects_total", "PostgreSQL LISTEN connections of the "
                                       "change feeds that were lost and opened again.")
        self.compaction_runs = Counter("ark_history_compaction_runs_total", "Runs of the change-log compactor, by "
                                       "outcome.", ("outcome",))
        self.compacted_rows = Counter("ark_history_compacted_rows_total", "Change-log rows removed by compaction.")
        self.pool_connections = Gauge("ark_storage_pool_connections", "Database connections of the pools, in use "
                                      "or waited for.", ("state",), multiprocess_mode="livesum")
        self.sqlite_lock_wait = Histogram("ark_sqlite_write_lock_wait_seconds", "Time a write waited for "
                                          "SQLite's write lock (BEGIN IMMEDIATE).", buckets=LOCK_BUCKETS)
        # Known label values exist from the start, so that rates and alerts see a zero, not nothing.
        for outcome in ("ok", "failed"):
            self.compaction_runs.labels(outcome)
        # Children looked up once: a pool checkout and return move them on every query.
        self.pool_in_use, self.pool_waiting = (self.pool_connections.labels(state) for state in ("in_use", "waiting"))


@functools.cache
def metrics() -> Metrics:
    path = os.environ.get(MULTIPROC_ENV)
    if path:  # inherited by a process that outlived its server (a CLI run, say): files need a directory
        os.makedirs(path, exist_ok=True)
    return Metrics()


def prepare_multiprocess_dir() -> str:
    """In the gunicorn master, before anything in it records a metric (it hands its way of
    storing values down to the workers it forks): a fresh directory for the workers' metric
    files, one per server run, so that no stale values add up. Returns it."""
    existing = os.environ.get(MULTIPROC_ENV)
    if existing and os.path.isdir(existing):  # the operator's own: wiped, as prometheus_client requires
        for stale in glob.glob(os.path.join(existing, "*.db")):
            os.remove(stale)
        return existing
    path = tempfile.mkdtemp(prefix="ark-metrics-")
    os.environ[MULTIPROC_ENV] = path
    _created.append(path)
    return path


_created: list[str] = []  # the directories this process made (and so may remove)


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_multiprocess_dir() -> None:
    """gunicorn's on_exit hook: a directory this server made goes with it (an operator's stays)."""
    while _created:
        shutil.rmtree(_created.pop(), ignore_errors=True)


def exposition(gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]) -> tuple[bytes, str]:
    """The text exposition of every process's metrics, plus ``gauges`` read at scrape time
    (name -> (help, {labels: value})), and its content type."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    metrics()  # every metric is declared, even before its first use
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY

    class ScrapeTime:
        def collect(self) -> Any:
            for name, (help_text, values) in gauges.items():
                label_names = [key for key, _ in next(iter(values), ())]
                family = GaugeMetricFamily(name, help_text, labels=label_names)
                for labels, value in values.items():
                    family.add_metric([v for _, v in labels], value)
                yield family

    scraped = CollectorRegistry()
    scraped.register(ScrapeTime())
    # The text format kube-apiserver serves and every Prometheus reads.
    return generate_latest(registry) + generate_latest(scraped), CONTENT_TYPE_PLAIN_0_0_4
