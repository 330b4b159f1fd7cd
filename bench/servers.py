"""The processes under test: the Ark server (``python -m ark serve``, started as the tests
start it, see ``tests/harness.py``) and the baseline server, with what /proc says of them."""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench import procfs
from bench.https import ClientSide, Endpoint
from tests.harness import Database, Served, free_port, launch, start_server, stop_server

CONNECT_ATTEMPTS = 64
Client = TypeVar("Client", bound=ClientSide)


@dataclass
class Running:
    """A started server: its URL, its processes and a way to reach each of its workers."""

    name: str
    served: Served

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def port(self) -> int:
        return self.served.port

    @property
    def ca_file(self) -> Path:
        return self.served.ca_file

    def endpoint(self) -> Endpoint:
        return Endpoint.of(self.url, self.ca_file)

    def workers(self) -> list[int]:
        return procfs.children(self.served.process.pid)

    def pids(self) -> list[int]:
        """Master and workers: whose CPU time a run costs."""
        return [self.served.process.pid, *self.workers()]

    def rss(self) -> dict[int, int]:
        """Resident bytes of each worker."""
        return {pid: procfs.rss_bytes(pid) for pid in self.workers()}

    def connect_to(self, open_one: Callable[[], Client], *, on: int | None = None,
                   avoid: int | None = None) -> tuple[Client, int]:
        """A connection (made by ``open_one``, which returns something with a ``client_port``)
        that a worker accepted: ``on`` that worker, or on any but ``avoid``. The kernel picks
        the worker, so this tries a bounded number of times."""
        workers = self.workers()
        for _ in range(CONNECT_ATTEMPTS):
            connection = open_one()
            worker = procfs.worker_of_connection(self.port, connection.client_port, workers)
            if worker is not None and (on is None or worker == on) and worker != avoid:
                return connection, worker
            connection.close()
        raise RuntimeError(f"{self.name}: no connection landed where wanted (on={on}, avoid={avoid}) "
                           f"in {CONNECT_ATTEMPTS} attempts")

    def stop(self) -> None:
        stop_server(self.served)


def start_ark(name: str, database: Database, workdir: Path, workers: int) -> Running:
    workdir.mkdir(parents=True, exist_ok=True)
    return Running(name, start_server(database, workdir, workers=workers))


def start_baseline(database: Database, workdir: Path, template_file: Path, workers: int) -> Running:
    """The baseline apps with ``ark serve``'s flags for the same database and worker count."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "bench.baselines.serve", "--scratch-dir", str(workdir / "scratch"),
               "--template", str(template_file), *database.flags, "--bind-address", "127.0.0.1",
               "--secure-port", str(port), "--cert-dir", str(workdir / "certs"), "--workers", str(workers)]
    return Running("baseline", launch(command, workdir, port))
