"""Exactly-once, in-order delivery under concurrency, across workers and replicas (issue 3, scope 6).

Two servers (2 gunicorn workers each) share one database. Writer threads hammer creates,
relabels, updates, status writes and deletes through both; watchers on both, with different
selectors, from a list's revision, in watch-list mode, and resuming from random past
revisions, must each receive exactly the committed sequence for their selector: the
``changes`` table read straight from the database is the oracle.
"""
from __future__ import annotations

import random
import time
import uuid

from watchkit import Stream, Timeline, Writer, client_session, collection, list_rv

WRITERS = 5
OPERATIONS = 60  # per writer
NAMES = [f"q-{i}" for i in range(10)]


def test_every_watcher_gets_exactly_the_committed_sequence(server, replica, namespace):
    run = uuid.uuid4().hex[:8]
    servers = [server, replica]
    sessions = [client_session(s) for s in servers]
    streams: list[tuple[Stream, dict]] = []
    try:
        start = list_rv(sessions[0], server.url, namespace)

        def open_watch(index: int, spec: dict, params: dict) -> None:
            srv = servers[index % 2]
            stream = Stream(client_session(srv), collection(srv.url, spec.get("namespace")),
                            {"watch": "true", **params}, label=f"{spec['label']}@{'AB'[index % 2]}")
            assert stream.status == 200, stream.label
            streams.append((stream, spec))

        in_run = f"run={run}"

        def team_a(labels: dict) -> bool:
            return labels.get("team") == "a"

        def not_b(labels: dict) -> bool:
            return labels.get("team") != "b"

        specs = [
            ({"label": "all", "namespace": namespace, "from": start}, {"resourceVersion": str(start)}),
            ({"label": "team=a", "namespace": namespace, "from": start, "selector": team_a},
             {"resourceVersion": str(start), "labelSelector": "team=a"}),
            ({"label": "name", "namespace": namespace, "from": start, "name": "q-3"},
             {"resourceVersion": str(start), "fieldSelector": "metadata.name=q-3"}),
            ({"label": "cluster-run", "namespace": None, "from": start,
              "selector": lambda labels: labels.get("run") == run and labels.get("team") != "b"},
             {"resourceVersion": str(start), "labelSelector": f"{in_run},team!=b"}),
            ({"label": "cluster-all", "namespace": None, "from": start}, {"resourceVersion": str(start),
                                                                        "allowWatchBookmarks": "true"}),
            ({"label": "all-b", "namespace": namespace, "from": start}, {"resourceVersion": str(start)}),
            ({"label": "team=a-b", "namespace": namespace, "from": start, "selector": team_a},
             {"resourceVersion": str(start), "labelSelector": "team in (a)"}),
        ]
        for index, (spec, params) in enumerate(specs):
            open_watch(index, spec, params)

        writers = [Writer(sessions, [s.url for s in servers], namespace, NAMES, OPERATIONS, seed=n, run_label=run)
                   for n in range(WRITERS)]
        for writer in writers:
            writer.start()

        # While the writers run: watchers that resume from random past revisions, and watch-lists.
        rng = random.Random(run)
        time.sleep(0.8)
        for index in range(4):
            current = list_rv(sessions[0], server.url, namespace)
            past = rng.randint(start, current)
            selector = [None, team_a, not_b, None][index]
            params = {"resourceVersion": str(past)}
            if selector is team_a:
                params["labelSelector"] = "team=a"
            elif selector is not_b:
                params["labelSelector"] = "team!=b"
            open_watch(index, {"label": f"resume-{past}", "namespace": namespace, "from": past, "selector": selector},
                       params)
            time.sleep(0.3)
        for index, selector in enumerate([None, team_a]):
            params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                      "allowWatchBookmarks": "true"}
            if selector is team_a:
                params["labelSelector"] = "team=a"
            open_watch(index + 1, {"label": f"watch-list-{index}", "namespace": namespace, "from": None,
                                   "selector": selector}, params)
            time.sleep(0.3)

        for writer in writers:
            writer.join(90)
            assert not writer.is_alive(), "a writer did not finish"
            assert writer.failure is None, writer.failure
        final = list_rv(sessions[0], server.url, namespace)
        timeline = Timeline(ack for writer in writers for ack in writer.acks)
        assert final >= timeline.last_rv
        assert len(timeline.lifetimes) >= WRITERS * OPERATIONS // 10, "too few writes"

        bases = []
        for stream, spec in streams:
            base = spec["from"]
            if base is None:  # watch-list: the initial-events-end bookmark says where its snapshot was
                assert stream.wait(lambda events: any(e["type"] == "BOOKMARK" for e in events), 20), stream.label
                base = int(next(e for e in stream.events if e["type"] == "BOOKMARK")["object"]["metadata"]
                           ["resourceVersion"])
            bases.append(base)

        def problems_of(stream: Stream, spec: dict, base: int) -> list[str]:
            got = [e for e in stream.changes_with_uids() if e[2] <= final]
            if spec.get("namespace") is None:  # cluster-wide: only this test's objects can be judged
                got = [e for e in got if e[3] in timeline.uids]
            problems = []
            if spec["from"] is None:  # watch-list: the initial ADDEDs are the state at the snapshot
                initial = [e for e in got if e[2] <= base]
                if any(e[0] != "ADDED" for e in initial):
                    problems.append(f"initial events {initial} are not all ADDED")
                problems += timeline.check_state([(e[1], e[2]) for e in initial], base, spec.get("selector"))
                got = [e for e in got if e[2] > base]
            return problems + timeline.check(got, base, spec.get("name"), spec.get("selector"))

        # Each watcher must reach the end of the writes; then a little more, for duplicates to show.
        deadline = time.monotonic() + 30
        for (stream, spec), base in zip(streams, bases, strict=True):
            stream.wait(lambda _events, s=stream, p=spec, b=base: not problems_of(s, p, b),
                        max(0.1, deadline - time.monotonic()))
        time.sleep(1.0)

        failures = []
        for (stream, spec), base in zip(streams, bases, strict=True):
            assert stream.error is None and not stream.ended, (stream.label, stream.error)
            failures += [f"{stream.label} (from {base}): {p}" for p in problems_of(stream, spec, base)]
            bookmarks = [int(e["object"]["metadata"]["resourceVersion"]) for e in stream.events
                         if e["type"] == "BOOKMARK"]
            assert bookmarks == sorted(bookmarks), stream.label
        assert not failures, "\n".join(failures)
        # Every watcher above was served by some worker of one of the two servers; the writes came
        # through both servers, so most events crossed a process boundary on the way.
        assert len(streams) >= 12
    finally:
        for stream, _ in streams:
            stream.close()
        for session in sessions:
            session.close()

