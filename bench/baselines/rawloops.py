"""In-process loops that show what the database itself allows, with no HTTP, TLS or JSON:
commits of one row each, and PostgreSQL's NOTIFY→LISTEN delivery. Bounded in count and time."""
from __future__ import annotations

import select
import time
from pathlib import Path

from ark.settings import Settings
from bench.baselines.config import postgres_connect, sqlite_connect

CREATE = "CREATE TABLE bench_raw_commits (name TEXT PRIMARY KEY, body TEXT NOT NULL)"
DROP = "DROP TABLE IF EXISTS bench_raw_commits"
INSERT_SQLITE = "INSERT INTO bench_raw_commits VALUES (?, ?)"
INSERT_POSTGRES = "INSERT INTO bench_raw_commits VALUES (%s, %s)"


def sqlite_commits(path: Path, synchronous: str, body: str, seconds: float, limit: int) -> float:
    """Commits/s of one INSERT each (``BEGIN IMMEDIATE``, WAL, ``synchronous``) on a fresh file."""
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    connection = sqlite_connect(path, synchronous)
    connection.execute(CREATE)
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while done < limit and time.perf_counter() < deadline:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(INSERT_SQLITE, (f"raw-{done}", body))
        connection.execute("COMMIT")
        done += 1
    rate = done / (time.perf_counter() - started)
    connection.close()
    return rate


def postgres_commits(settings: Settings, body: str, seconds: float, limit: int) -> float:
    """Commits/s of one INSERT each, autocommit, on one connection (a fresh table each call)."""
    connection = postgres_connect(settings)
    with connection.cursor() as cursor:
        cursor.execute(DROP)
        cursor.execute(CREATE)
        done, started = 0, time.perf_counter()
        deadline = started + seconds
        while done < limit and time.perf_counter() < deadline:
            cursor.execute(INSERT_POSTGRES, (f"raw-{done}", body))
            done += 1
        rate = done / (time.perf_counter() - started)
        cursor.execute(DROP)
    connection.close()
    return rate


def notify_listen_ms(settings: Settings, samples: int, timeout: float = 5.0) -> list[float]:
    """Milliseconds from a NOTIFY's commit returning to its delivery on a LISTEN connection."""
    listener, notifier = postgres_connect(settings), postgres_connect(settings)
    try:
        with listener.cursor() as cursor:
            cursor.execute("LISTEN bench_raw")
        latencies = []
        with notifier.cursor() as cursor:
            for sample in range(samples):
                cursor.execute("NOTIFY bench_raw, %s", (str(sample),))
                committed = time.perf_counter()
                while not any(n.payload == str(sample) for n in listener.notifies):
                    if not select.select([listener], [], [], timeout)[0]:
                        raise TimeoutError(f"NOTIFY {sample} was not delivered within {timeout}s")
                    listener.poll()
                latencies.append((time.perf_counter() - committed) * 1000)
                listener.notifies.clear()
        return latencies
    finally:
        listener.close()
        notifier.close()
