"""Cross-process wake-ups for SQLite, which has no NOTIFY: unix datagram sockets, no broker.

Every process whose change feed follows one database file binds a datagram socket in a
directory derived from that file's real path (in the system's temporary directory, mode 0700),
and every commit sends its revision, a few bytes, to each other socket there. A wake-up only
says "read the change log now": the log stays the only truth, so a lost or late datagram costs
nothing but latency, and the feed's poll stays the fallback (a reader on another host that
shares the file, a full socket buffer, a worker that started a moment ago).

A worker killed with SIGKILL leaves its socket file behind; the first send to it is refused,
and the sender removes it.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import tempfile
import uuid
from pathlib import Path

import gevent.socket

SOCKET_SUFFIX = ".wake"


def directory_for(database_path: str) -> Path:
    """Where the processes of one database file meet (a short path: socket paths are limited to 107 bytes)."""
    digest = hashlib.sha256(os.path.realpath(database_path).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"ark-wake-{digest}"


class Wakeups:
    """This process's end: a socket to receive wake-ups on, and the list of the others to send to."""

    def __init__(self, database_path: str) -> None:
        self.directory = directory_for(database_path)
        self.path: Path | None = None
        self._receiver: gevent.socket.socket | None = None
        self._sender: socket.socket | None = None
        self._peers: list[str] = []
        self._listed: int | None = None  # the directory's mtime when it was last listed

    def open(self) -> None:
        """Bind this process's socket (in the worker, after fork)."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SOCKET_SUFFIX}"
        receiver = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(str(path))
        self._receiver, self.path = receiver, path

    def close(self) -> None:
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None
            with contextlib.suppress(OSError):  # the last process of this database leaves no directory behind
                self.directory.rmdir()

    def receive(self) -> int | None:
        """Wait (yielding to other greenlets) for the next wake-up: the revision it announces, or
        None when the datagram is not one."""
        assert self._receiver is not None, "open() first"
        data = self._receiver.recv(64)
        return int(data) if data.isdigit() else None

    def send(self, rv: int) -> None:
        """Tell every other process of this database that revision ``rv`` is committed. Never
        blocks: a peer whose buffer is full already has wake-ups to read."""
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        payload = str(rv).encode()
        for peer in self._current_peers():
            try:
                self._sender.sendto(payload, peer)
            except OSError as err:
                if err.errno in (errno.ECONNREFUSED, errno.ENOENT):  # its process is gone
                    with contextlib.suppress(OSError):
                        os.unlink(peer)
                    self._listed = None

    def _current_peers(self) -> list[str]:
        """The other sockets, listed again only when the directory changed (one stat per send)."""
        try:
            mtime = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if mtime != self._listed:
            own = None if self.path is None else self.path.name
            self._peers = [str(self.directory / name) for name in os.listdir(self.directory)
                           if name.endswith(SOCKET_SUFFIX) and name != own]
            self._listed = mtime
        return self._peers
