"""A small HTTPS client for what wrk cannot do: list walks, watch streams, one write at a time.

``http.client`` on a kept-alive connection costs far less per request than ``requests``, and
its socket is at hand, so :mod:`bench.procfs` can tell which server worker holds it. Watch
streams are read straight off the TLS socket with a chunked-encoding decoder, so the time an
event arrives is taken when its bytes do.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


class ClientSide(Protocol):
    """A client connection, as :meth:`bench.servers.Running.connect_to` needs it."""

    client_port: int

    def close(self) -> None: ...


def tls_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens and how to trust it."""

    host: str
    port: int
    context: ssl.SSLContext

    @classmethod
    def of(cls, url: str, ca_file: Path) -> Endpoint:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 443, tls_context(ca_file))

    def connect(self, timeout: float = 30) -> Connection:
        return Connection(self, timeout)

    def tls_socket(self, timeout: float) -> ssl.SSLSocket:
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.context.wrap_socket(raw, server_hostname=self.host)


class Connection:
    """One kept-alive HTTPS connection; ``request`` returns (status, body)."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self._http = http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=timeout,
                                                 context=endpoint.context)
        self._http.connect()  # now: the TLS handshake is done, so a server worker has accepted it
        self.client_port: int = self._http.sock.getsockname()[1]

    def request(self, method: str, path: str, body: str | bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self._http.request(method, path, body=body, headers=headers or {})
        response = self._http.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._http.close()


class ChunkedLines:
    """Decodes an HTTP/1.1 chunked body fed in pieces into complete newline-ended lines."""

    def __init__(self) -> None:
        self._raw = b""
        self._data = b""
        self.ended = False

    def feed(self, data: bytes) -> list[bytes]:
        self._raw += data
        while True:
            header_end = self._raw.find(b"\r\n")
            if header_end < 0:
                break
            size = int(self._raw[:header_end].split(b";")[0], 16)
            if size == 0:
                self.ended = True
                break
            chunk_end = header_end + 2 + size
            if len(self._raw) < chunk_end + 2:
                break
            self._data += self._raw[header_end + 2:chunk_end]
            self._raw = self._raw[chunk_end + 2:]
        *lines, self._data = self._data.split(b"\n")
        return [line for line in lines if line]


def read_head(sock: ssl.SSLSocket) -> tuple[int, bytes, bytes]:
    """Read a response's status line and headers: (status, the headers, the body bytes read with them)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection before its response headers")
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    return int(head.split(b" ", 2)[1]), head.lower(), rest


def read_response(sock: ssl.SSLSocket) -> tuple[int, bytes]:
    """A whole response with a Content-Length (every non-streaming answer of the servers)."""
    status, head, body = read_head(sock)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.startswith(b"content-length:"))
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection in the middle of a response")
        body += data
    return status, body


def raw_request(method: str, path: str, host: str, body: str = "", content_type: str = "application/json") -> bytes:
    data = body.encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def open_stream(sock: ssl.SSLSocket, path: str, host: str) -> bytes:
    """Send a streaming GET on ``sock`` and read its headers; returns the body bytes read with them."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode())
    status, head, rest = read_head(sock)
    if status != 200:
        raise ConnectionError(f"GET {path} answered {status}: {rest[:300]!r}")
    if b"transfer-encoding: chunked" not in head:
        raise ConnectionError(f"GET {path}: a stream must be chunked, got {head!r}")
    return rest


class Stream:
    """A long-lived chunked GET (a watch, or the baseline's stream) read line by line, each line
    stamped with ``time.perf_counter()`` when its last bytes arrived."""

    def __init__(self, endpoint: Endpoint, path: str, timeout: float = 30) -> None:
        self.sock = endpoint.tls_socket(timeout)
        self.client_port: int = self.sock.getsockname()[1]
        rest = open_stream(self.sock, path, endpoint.host)
        self._decoder = ChunkedLines()
        self._pending = [(time.perf_counter(), line) for line in self._decoder.feed(rest)]

    def next_line(self, timeout: float) -> tuple[float, bytes]:
        """(arrival time, line); raises TimeoutError after ``timeout`` seconds without one."""
        self.sock.settimeout(timeout)
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the stream ended")
            arrived = time.perf_counter()
            self._pending.extend((arrived, line) for line in self._decoder.feed(data))
        return self._pending.pop(0)

    def close(self) -> None:
        self.sock.close()
