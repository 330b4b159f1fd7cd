"""API throughput and watch latency against a real server, with raw baselines from the same run.

    .venv/bin/python bench/bench_api.py [--driver sqlite|postgresql] [--objects 10000] [--workers 2]

Starts ``python -m ark serve`` on a fresh database on loopback, then measures creates/s,
gets/s (8 client threads), the time of a full list of all objects (median of 5) and the
latency from a write's response to its watch event (median of 50). Baselines: raw SQLite
(or PostgreSQL) commits/s of the same JSON bodies, one transaction each, measured here too,
so a ratio survives a noisy machine. Every loop is bounded in count and in time.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import requests

REPO = Path(__file__).resolve().parents[1]
THREADS = 8
TIME_LIMIT = 120.0  # seconds per phase, whatever the object count


def body(name: str) -> dict:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": {"name": name},
            "spec": {"input": "what is the weather in Paris?", "target": {"type": "agent", "name": "weather"}}}


def session(ca: Path) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(ca)
    return s


def start(flags: list[str], workdir: Path, workers: int) -> tuple[subprocess.Popen, str, Path]:
    subprocess.run([sys.executable, "-m", "ark", "migrate", *flags], cwd=REPO, check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    process = subprocess.Popen([sys.executable, "-m", "ark", "serve", *flags, "--secure-port", str(port),
                                "--cert-dir", str(workdir / "certs"), "--workers", str(workers)],
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url, ca = f"https://127.0.0.1:{port}", workdir / "certs" / "ca.crt"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if ca.exists() and session(ca).get(url + "/readyz", timeout=2).status_code == 200:
                return process, url, ca
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start: see " + str(workdir / "server.log"))


def parallel(items: list, work, limit: float = TIME_LIMIT) -> tuple[int, float]:
    """Run ``work(session_index, item)`` over items with THREADS threads; (done, seconds)."""
    deadline = time.monotonic() + limit
    done = 0
    lock = threading.Lock()

    def run(chunk_index: int) -> None:
        nonlocal done
        for item in items[chunk_index::THREADS]:
            if time.monotonic() > deadline:
                return
            work(chunk_index, item)
            with lock:
                done += 1

    start_time = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, range(THREADS)))
    return done, time.perf_counter() - start_time


def raw_sqlite_commits(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, body TEXT)")
    start_time = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (f"q{i}", json.dumps(body(f"q{i}"))))
        conn.execute("COMMIT")
    return count / (time.perf_counter() - start_time)


def raw_postgres_commits(database: str, count: int) -> float:
    conn = psycopg2.connect(host="127.0.0.1", dbname=database, user="postgres")
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE raw_baseline (k TEXT PRIMARY KEY, body TEXT)")
    conn.commit()
    start_time = time.perf_counter()
    for i in range(count):
        with conn.cursor() as cur:
            cur.execute("INSERT INTO raw_baseline VALUES (%s, %s)", (f"q{i}", json.dumps(body(f"q{i}"))))
        conn.commit()
    conn.close()
    return count / (time.perf_counter() - start_time)


def watch_latency(url: str, ca: Path, base: str, samples: int) -> list[float]:
    listed = session(ca).get(base).json()["metadata"]["resourceVersion"]
    stream = session(ca).get(f"{base}?watch=true&resourceVersion={listed}&timeoutSeconds=120", stream=True,
                             timeout=130)
    lines = stream.iter_lines()
    writer = session(ca)
    latencies = []
    for i in range(samples):
        writer.post(base, json=body(f"watched-{i}")).raise_for_status()
        written = time.perf_counter()
        event = json.loads(next(lines))
        assert event["object"]["metadata"]["name"] == f"watched-{i}", event
        latencies.append(time.perf_counter() - written)
    stream.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--objects", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ark-bench-"))
    database = None
    if args.driver == "sqlite":
        flags = ["--storage-driver", "sqlite", "--sqlite-path", str(workdir / "ark.db")]
        baseline = raw_sqlite_commits(workdir / "raw.db", min(args.objects, 5000))
    else:
        database = f"ark_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(host="127.0.0.1", dbname="postgres", user="postgres")
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {database}")
        flags = ["--storage-driver", "postgresql", "--postgres-db", database, "--postgres-sslmode", "disable"]
        baseline = raw_postgres_commits(database, min(args.objects, 5000))
    process, url, ca = start(flags, workdir, args.workers)
    try:
        base = f"{url}/apis/ark.mckinsey.com/v1alpha1/namespaces/bench/queries"
        sessions = [session(ca) for _ in range(THREADS)]
        names = [f"q{i}" for i in range(args.objects)]
        created, seconds = parallel(names, lambda t, n: sessions[t].post(base, json=body(n)).raise_for_status())
        creates = created / seconds
        got, seconds = parallel(names, lambda t, n: sessions[t].get(f"{base}/{n}").raise_for_status())
        gets = got / seconds
        list_times = []
        for _ in range(5):
            start_time = time.perf_counter()
            items = session(ca).get(base).json()["items"]
            list_times.append(time.perf_counter() - start_time)
        latencies = watch_latency(url, ca, base, 50)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if database:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    print(f"driver {args.driver}, {args.workers} workers, {THREADS} client threads, cores {os.cpu_count()}")
    print(f"raw baseline: {baseline:8.0f} commits/s (one JSON row per transaction, same run)")
    print(f"creates:      {creates:8.0f} /s   ratio to raw commits {creates / baseline:.2f}  ({created} objects)")
    print(f"gets:         {gets:8.0f} /s")
    print(f"list:         {statistics.median(list_times) * 1000:8.1f} ms median for {len(items)} objects")
    print(f"watch event:  {statistics.median(latencies) * 1000:8.1f} ms median after the write's response "
          f"(p90 {sorted(latencies)[int(len(latencies) * 0.9)] * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
