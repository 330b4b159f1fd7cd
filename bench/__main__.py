"""``python -m bench``: run the benchmark (``make bench``) and write ``bench/results/``.

    python -m bench [--driver sqlite|postgresql] [--quick] [--scenarios create,get,...] [--rounds N]

Runs the real server (``python -m ark serve``, 2 gevent workers, TLS) on SQLite and then on
PostgreSQL (a fresh database at 127.0.0.1:5432, dropped after), loads it with wrk beside the
baselines of ``bench/baselines``, and writes ``latest.json``, ``latest.md`` and PNG plots.
See ``bench/README.md`` for what each scenario measures.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from bench import plots, procfs, report
from bench.loadgen import LoadError, wrk_binary, wrk_version
from bench.profiles import PROFILES, Profile
from bench.results import DriverResults
from bench.run import DriverRun
from bench.scenarios import SCENARIOS
from tests.harness import POSTGRES, REPO

RESULTS = REPO / "bench" / "results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--driver", choices=report.DRIVERS, action="append",
                        help="run on this database only (repeatable; default: both)")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="shorter loads, fewer samples, smaller stores")
    speed.add_argument("--smoke", action="store_true", help="tiny counts: proves every scenario runs (make test)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated (default: all)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default: the profile's, 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where results go (default {RESULTS})")
    parser.add_argument("--workdir", type=Path, help="keep the servers' logs and SQLite files here (default: a "
                        "temporary directory, removed at the end)")
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()


def machine_info() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    postgres_version = None
    try:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=3, **POSTGRES)
        postgres_version = connection.server_version
        connection.close()
    except psycopg2.OperationalError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(memory_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "postgresql": postgres_version, "wrk": wrk_version(), "load_at_start": procfs.load_average()}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    profile: Profile = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.rounds:
        profile = Profile(**{**profile.__dict__, "rounds": args.rounds})
    try:
        wrk_binary()
    except LoadError as err:
        print(err, file=sys.stderr)
        return 2
    # The servers inherit this: a worker holding 10,000 watches needs more than the usual 1,024 descriptors.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    selected = set(args.scenarios.split(","))
    drivers = args.driver or list(report.DRIVERS)
    if "postgresql" in drivers:
        try:
            psycopg2.connect(dbname="postgres", connect_timeout=3, **POSTGRES).close()
        except psycopg2.OperationalError as err:
            print(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({' '.join(str(err).split())}): start it, "
                  "or pass --driver sqlite", file=sys.stderr)
            return 2
    started, clock = datetime.now(UTC), time.monotonic()
    scenarios = sorted(selected, key=list(SCENARIOS).index)
    header: dict[str, Any] = {"schema": 1, "started": started.isoformat(timespec="seconds"), "profile": profile.name,
              "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "ark")),
              "machine": machine_info(), "scenarios": scenarios,
              "settings": {"workers": 2, "load": f"wrk, {profile.load.connections} connections, "
                           f"{profile.load.threads} threads, {profile.load.seconds} s per run",
                           "profile": profile.__dict__ | {"load": profile.load.__dict__}}}
    results: dict[str, DriverResults] = {}
    with tempfile.TemporaryDirectory(prefix="ark-bench-") as scratch:
        for driver in drivers:
            print(f"==> {driver}: {', '.join(scenarios)} ({profile.name})", flush=True)
            workdir = (args.workdir or Path(scratch)) / driver
            workdir.mkdir(parents=True)
            results[driver] = DriverRun(driver, profile, selected, workdir).run()
    header["duration_seconds"] = round(time.monotonic() - clock, 1)
    header["load_at_end"] = procfs.load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    drawn = plots.draw_all(results, args.out)
    (args.out / "latest.json").write_text(json.dumps(report.to_json(results, profile, header), indent=1) + "\n")
    (args.out / "latest.md").write_text(report.to_markdown(results, profile, header, drawn))
    print(f"wrote {args.out / 'latest.md'} ({header['duration_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
