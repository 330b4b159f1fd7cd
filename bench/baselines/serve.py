"""Serve the baseline apps on the Ark server's own stack.

    python -m bench.baselines.serve --scratch-dir DIR --template FILE [ark serve's flags]

Takes ``python -m ark serve``'s flags (the database is the Ark server's: the raw list reads
it) and runs gunicorn with ``ark.server.gunicorn_options`` for them, so workers, TLS, the
certificate, keep-alive and limits are the server's. The minimal create's own tables are made
here, before the workers start.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flask import Flask, Response

from ark.security.tls import ensure_serving_cert
from ark.server import ArkApplication, gunicorn_options
from ark.settings import Settings
from bench.baselines import create, listing, stream, trivial
from bench.baselines.config import (
    CREATE_MINIMAL_POSTGRES,
    CREATE_MINIMAL_SQLITE,
    DROP_MINIMAL_POSTGRES,
    SQLITE_FLAVOURS,
    Baseline,
    minimal_sqlite_path,
    postgres_connect,
    sqlite_connect,
)


def create_app(baseline: Baseline) -> Flask:
    app = Flask("bench-baselines")
    app.extensions["bench.baseline"] = baseline
    app.extensions["bench.trivial_body"] = trivial.body_for(baseline.template)
    for module in (trivial, create, listing, stream):
        app.register_blueprint(module.blueprint)
    app.add_url_rule("/readyz", "readyz", lambda: Response("ok", mimetype="text/plain"))
    return app


def prepare_tables(settings: Settings, scratch: Path) -> None:
    """Fresh, empty tables for the minimal create (each run starts from nothing, as the server does)."""
    for flavour, synchronous in SQLITE_FLAVOURS.items():
        path = minimal_sqlite_path(scratch, flavour)
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        connection = sqlite_connect(path, synchronous)
        connection.execute(CREATE_MINIMAL_SQLITE)
        connection.close()
    if settings.storage_driver == "postgresql":
        connection = postgres_connect(settings)
        with connection.cursor() as cursor:
            cursor.execute(DROP_MINIMAL_POSTGRES)
            cursor.execute(CREATE_MINIMAL_POSTGRES)
        connection.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--scratch-dir", type=Path, required=True, help="where the minimal create's SQLite files go")
    parser.add_argument("--template", type=Path, required=True, help="a Query as JSON, as the server returned it")
    args, ark_flags = parser.parse_known_args(argv)
    settings = Settings.load(ark_flags, env={})
    args.scratch_dir.mkdir(parents=True, exist_ok=True)
    prepare_tables(settings, args.scratch_dir)
    template = json.loads(args.template.read_text())
    options = gunicorn_options(settings, ensure_serving_cert(settings))
    options["proc_name"] = "ark-bench-baseline"
    # Built in each worker after fork, like the server's app: connections are per worker.
    ArkApplication(options, app_factory=lambda: create_app(Baseline(settings, args.scratch_dir, template))).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
