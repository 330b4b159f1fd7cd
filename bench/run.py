"""One database's run, phase by phase, each scenario in rounds interleaved with its baselines.

Phases, in order (a phase runs only if one of its scenarios was asked for):

1. **Small store** (the small size seeded into ``bench-list``): fan-out and idle watches first,
   so that the memory returned after the watches close is compared with a worker fresh from
   boot; lists of the small store; then writes (create, update, merge patch, apply), gets and
   watch latency. A 1-worker server on the same database (the scaling figures, and the
   other replica of the PostgreSQL watch latency) runs only while it is measured.
2. **List size**: the namespace grown to the list size; the list scenarios.
3. **Memory size**: grown again; a Table of all of it, and the worker's RSS after.
4. **Large store**: grown to the large size; pages, and creates and gets beside a server on a
   small store (a second, fresh database) for the growth figures.

Stores grow through :mod:`bench.seed` while the server is stopped (restarting it is how a
deployment would pick up a restored store, and its change feed then starts at the seeded
revision instead of reading the seeded history).
"""
from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import loadgen, measure, objects, procfs, seed
from bench.baselines import rawloops
from bench.baselines.config import POSTGRES_FLAVOUR, SQLITE_FLAVOURS, postgres_connect
from bench.fanout import FanoutProcess
from bench.https import Connection, Stream
from bench.loadgen import Load
from bench.profiles import Profile
from bench.results import DriverResults
from bench.servers import Running, start_ark, start_baseline
from tests.harness import Database, migrated_database

RESOURCE = f"{objects.PLURAL}.ark.mckinsey.com"
SEED_PREFIX = "obj"
WATCH_PATH = "?watch=true&resourceVersion={rv}&timeoutSeconds=1800"
MIB = 1024 * 1024
FANOUT_TIMEOUT = 30.0  # seconds a fan-out round waits for its last delivery
WARM_UP = 30  # requests of each kind a fresh server gets before it is measured
WARM_WALKS = 10  # unrecorded walks of the first two pages before each size's list rounds
WRK_SATURATED = 0.8  # share of its threads' time above which wrk itself may limit a run


# A client that goes away mid-handshake or mid-response (wrk does when a run ends): gevent logs a
# traceback, but the server did nothing wrong.
CLIENT_GONE = ("ssl.SSLEOFError", "ConnectionResetError", "BrokenPipeError")


def server_errors(workdir: Path) -> list[str]:
    """What the servers' logs say went wrong: tracebacks, by exception, and ERROR lines.

    wrk leaves a connection in the middle of its TLS handshake (or of a response) when a run
    ends, which gevent logs as a traceback; those are counted apart, as harmless."""
    notes = []
    for log in sorted(workdir.glob("*/server.log")):
        lines = log.read_text(errors="replace").splitlines()
        exceptions: dict[str, int] = {}
        for index, line in enumerate(lines):
            if line.startswith("Traceback"):
                raised = next((later for later in lines[index + 1:] if not later.startswith(" ")), "?")
                exceptions[raised[:200]] = exceptions.get(raised[:200], 0) + 1
        abandoned = sum(n for raised, n in exceptions.items() if raised.startswith(CLIENT_GONE))
        errors = {raised: n for raised, n in exceptions.items() if not raised.startswith(CLIENT_GONE)}
        logged = [line for line in lines if " ERROR " in line or "[ERROR]" in line]
        where = f"{log.parent.name}/server.log"
        if errors or logged:
            listed = "; ".join(f"{n}x {raised}" for raised, n in errors.items())
            notes.append(f"{where}: server error(s): {listed or ''} {len(logged)} ERROR line(s)"
                         + (f", first: {logged[0][:200]}" if logged else ""))
        if abandoned:
            notes.append(f"{where}: {abandoned} connection(s) dropped by clients mid-handshake or mid-response "
                         "(wrk ends its runs so)")
    return notes


class DriverRun:
    def __init__(self, driver: str, profile: Profile, selected: set[str], workdir: Path) -> None:
        self.driver = driver
        self.profile = profile
        self.selected = selected
        self.workdir = workdir
        self.results = DriverResults(driver)
        self.bodies = objects.write_bodies(workdir)
        self.ark: Running | None = None
        self.one_worker: Running | None = None
        self.baseline: Running | None = None
        self.small_store: Running | None = None
        self.database: Database | None = None
        self.template: dict = {}
        self.seeded = 0
        self.boot_rss = 0
        self.phases: dict[str, float] = {}
        self.wrk_busiest = (0.0, "")  # the largest share of its threads' time wrk used in a run, and which run
        self.wrk_fastest = 0.0  # the highest rate wrk drove in this run (a baseline's, usually)

    def wants(self, *scenarios: str) -> bool:
        return bool(self.selected.intersection(scenarios))

    @property
    def postgres(self) -> bool:
        return self.driver == "postgresql"

    def rounds(self) -> range:
        return range(1, self.profile.rounds + 1)

    # The run ------------------------------------------------------------------------------

    def run(self) -> DriverResults:
        with ExitStack() as cleanup:
            self.database = cleanup.enter_context(
                migrated_database(self.driver, self.workdir / "ark.db", prefix="ark_bench"))
            cleanup.callback(self._stop_all)
            self._timed("small store", self._phase_small_store)
            if self.wants("list", "pages"):
                self._timed("list size", self._phase_list_size)
            if self.wants("memory"):
                self._timed("memory size", self._phase_memory_size)
            if self.wants("pages", "scaling"):
                self._timed("large store", lambda: self._phase_large_store(cleanup))
        self.results.notes.append("phases (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.phases.items()))
        if self.wrk_busiest[1]:
            threads = self.profile.load.threads
            self.results.notes.append(
                f"load generator: wrk drove up to {self.wrk_fastest:,.0f} requests/s in this run; its busiest run "
                f"({self.wrk_busiest[1]}) kept its {threads} thread(s) {self.wrk_busiest[0]:.0%} busy"
                + (" — near saturation: that run may be limited by wrk" if self.wrk_busiest[0] > WRK_SATURATED else ""))
        self.results.notes.extend(server_errors(self.workdir))
        return self.results

    def _timed(self, phase: str, action) -> None:
        started = time.monotonic()
        action()
        self.phases[phase] = time.monotonic() - started

    def _stop_all(self) -> None:
        for server in (self.ark, self.one_worker, self.small_store, self.baseline):
            if server is not None and server.served.process.poll() is None:
                server.stop()

    def _start_ark(self) -> Running:
        assert self.database is not None
        server = start_ark("ark", self.database, self.workdir / "ark", workers=2)
        self._warm(server)
        return server

    def _grow(self, size: int) -> None:
        """Stop the server, seed the listed namespace up to ``size`` objects, start it again."""
        assert self.ark is not None and self.database is not None
        self.ark.stop()
        self.ark = None
        if size > self.seeded:
            seed.seed(self.database.settings, self.template, RESOURCE, objects.LIST_NS, SEED_PREFIX,
                      range(self.seeded, size))
            self.seeded = size
        self.ark = self._start_ark()

    def _make_template(self) -> Path:
        """Create one object through the API and keep the row the server wrote (see bench.seed)."""
        assert self.ark is not None and self.database is not None
        connection = self.ark.endpoint().connect()
        status, body = connection.request("POST", objects.collection(objects.TEMPLATE_NS),
                                          objects.dumps(objects.query("template")),
                                          {"Content-Type": "application/json"})
        connection.close()
        if status != 201:
            raise measure.MeasureError(f"creating the template object answered {status}: {body[:300]!r}")
        self.template = seed.template_row(self.database.settings, RESOURCE, objects.TEMPLATE_NS, "template")
        path = self.workdir / "template.json"
        path.write_text(json.dumps(self.template))
        return path

    # Phase 1 ------------------------------------------------------------------------------

    def _phase_small_store(self) -> None:
        assert self.database is not None
        self.ark = self._start_ark()
        template_file = self._make_template()
        self._grow(self.profile.small)
        self.boot_rss = sum(self.ark.rss().values())
        self.baseline = start_baseline(self.database, self.workdir / "baseline", template_file, workers=2)
        if self.wants("fanout", "idle"):
            self._fanout()
        if self.wants("list", "pages"):  # before the writes: their dead rows and autovacuum would slow lists down
            self._list_rounds(self.profile.small)
        if self.wants("create", "update", "merge", "apply", "scaling"):
            self._writes()
        if self.wants("get", "scaling"):
            self._gets()
        if self.wants("watch"):
            self._watch_latency()

    @contextmanager
    def _one_worker(self) -> Iterator[Running]:
        """A second server, 1 worker, on the same database, up only while it is measured: a
        replica's change feed reads every write, and would slow the main server down."""
        assert self.database is not None
        self.one_worker = start_ark("ark-1-worker", self.database, self.workdir / "ark-1-worker", workers=1)
        try:
            self._warm(self.one_worker)
            yield self.one_worker
        finally:
            self.one_worker.stop()
            self.one_worker = None

    def _warm(self, server: Running) -> None:
        """A few requests of each kind on a fresh server (caches, pooled connections, TLS
        sessions), so that its first measured round does not pay for its start. First every
        namespace written to and the agent the queries ask in it (already there after a restart: 409)."""
        connection = server.endpoint().connect()
        for namespace in objects.WRITTEN_NAMESPACES:
            for what, path, sent in (("namespace", objects.NAMESPACES_PATH, objects.namespace(namespace)),
                                     ("agent", objects.agents_path(namespace), objects.agent())):
                status, body = connection.request("POST", path, objects.dumps(sent),
                                                  {"Content-Type": "application/json"})
                if status not in (201, 409):
                    raise measure.MeasureError(f"creating the {what} in {namespace} answered {status}: "
                                               f"{body[:300]!r}")
        for i in range(WARM_UP):
            statuses = (
                connection.request("GET", f"{objects.collection(objects.LIST_NS)}/"
                                   f"{seed.object_name(SEED_PREFIX, i % max(self.seeded, 1))}")[0],
                connection.request("POST", objects.collection(objects.CREATE_NS),
                                   objects.dumps(objects.query(f"warm-{server.name}-{uuid.uuid4().hex[:8]}")),
                                   {"Content-Type": "application/json"})[0],
                connection.request("GET", f"{objects.collection(objects.LIST_NS)}?limit=10")[0])
            if statuses[1:] != (201, 200) or (self.seeded and statuses[0] != 200):
                raise measure.MeasureError(f"warming {server.name} up: answers {statuses}")
        connection.close()

    def _wrk(self, server: Running, script: str, args: dict, expect: int) -> Load:
        load = loadgen.run(server.url, script, args, self.profile.load, expect, server.pids())
        busiest = load.client_cpu / load.seconds / self.profile.load.threads if load.seconds else 0.0
        if busiest > self.wrk_busiest[0]:
            self.wrk_busiest = (busiest, f"{script} on {server.name} at {load.rate:.0f}/s")
        self.wrk_fastest = max(self.wrk_fastest, load.rate)
        return load

    def _record_load(self, scenario: str, key: str, label: str, round_number: int, load: Load,
                     baseline: bool = False) -> None:
        """A wrk run's rate; for the main figure of a scenario (and its baselines) also the
        server's CPU time per request (its own processes only, not PostgreSQL's), which a busy
        machine disturbs far less than rates."""
        summary = load.summary()
        self.results.figure(scenario, key, label, "1/s", baseline).add(round_number, load.rate, **summary)
        if key == "rate":
            for percentile in ("50", "99"):
                self.results.figure(scenario, f"p{percentile}_ms", f"{label}: latency p{percentile}", "ms").add(
                    round_number, load.latency_ms[percentile])
        if load.ok and (key == "rate" or baseline):
            cpu_key = "server_cpu_ms" if key == "rate" else f"{key}_cpu_ms"
            self.results.figure(scenario, cpu_key, f"{label}: server CPU per request", "ms", baseline).add(
                round_number, summary["server_cpu_ms_per_ok"])

    def _create_args(self, prefix: str, path: str) -> dict:
        return {"path": path, "body": self.bodies["create"], "prefix": prefix}

    def _writes(self) -> None:
        assert self.ark is not None and self.baseline is not None
        create_path = objects.collection(objects.CREATE_NS)
        for r in self.rounds():
            load = self._wrk(self.ark, "create", self._create_args(f"c{r}", create_path), 201)
            self._record_load("create", "rate", "creates/s", r, load)
            if self.wants("scaling"):
                self._record_load("scaling", "create_2w", "creates/s, 2 workers", r, load)
                with self._one_worker() as one_worker:
                    one = self._wrk(one_worker, "create", self._create_args(f"c{r}-one", create_path), 201)
                self._record_load("scaling", "create_1w", "creates/s, 1 worker", r, one)
            if self.wants("create"):
                self._create_baselines(r)
            if self.wants("update", "merge", "apply"):
                self._rewrites(r)

    def _create_baselines(self, r: int) -> None:
        assert self.baseline is not None and self.database is not None
        body = objects.dumps(self.template)
        limit, seconds = self.profile.raw_commit_limit, self.profile.raw_commit_seconds
        if self.postgres:
            load = self._wrk(self.baseline, "create", self._create_args(f"m{r}", f"/create/{POSTGRES_FLAVOUR}"), 201)
            self._record_load("create", "minimal_postgresql", "minimal create (commit)", r, load, baseline=True)
            rate = rawloops.postgres_commits(self.database.settings, body, seconds, limit)
            self.results.figure("create", "raw_commits_postgresql", "raw commits/s, one connection", "1/s",
                                baseline=True).add(r, rate)
            return
        for flavour, synchronous in SQLITE_FLAVOURS.items():
            load = self._wrk(self.baseline, "create", self._create_args(f"m{r}", f"/create/{flavour}"), 201)
            self._record_load("create", f"minimal_{synchronous.lower()}",
                              f"minimal create (synchronous={synchronous})", r, load, baseline=True)
            rate = rawloops.sqlite_commits(self.workdir / f"raw-{flavour}.db", synchronous, body, seconds, limit)
            self.results.figure("create", f"raw_commits_{synchronous.lower()}",
                                f"raw commits/s (synchronous={synchronous})", "1/s", baseline=True).add(r, rate)

    def _rewrites(self, r: int) -> None:
        """Updates, merge patches and applies of objects the creates made, right after them."""
        assert self.ark is not None
        connection = self.ark.endpoint().connect()
        path = objects.collection(objects.CREATE_NS)
        status, body = connection.request("GET", f"{path}?limit={self.profile.write_pool}")
        connection.close()
        if status != 200:
            raise measure.MeasureError(f"listing {path} answered {status}")
        items = json.loads(body)["items"]
        pool = self.workdir / "write-pool.lua"
        pool.write_text(objects.lua_table([[i["metadata"]["name"], int(i["metadata"]["resourceVersion"])]
                                           for i in items]))
        names = self.workdir / "write-names.lua"
        names.write_text(objects.lua_table([i["metadata"]["name"] for i in items]))
        runs = {
            "update": ("update", {"path": path, "body": self.bodies["update"], "data": pool}, "updates/s"),
            "merge": ("patch", {"path": path, "body": self.bodies["merge"], "data": names,
                                "type": objects.MERGE_PATCH}, "merge patches/s"),
            "apply": ("patch", {"path": path, "body": self.bodies["apply"], "data": names, "type": objects.APPLY_PATCH,
                                "query": f"fieldManager={objects.FIELD_MANAGER}&force=true"},  # see README
                      "server-side applies/s"),
        }
        for scenario, (script, args, label) in runs.items():
            if self.wants(scenario):
                self._record_load(scenario, "rate", label, r, self._wrk(self.ark, script, args, 200))

    def _get_names(self) -> Path:
        """The seeded names every store has (the small size): what gets read."""
        names = self.workdir / "get-names.lua"
        names.write_text(objects.lua_table([seed.object_name(SEED_PREFIX, i) for i in range(self.profile.small)]))
        return names

    def _gets(self) -> None:
        assert self.ark is not None and self.baseline is not None
        names = self._get_names()
        path = objects.collection(objects.LIST_NS)
        for r in self.rounds():
            load = self._wrk(self.ark, "get", {"path": path, "data": names}, 200)
            self._record_load("get", "rate", "gets/s", r, load)
            if self.wants("scaling"):
                self._record_load("scaling", "get_2w", "gets/s, 2 workers", r, load)
                with self._one_worker() as one_worker:
                    one = self._wrk(one_worker, "get", {"path": path, "data": names}, 200)
                self._record_load("scaling", "get_1w", "gets/s, 1 worker", r, one)
            trivial = self._wrk(self.baseline, "get", {"path": "/trivial", "data": names}, 200)
            self._record_load("get", "trivial", "trivial JSON endpoint", r, trivial, baseline=True)

    # Watch latency ------------------------------------------------------------------------

    def _list_rv(self, server: Running, namespace: str) -> str:
        connection = server.endpoint().connect()
        status, body = connection.request("GET", objects.collection(namespace) + "?limit=1")
        connection.close()
        if status != 200:
            raise measure.MeasureError(f"listing {namespace} answered {status}")
        return json.loads(body)["metadata"]["resourceVersion"]

    def _ark_writer(self, connection: Connection):
        path = objects.collection(objects.WATCH_NS)

        def write(name: str) -> int:
            return connection.request("POST", path, objects.dumps(objects.query(name)),
                                      {"Content-Type": "application/json"})[0]
        return write

    def _record_latency(self, key: str, label: str, r: int, samples: list[float], baseline: bool = False) -> None:
        figure = self.results.figure("watch", f"{key}_p50_ms", f"{label} p50", "ms", baseline)
        figure.add(r, statistics.median(samples), samples_ms=[round(s, 3) for s in samples])
        self.results.figure("watch", f"{key}_p99_ms", f"{label} p99", "ms", baseline).add(
            r, measure.percentile(samples, 99))

    def _watch_latency(self) -> None:
        if not self.postgres:  # no replicas on SQLite: several servers on one file are the other-worker case
            self._watch_rounds(None)
            return
        with self._one_worker() as replica:
            self._watch_rounds(replica)

    def _watch_rounds(self, replica_server: Running | None) -> None:
        assert self.ark is not None and self.baseline is not None and self.database is not None
        count = self.profile.watch_samples
        watch_path = objects.collection(objects.WATCH_NS) + WATCH_PATH
        main = self.ark
        ark = main.endpoint()

        def watch() -> Stream:
            return Stream(ark, watch_path.format(rv=self._list_rv(main, objects.WATCH_NS)))

        for r in self.rounds():
            stream, worker = main.connect_to(watch)
            for key, label, where in (("same_worker", "same worker", {"on": worker}),
                                      ("other_worker", "other worker", {"avoid": worker})):
                writer, _ = self.ark.connect_to(ark.connect, **where)
                samples = measure.event_latencies(stream, self._ark_writer(writer),
                                                  [f"w{r}-{key.replace('_', '-')}-{i}" for i in range(count)], 201)
                writer.close()
                self._record_latency(key, label, r, samples)
            stream.close()
            if replica_server is not None:
                replica = replica_server.endpoint()
                stream = Stream(replica, watch_path.format(rv=self._list_rv(replica_server, objects.WATCH_NS)))
                writer = ark.connect()
                samples = measure.event_latencies(stream, self._ark_writer(writer),
                                                  [f"w{r}-replica-{i}" for i in range(count)], 201)
                writer.close()
                stream.close()
                self._record_latency("other_replica", "other replica", r, samples)
            self._stream_baseline(r, count)
            if self.postgres:
                self._record_latency("notify_listen", "raw NOTIFY→LISTEN", r,
                                     rawloops.notify_listen_ms(self.database.settings, count), baseline=True)

    def _stream_baseline(self, r: int, count: int) -> None:
        assert self.baseline is not None
        endpoint = self.baseline.endpoint()
        stream, worker = self.baseline.connect_to(lambda: Stream(endpoint, "/stream"))
        publisher, _ = self.baseline.connect_to(endpoint.connect, on=worker)

        def publish(token: str) -> int:
            return publisher.request("POST", f"/publish?token={token}")[0]

        samples = measure.event_latencies(stream, publish, [f"s{r}-{i}" for i in range(count)], 200)
        publisher.request("POST", "/publish?end=true")
        publisher.close()
        stream.close()
        self._record_latency("minimal_stream", "minimal gevent stream, same worker", r, samples, baseline=True)

    # Fan-out and idle watches -------------------------------------------------------------

    def _fanout(self) -> None:
        assert self.ark is not None and self.baseline is not None
        small, large = self.profile.fanout
        ark, base = FanoutProcess(self.ark.url, self.ark.ca_file), FanoutProcess(self.baseline.url,
                                                                                    self.baseline.ca_file)
        try:
            ark.call("open", path=self._fanout_watch(), count=small)
            base.call("open", path="/stream", count=small)
            self._fanout_rounds(ark, base, "small", small)
            self._idle_memory(ark, base, small, large)
            self._fanout_rounds(ark, base, "large", large)
            ark.call("close")
            self._memory_after_close()
            base.call("close")
            self._end_baseline_streams()
        finally:
            ark.stop()
            base.stop()

    def _end_baseline_streams(self) -> None:
        """The baseline's streams do not notice a client going away: end them on every worker."""
        assert self.baseline is not None
        endpoint = self.baseline.endpoint()
        for worker in self.baseline.workers():
            connection, _ = self.baseline.connect_to(endpoint.connect, on=worker)
            connection.request("POST", "/publish?end=true")
            connection.close()

    def _fanout_rounds(self, ark: FanoutProcess, base: FanoutProcess, size: str, watchers: int) -> None:
        assert self.baseline is not None
        for r in self.rounds():
            # Fresh trigger connections for every round: one kept idle while thousands of watches
            # open would be closed by the server's --read-header-timeout before it fires.
            ark.call("triggers", workers=None)
            base.call("triggers", workers=self.baseline.workers())
            name = f"fan-{size}-{r}"
            create = {"method": "POST", "path": objects.collection(objects.FANOUT_NS),
                      "body": objects.dumps(objects.query(name))}
            self._record_fanout(f"{size}", f"{watchers:,} watchers of one event: last delivered", r,
                                ark.call("fire", requests=[create], token=name, timeout=FANOUT_TIMEOUT), watchers)
            token = f"fan-{size}-{r}-base"
            publishes = [{"method": "POST", "path": f"/publish?token={token}"}] * len(self.baseline.workers())
            self._record_fanout(f"{size}_minimal", f"minimal gevent fan-out to {watchers:,} streams", r,
                                base.call("fire", requests=publishes, token=token, timeout=FANOUT_TIMEOUT), watchers,
                                baseline=True)

    def _record_fanout(self, key: str, label: str, r: int, fired: dict, watchers: int, baseline: bool = False) -> None:
        complete = fired["verified"] == watchers
        if not complete:  # recorded as the time waited: a lower bound, flagged
            self.results.notes.append(f"fan-out {key} round {r}: {fired['verified']} of {watchers} streams got the "
                                      f"event within {FANOUT_TIMEOUT:.0f}s (bytes reached {fired['delivered']})")
        value = fired["last_ms"] if complete else FANOUT_TIMEOUT * 1000
        self.results.figure("fanout", f"{key}_last_ms", label, "ms", baseline).add(
            r, value, watchers=watchers, complete=complete, **fired)

    def _fanout_watch(self) -> str:
        """A watch of the fan-out namespace from its current revision (no history to replay)."""
        assert self.ark is not None
        return objects.collection(objects.FANOUT_NS) + WATCH_PATH.format(rv=self._list_rv(self.ark, objects.FANOUT_NS))

    def _idle_memory(self, ark: FanoutProcess, base: FanoutProcess, small: int, large: int) -> None:
        """Open the rest of the large number of watches in one step per round, both servers in
        turn; a round's figure is the growth of the workers' RSS over the streams it added."""
        assert self.ark is not None and self.baseline is not None
        steps = list(self.rounds())
        per_step = (large - small) // len(steps)
        for r in steps:
            count = per_step if r < len(steps) else large - small - per_step * (len(steps) - 1)
            for server, client, path, key, label, baseline in (
                    (self.ark, ark, self._fanout_watch(), "per_watch_kib", "idle watch memory", False),
                    (self.baseline, base, "/stream", "per_stream_kib", "minimal stream memory", True)):
                before = sum(server.rss().values())
                opened = client.call("open", path=path, count=count)
                after = server.rss()
                per_worker = {str(pid): procfs.socket_count(pid) for pid in after}
                self.results.figure("idle", key, label, "KiB", baseline).add(
                    r, (sum(after.values()) - before) / count / 1024, streams=opened["streams"],
                    open_seconds=opened["seconds"], sockets_per_worker=per_worker)
        rss = sum(self.ark.rss().values())
        self.results.figure("idle", "rss_with_watches_mib", f"workers' RSS with {large:,} watches", "MiB").add(
            1, rss / MIB, boot_mib=self.boot_rss / MIB)

    def _memory_after_close(self) -> None:
        assert self.ark is not None
        held = measure.wait_for_connections_closed(self.ark.port, at_most=0)
        rss = sum(self.ark.rss().values())
        self.results.figure("idle", "rss_after_close_ratio", "workers' RSS after the watches close / at boot",
                            "x").add(1, rss / self.boot_rss, rss_mib=rss / MIB, boot_mib=self.boot_rss / MIB,
                                     connections_still_held=held)

    # Lists --------------------------------------------------------------------------------

    def _list_rounds(self, size: int) -> None:
        """List the listed namespace (now ``size`` objects) on the server and the raw baseline:
        one page, and pages (only the first ones of the large store)."""
        assert self.ark is not None and self.baseline is not None
        self._analyze()
        ark, raw = self.ark.endpoint().connect(timeout=600), self.baseline.endpoint().connect(timeout=600)
        path, raw_path = objects.collection(objects.LIST_NS), f"/list/{objects.LIST_NS}"
        page = self.profile.page_size
        sampled = self.profile.pages_sampled if size >= self.profile.large else None
        whole = None if sampled else size  # the items a walk must return (all of them, unless sampled)
        label = f"{size:,}"
        also_list = size == self.profile.list_size and self.wants("list")
        for _ in range(WARM_WALKS):  # unrecorded: a path's first requests run well slower (PostgreSQL: ~10)
            for connection, walked, accept in ((ark, path, "application/json"), (raw, raw_path, "application/json"),
                                               (ark, path, objects.TABLE)):
                measure.walk(connection, walked, page, accept=accept, max_pages=2)
        for r in self.rounds():
            walks = {
                "one_page_s": measure.walk(ark, path, None),
                "raw_one_page_s": measure.walk(raw, raw_path, None),
                "page_ms": measure.walk(ark, path, page, max_pages=sampled),
                "raw_page_ms": measure.walk(raw, raw_path, page, max_pages=sampled),
            }
            if also_list:
                walks["table_pages_s"] = measure.walk(ark, path, page, accept=objects.TABLE)
            for key, text in (("one_page_s", f"list {label} as JSON, one page"),
                              ("raw_one_page_s", f"raw list of {label}, one page")):
                self._record_walk("pages", f"{key}@{size}", text, r, walks[key], size, total=True,
                                  baseline=key.startswith("raw"))
            for key, text in (("page_ms", f"JSON page of {page} from {label}"),
                              ("raw_page_ms", f"raw page of {page} from {label}")):
                self._record_walk("pages", f"{key}@{size}", text, r, walks[key], whole, baseline=key.startswith("raw"))
            if also_list:
                for key, walk_key, text in (
                        ("json_one_page_s", "one_page_s", "JSON, one page"),
                        ("json_pages_s", "page_ms", f"JSON, pages of {page}"),
                        ("table_pages_s", "table_pages_s", f"Table, pages of {page}"),
                        ("raw_one_page_s", "raw_one_page_s", "raw list, one page"),
                        ("raw_pages_s", "raw_page_ms", f"raw list, pages of {page}")):
                    self._record_walk("list", key, f"list {label}, {text}", r, walks[walk_key], size, total=True,
                                      baseline=key.startswith("raw"))
        ark.close()
        raw.close()

    def _analyze(self) -> None:
        """PostgreSQL: fresh planner statistics before lists (the creates of the write rounds
        changed the tables a lot), so that a plan does not hang on when autovacuum came by."""
        if self.postgres:
            assert self.database is not None
            connection = postgres_connect(self.database.settings)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            connection.close()

    def _record_walk(self, scenario: str, key: str, label: str, r: int, walk: measure.Walk, expect: int | None,
                     total: bool = False, baseline: bool = False) -> None:
        if expect is not None and walk.items != expect:
            raise measure.MeasureError(f"{label}: {walk.items} items, expected {expect}")
        value, unit = (walk.total_seconds, "s") if total else (walk.median_page_ms, "ms")
        self.results.figure(scenario, key, label, unit, baseline).add(
            r, value, pages=len(walk.page_seconds), items=walk.items,
            page_ms=[round(s * 1000, 2) for s in walk.page_seconds[:50]])

    # Phases 2-4 ---------------------------------------------------------------------------

    def _phase_list_size(self) -> None:
        self._grow(self.profile.list_size)
        self._list_rounds(self.profile.list_size)

    def _phase_memory_size(self) -> None:
        self._grow(self.profile.memory_size)
        assert self.ark is not None
        size = self.profile.memory_size
        boot = sum(self.ark.rss().values())
        endpoint = self.ark.endpoint()
        for r in self.rounds():
            connection, worker = self.ark.connect_to(lambda: endpoint.connect(timeout=600))
            walk = measure.walk(connection, objects.collection(objects.LIST_NS), None, accept=objects.TABLE)
            connection.close()
            if walk.items != size:
                raise measure.MeasureError(f"a Table of {size} objects had {walk.items} rows")
            rss = self.ark.rss()
            self.results.figure("memory", "table_rss_mib", f"RSS of the worker that listed {size:,} as a Table",
                                "MiB").add(r, rss[worker] / MIB, seconds=round(walk.total_seconds, 3),
                                           all_workers_mib={str(p): round(b / MIB, 1) for p, b in rss.items()},
                                           boot_mib=round(boot / MIB, 1))
            self.results.figure("memory", "table_one_page_s", f"Table of {size:,}, one page", "s").add(
                r, walk.total_seconds)

    def _phase_large_store(self, cleanup: ExitStack) -> None:
        self._grow(self.profile.large)
        if self.wants("pages"):
            self._list_rounds(self.profile.large)
        if self.wants("scaling"):
            small_db = cleanup.enter_context(
                migrated_database(self.driver, self.workdir / "small.db", prefix="ark_bench_small"))
            seed.seed(small_db.settings, self.template, RESOURCE, objects.LIST_NS, SEED_PREFIX,
                      range(self.profile.small))
            self.small_store = start_ark("ark-small-store", small_db, self.workdir / "ark-small-store", workers=2)
            self._warm(self.small_store)
            self._growth_rounds()
            self.small_store.stop()  # before its database is dropped

    def _growth_rounds(self) -> None:
        assert self.ark is not None and self.small_store is not None
        names = self._get_names()
        self._analyze()
        create_path, get_path = objects.collection(objects.CREATE_NS), objects.collection(objects.LIST_NS)
        for r in self.rounds():
            for server, size in ((self.ark, "large"), (self.small_store, "small")):
                load = self._wrk(server, "create", self._create_args(f"g{r}-{size}", create_path), 201)
                self._record_load("scaling", f"create_{size}", f"creates/s, {size} store", r, load)
            for server, size in ((self.ark, "large"), (self.small_store, "small")):
                load = self._wrk(server, "get", {"path": get_path, "data": names}, 200)
                self._record_load("scaling", f"get_{size}", f"gets/s, {size} store", r, load)
