"""What Linux's /proc says about the servers under test: their worker processes, memory, CPU
time, and which worker holds a given connection.

Memory is each worker's resident set (``VmRSS``), CPU time is user + system from
``/proc/PID/stat``. A connection is traced to its worker through ``/proc/net/tcp`` (the
server side of the socket pair, by its client port) and the workers' open file descriptors.
Reading other processes' descriptors needs the same user or root; the benchmark starts the
servers itself, so they are its own.
"""
from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TCP_LISTEN, TCP_TIME_WAIT = "0A", "06"


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers, for a server's master process)."""
    found: list[int] = []
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except FileNotFoundError:  # the task ended meanwhile
            continue
    return sorted(set(found))


def rss_bytes(pid: int) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"process {pid} has no VmRSS (a zombie?)")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by ``pids`` (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    fd_dir = PROC / str(pid) / "fd"
    for entry in os.scandir(fd_dir):
        try:
            target = os.readlink(entry.path)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def socket_count(pid: int) -> int:
    """Open sockets of a process (a server worker: its listening socket and its connections)."""
    return len(_socket_inodes(pid))


def _tcp_rows() -> list[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket of the machine."""
    rows = []
    with open(PROC / "net" / "tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            rows.append((int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16), fields[3],
                         int(fields[9])))
    return rows


def worker_of_connection(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """The worker (among ``workers``) whose socket is the server side of the connection that
    the client made from ``client_port``; None when no worker has accepted it (yet)."""
    inodes = [inode for local, remote, _state, inode in _tcp_rows()
              if local == server_port and remote == client_port]
    if not inodes:
        return None
    for pid in workers:
        if inodes[0] in _socket_inodes(pid):
            return pid
    return None


def open_connections(server_port: int) -> int:
    """Server-side sockets on ``server_port`` that are not closed yet (neither listening nor in
    TIME_WAIT): what the server still holds for its clients."""
    return sum(1 for local, _remote, state, _inode in _tcp_rows()
               if local == server_port and state not in (TCP_LISTEN, TCP_TIME_WAIT))
