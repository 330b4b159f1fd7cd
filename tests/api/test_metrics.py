"""``/metrics`` after real traffic on a server of two workers: kube-apiserver's names and labels,
counts that add up across the worker processes, histograms with buckets, and gauges read from
the database."""
from __future__ import annotations

import time

import pytest
from arkrest import GROUP, obj
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import fresh_database, start_server, stop_server

CREATES = 24


@pytest.fixture(scope="module")
def metered(database, tmp_path_factory):
    """A server and a database of its own: no other test's traffic or objects in its figures."""
    with fresh_database(database.driver, tmp_path_factory) as own:
        srv = start_server(own, tmp_path_factory.mktemp(f"metrics-{database.driver}"), workers=2)
        yield srv
        stop_server(srv)


def scrape(server) -> dict[str, list]:
    with server.session() as session:
        response = session.get(server.url + "/metrics", headers={"Connection": "close"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(families: dict, name: str, sample: str | None = None, **labels: str) -> float:
    matching = [s.value for s in families[name] if s.name == (sample or name)
                and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, (name, labels, [s for s in families[name] if s.name == (sample or name)])
    return matching[0]


REQUEST = {"group": GROUP, "version": "v1alpha1", "resource": "queries", "subresource": "", "component": "apiserver",
           "dry_run": ""}


def test_request_counts_add_up_across_workers(metered, namespace):
    url = f"{metered.url}/apis/{GROUP}/v1alpha1/namespaces/{namespace}/queries"
    with metered.session() as session:
        session.headers["Connection"] = "close"  # each request may land on either worker
        for index in range(CREATES):
            assert session.post(url, json=obj(f"q{index}"), timeout=30).status_code == 201
        for index in range(3):
            assert session.get(f"{url}/q{index}", timeout=30).status_code == 200
        assert session.get(f"{url}/missing", timeout=30).status_code == 404
        assert session.get(url, timeout=30).status_code == 200
        assert session.post(url, json=obj("q0"), params={"dryRun": "All"}, timeout=30).status_code == 409
    families = scrape(metered)
    # Counters are named without their _total suffix by the parser; samples keep it.
    total = "apiserver_request"
    assert value(families, total, "apiserver_request_total", verb="POST", scope="resource", code="201",
                 **REQUEST) == CREATES
    assert value(families, total, "apiserver_request_total", verb="GET", scope="resource", code="200",
                 **REQUEST) == 3
    assert value(families, total, "apiserver_request_total", verb="GET", scope="resource", code="404",
                 **REQUEST) == 1
    assert value(families, total, "apiserver_request_total", verb="LIST", scope="namespace", code="200",
                 **REQUEST) == 1
    assert value(families, total, "apiserver_request_total", verb="POST", scope="resource", code="409",
                 **{**REQUEST, "dry_run": "All"}) == 1
    histogram = "apiserver_request_duration_seconds"
    labels = {**REQUEST, "verb": "POST", "scope": "resource"}
    assert value(families, histogram, f"{histogram}_count", **labels) == CREATES
    assert value(families, histogram, f"{histogram}_bucket", le="+Inf", **labels) == CREATES
    buckets = [s for s in families[histogram] if s.name == f"{histogram}_bucket" and s.labels["verb"] == "POST"
               and s.labels["dry_run"] == "" and s.labels["resource"] == "queries"]
    assert len(buckets) == 24  # kube-apiserver's 23 bounds and +Inf
    assert value(families, "apiserver_storage_objects", resource="queries.ark.mckinsey.com") == CREATES
    assert value(families, "ark_history_rows") >= CREATES
    assert value(families, "ark_storage_revision") >= CREATES


def test_watches_are_long_running_and_their_events_counted(metered, namespace):
    url = f"{metered.url}/apis/{GROUP}/v1alpha1/namespaces/{namespace}/queries"
    watch_labels = {"verb": "WATCH", "group": GROUP, "version": "v1alpha1", "resource": "queries",
                    "subresource": "", "scope": "namespace", "component": "apiserver"}
    before = scrape(metered)
    events_before = value(before, "apiserver_watch_events", "apiserver_watch_events_total", group=GROUP,
                          version="v1alpha1", kind="Query") if "apiserver_watch_events" in before else 0
    with metered.session() as session:
        assert session.post(url, json=obj("w1"), timeout=30).status_code == 201
        with session.get(url, params={"watch": "true", "timeoutSeconds": "30"}, stream=True, timeout=30) as watch:
            assert watch.status_code == 200
            lines = watch.iter_lines()  # kept: a discarded line iterator closes the connection under it
            assert b'"ADDED"' in next(lines)
            assert value(scrape(metered), "apiserver_longrunning_requests", **watch_labels) == 1
    deadline = time.monotonic() + 30
    while value(scrape(metered), "apiserver_longrunning_requests", **watch_labels) != 0:
        assert time.monotonic() < deadline, "the closed watch still counts as long-running"
        time.sleep(0.2)
    after = scrape(metered)
    assert value(after, "apiserver_watch_events", "apiserver_watch_events_total", group=GROUP, version="v1alpha1",
                 kind="Query") >= events_before + 1
    assert value(after, "apiserver_request", "apiserver_request_total", code="200", **watch_labels,
                 dry_run="") >= 1


def test_our_own_metrics_are_there(metered):
    families = scrape(metered)
    for name in ("ark_change_feed_lag_seconds", "ark_history_compaction_runs", "ark_storage_pool_connections",
                 "ark_history_compaction_floor", "ark_change_feed_reconnects"):
        assert name in families, name
    assert value(families, "ark_storage_pool_connections", state="waiting") >= 0
