"""The fan-out client: thousands of idle streams held open in one process, and for one event
the time from its trigger to each stream's first bytes.

The benchmark runs it as ``python -m bench.fanout URL CA_FILE``, one process per server
(each has its own file-descriptor limit: 10,000 TLS connections fit), and speaks one JSON
object per line on stdin/stdout (:class:`FanoutProcess` is that side). Commands:

* ``open`` ``{"path", "count"}``: open ``count`` more streams of ``path`` (8 handshakes at a time);
* ``triggers`` ``{"workers": [pid, ...] | null}``: connections to send triggers on, one on each of
  those worker processes (found through /proc), or just one;
* ``fire`` ``{"requests": [{"method", "path", "body", "content_type"}], "token", "timeout"}``: send
  one request on each trigger connection, then wait (epoll, no TLS work) until every stream's
  socket has bytes or ``timeout`` passes; only then read and check that each stream got one
  event line naming ``token``. Arrival is when the bytes reach the socket, so the client's own
  decryption does not count against the server;
* ``close``: close every stream.
"""
from __future__ import annotations

import json
import resource
import select
import ssl
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import procfs
from bench.https import ChunkedLines, Endpoint, open_stream, raw_request, read_response
from bench.measure import percentile

HANDSHAKES_IN_FLIGHT = 8
TRIGGER_ATTEMPTS = 64
READ_TIMEOUT = 10.0


class Fanout:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.streams: list[ssl.SSLSocket] = []
        self.decoders: dict[int, ChunkedLines] = {}
        self.triggers_: list[ssl.SSLSocket] = []

    def _open_one(self, path: str) -> ssl.SSLSocket:
        sock = self.endpoint.tls_socket(timeout=60)
        rest = open_stream(sock, path, self.endpoint.host)
        decoder = ChunkedLines()
        if decoder.feed(rest):
            raise ConnectionError(f"GET {path} sent an event before any was made")
        self.decoders[sock.fileno()] = decoder
        return sock

    def open(self, path: str, count: int) -> dict:
        started = time.perf_counter()
        with ThreadPoolExecutor(HANDSHAKES_IN_FLIGHT) as pool:  # ssl releases the GIL in handshakes
            self.streams.extend(pool.map(lambda _: self._open_one(path), range(count)))
        return {"streams": len(self.streams), "seconds": round(time.perf_counter() - started, 3)}

    def triggers(self, workers: list[int] | None) -> dict:
        for sock in self.triggers_:
            sock.close()
        self.triggers_ = []
        if not workers:
            self.triggers_.append(self.endpoint.tls_socket(timeout=60))
            return {"triggers": 1}
        wanted = set(workers)
        for _ in range(TRIGGER_ATTEMPTS):
            sock = self.endpoint.tls_socket(timeout=60)
            worker = procfs.worker_of_connection(self.endpoint.port, sock.getsockname()[1], workers)
            if worker in wanted:
                wanted.discard(worker)
                self.triggers_.append(sock)
            else:
                sock.close()
            if not wanted:
                return {"triggers": len(self.triggers_)}
        raise RuntimeError(f"no connection reached worker(s) {sorted(wanted)} in {TRIGGER_ATTEMPTS} attempts")

    def fire(self, requests: list[dict], token: str, timeout: float) -> dict:
        poller = select.epoll()
        by_fd = {sock.fileno(): sock for sock in self.streams}
        for fd in by_fd:
            poller.register(fd, select.EPOLLIN)
        early = [fd for fd, _ in poller.poll(0, len(by_fd) or 1)] + [s.fileno() for s in self.streams if s.pending()]
        if early:
            raise RuntimeError(f"{len(early)} stream(s) had data before the event was triggered")
        payloads = [raw_request(r["method"], r["path"], self.endpoint.host, r.get("body", ""),
                                r.get("content_type", "application/json")) for r in requests]
        arrivals: dict[int, float] = {}
        started = time.perf_counter()
        for sock, payload in zip(self.triggers_, payloads, strict=True):
            sock.sendall(payload)
        deadline = started + timeout
        while len(arrivals) < len(by_fd):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            for fd, _ in poller.poll(remaining, len(by_fd)):
                arrivals[fd] = time.perf_counter()
                poller.unregister(fd)
        poller.close()
        statuses = [read_response(sock)[0] for sock in self.triggers_]
        verified = sum(self._received(by_fd[fd], token) for fd in arrivals)
        delays = [(at - started) * 1000 for at in arrivals.values()]
        return {"streams": len(by_fd), "delivered": len(arrivals), "verified": verified, "trigger_statuses": statuses,
                "last_ms": max(delays) if delays else None, "first_ms": min(delays) if delays else None,
                "p50_ms": statistics.median(delays) if delays else None,
                "p99_ms": percentile(delays, 99) if delays else None}

    def _received(self, sock: ssl.SSLSocket, token: str) -> bool:
        """Read the stream's event line; True if it is the one event, naming ``token``."""
        decoder = self.decoders[sock.fileno()]
        sock.settimeout(READ_TIMEOUT)
        lines: list[bytes] = []
        while not lines:
            data = sock.recv(65536)
            if not data:
                return False
            lines = decoder.feed(data)
        return len(lines) == 1 and f'"name":"{token}"'.encode() in lines[0] and b'"type":"ADDED"' in lines[0]

    def close(self) -> dict:
        for sock in self.streams + self.triggers_:
            sock.close()
        closed = len(self.streams)
        self.streams, self.triggers_ = [], []
        self.decoders.clear()
        return {"closed": closed}


def main(argv: list[str]) -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fanout = Fanout(Endpoint.of(argv[0], Path(argv[1])))
    for line in sys.stdin:
        command = json.loads(line)
        operation = command.pop("op")
        try:
            reply = getattr(fanout, operation)(**command)
        except Exception as err:  # noqa: BLE001 - reported to the benchmark, which stops
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), flush=True)
    fanout.close()
    return 0


class FanoutProcess:
    """The benchmark's side: one ``python -m bench.fanout`` process, driven command by command."""

    def __init__(self, url: str, ca_file: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.fanout", url, str(ca_file)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        cwd=Path(__file__).resolve().parents[1])

    def call(self, op: str, **arguments) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fan-out client exited ({self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"fan-out client, {op}: {reply['error']}")
        return reply

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
