"""How long ``python -m ark import`` takes for many objects, on each database.

    .venv/bin/python -m bench.bench_import [--objects 10000] [--driver sqlite|postgresql|both]

Writes one manifest of N objects (Agents, Tools and Queries asking those agents, spread over ten
namespaces, every object labelled), then times three runs of the real command in a fresh
database: the first import (every object created and checked by admission), the same import
again (every object unchanged: nothing written) and, on PostgreSQL when both databases run,
``copy-storage`` of the SQLite result into it. Prints seconds and objects per second; no target
is asserted (the figures depend on the machine).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.harness import POSTGRES, REPO, Database, empty_database, migrated_database

NAMESPACES = 10
V1 = "ark.mckinsey.com/v1alpha1"


def manifests(count: int) -> list[dict[str, Any]]:
    """``count`` objects: per namespace a third agents, a third tools, a third queries."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        namespace, n = f"bench-{i % NAMESPACES}", i // NAMESPACES
        labels = {"app.kubernetes.io/part-of": "bench", "shard": str(n % 7)}
        meta = {"name": f"o-{n}", "namespace": namespace, "labels": labels}
        if n % 3 == 0:
            out.append({"apiVersion": V1, "kind": "Agent", "metadata": meta,
                        "spec": {"prompt": f"You are helper number {n}.", "description": "A benchmark agent."}})
        elif n % 3 == 1:
            out.append({"apiVersion": V1, "kind": "Tool", "metadata": meta,
                        "spec": {"type": "http", "description": "Fetches a page.",
                                 "http": {"url": f"https://example.com/{n}", "method": "GET"}}})
        else:
            out.append({"apiVersion": V1, "kind": "Query", "metadata": meta,
                        "spec": {"input": f"Question {n}?", "target": {"type": "agent", "name": f"o-{n - n % 3}"}}})
    return out


def timed(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ark", *args], cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"ark {args[0]} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def report(label: str, count: int, seconds: float) -> None:
    print(f"{label:<40} {count:>6} objects  {seconds:7.2f} s  {count / seconds:8.0f} objects/s", flush=True)


def postgres_url(db: Database) -> str:
    return f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{db.postgres_name}?sslmode=disable"


def run(count: int, drivers: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as work:
        manifest = Path(work) / "objects.yaml"
        manifest.write_text(yaml.safe_dump_all(manifests(count), sort_keys=False))
        sqlite_file = Path(work) / "ark.db"
        for driver in drivers:
            with migrated_database(driver, sqlite_file, prefix="ark_bench") as db:
                report(f"{driver}: import (all created)", count, timed("import", *db.flags, str(manifest)))
                report(f"{driver}: import again (all unchanged)", count, timed("import", *db.flags, str(manifest)))
        if drivers == ["sqlite", "postgresql"]:
            with empty_database("postgresql", sqlite_file, prefix="ark_bench") as target:
                report("copy-storage sqlite -> postgresql", count,
                       timed("copy-storage", "--from", f"sqlite:{sqlite_file}", "--to", postgres_url(target)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000, help="objects to import (default 10000)")
    parser.add_argument("--driver", choices=("sqlite", "postgresql", "both"), default="both")
    options = parser.parse_args(argv)
    run(options.objects, ["sqlite", "postgresql"] if options.driver == "both" else [options.driver])


if __name__ == "__main__":
    main()
