"""Helpers for the watch tests: streaming readers, writers, and their acknowledgements as the oracle.

Every wait is bounded. A :class:`Stream` reads one watch on its own thread (requests,
``stream=True``), so a test can hold many and check each one's events against what the
:class:`Writer` threads were acknowledged (:class:`Timeline`), never against the server's own
tables.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
import sqlalchemy
from sqlalchemy import select

from ark.storage.dialects import create_engine_for
from ark.storage.tables import revision

GROUP_VERSION = "/apis/ark.mckinsey.com/v1alpha1"
RESOURCE = "queries.ark.mckinsey.com"
Event = tuple[str, str, int]  # (type, name, resourceVersion)


def client_session(server) -> requests.Session:
    """A session on ``server`` that does not keep connections alive between requests.

    An idle keep-alive connection holds a gunicorn worker for its whole graceful timeout when
    the server stops, and requests does not always close them (responses keep the socket); one
    TLS handshake per request is cheaper than ten seconds per server stop. Watches are streamed
    on their own connections and closed by :class:`Stream`."""
    s = server.session()
    s.headers["Connection"] = "close"
    return s


def collection(url: str, namespace: str | None) -> str:
    if namespace is None:
        return f"{url}{GROUP_VERSION}/queries"
    return f"{url}{GROUP_VERSION}/namespaces/{namespace}/queries"


def query(name: str, labels: dict[str, str] | None = None, text: str = "hello") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Query", "metadata": metadata,
            "spec": {"input": text, "selector": {"matchLabels": {"app": "test"}}}}


def create(session: requests.Session, url: str, namespace: str, name: str, labels: dict | None = None,
           text: str = "hello") -> dict:
    response = session.post(collection(url, namespace), json=query(name, labels, text), timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def merge_patch(session: requests.Session, url: str, namespace: str, name: str, patch: dict,
                subresource: str = "") -> requests.Response:
    return session.patch(f"{collection(url, namespace)}/{name}{subresource}", data=json.dumps(patch),
                         headers={"Content-Type": "application/merge-patch+json"}, timeout=30)


def delete(session: requests.Session, url: str, namespace: str, name: str) -> requests.Response:
    return session.delete(f"{collection(url, namespace)}/{name}", timeout=30)


def list_rv(session: requests.Session, url: str, namespace: str | None) -> int:
    response = session.get(collection(url, namespace), timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["metadata"]["resourceVersion"])


# Streams ---------------------------------------------------------------------------------

class Stream:
    """One watch request read on a background thread; events are parsed JSON objects."""

    def __init__(self, session: requests.Session, url: str, params: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, label: str = "") -> None:
        self.label = label or url
        self.events: list[dict] = []
        self.arrivals: list[float] = []
        self.ended = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self.response = session.get(url, params=params, headers=headers, stream=True, timeout=(10, None))
        self.status = self.response.status_code
        self.opened_at = time.monotonic()
        self._thread = threading.Thread(target=self._read, name=f"watch {self.label}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            if self.status != 200:
                self.body = self.response.text
                return
            for line in self.response.iter_lines(chunk_size=None):
                if not line:
                    continue
                event = json.loads(line)
                with self._cond:
                    self.events.append(event)
                    self.arrivals.append(time.monotonic())
                    self._cond.notify_all()
        except Exception as err:  # noqa: BLE001 - a closed stream ends the reader; kept for the test to look at
            self.error = err
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def wait(self, predicate: Callable[[list[dict]], bool], timeout: float) -> bool:
        """Wait until ``predicate(events)`` holds (or the stream ends, or ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended:
                    return predicate(self.events)
                self._cond.wait(remaining)
            return True

    def wait_count(self, count: int, timeout: float) -> bool:
        return self.wait(lambda events: len(events) >= count, timeout)

    def wait_end(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.ended and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return self.ended

    def wait_rv(self, rv: int, timeout: float) -> bool:
        """Wait until an event (bookmarks included) at or after revision ``rv`` arrived."""
        return self.wait(lambda events: any(_rv(e) >= rv for e in events), timeout)

    def changes(self, upto: int | None = None) -> list[Event]:
        """(type, name, rv) of every ADDED/MODIFIED/DELETED event (at or below ``upto``)."""
        return [e[:3] for e in self.changes_with_uids(upto)]

    def changes_with_uids(self, upto: int | None = None) -> list[tuple[str, str, int, str]]:
        """(type, name, rv, uid) of every ADDED/MODIFIED/DELETED event (at or below ``upto``)."""
        with self._cond:
            events = list(self.events)
        out = [(e["type"], e["object"]["metadata"]["name"], _rv(e), e["object"]["metadata"].get("uid", ""))
               for e in events if e["type"] in ("ADDED", "MODIFIED", "DELETED")]
        return [e for e in out if upto is None or e[2] <= upto]

    def types(self) -> list[str]:
        with self._cond:
            return [e["type"] for e in self.events]

    def close(self) -> None:
        """Close the connection under the reader (shutdown wakes a blocked recv) and join it."""
        sock = _socket_of(self.response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        self._thread.join(timeout=5)


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket under a streamed response (urllib3's connection gives it up to the response
    when the server will close the connection: then it is only in http.client's reader)."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is None:
        reader = getattr(getattr(response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock


def _rv(event: dict) -> int:
    obj = event.get("object") or {}
    return int((obj.get("metadata") or {}).get("resourceVersion") or 0)


# The oracle: what the writers were acknowledged ----------------------------------------------

_ENGINES: dict[int, sqlalchemy.Engine] = {}


def engine_for(database) -> sqlalchemy.Engine:
    key = id(database)
    if key not in _ENGINES:
        _ENGINES[key] = create_engine_for(database.settings)
    return _ENGINES[key]


def revisions(database) -> tuple[int, int]:
    """(current revision, compaction floor) of the test database (for tests about compaction)."""
    with engine_for(database).connect() as conn:
        row = conn.execute(select(revision.c.current, revision.c.compacted)).one()
    return row.current, row.compacted


@dataclass(frozen=True)
class Ack:
    """One write as the server's response acknowledged it. A delete answered with a Status
    carries the deleted object's uid but no resourceVersion."""

    name: str
    uid: str
    rv: int | None
    labels: dict[str, str]


@dataclass
class Lifetime:
    """One object (one uid) from its create to its delete, as the acknowledgements show it."""

    name: str
    uid: str
    states: dict[int, dict[str, str]] = field(default_factory=dict)  # rv -> labels
    deleted: bool = False
    next_create: float = float("inf")  # the create of the next object of the same name

    @property
    def created(self) -> int:
        return min(self.states)


class Timeline:
    """Every acknowledged write of one namespace, per object: the oracle the watchers are held to.

    Every write the server committed was acknowledged to a writer (a writer that gets no answer
    fails the test), so the acknowledgements are the whole history. A DELETED event's revision is
    not in its acknowledgement, only bounded: after the object's last acknowledged revision and
    before the next object of the same name was created; the event is matched by the uid it
    carries."""

    def __init__(self, acks: Iterable[Ack]) -> None:
        lifetimes: dict[str, Lifetime] = {}
        for ack in acks:
            life = lifetimes.setdefault(ack.uid, Lifetime(ack.name, ack.uid))
            if ack.rv is None:
                life.deleted = True
            else:
                life.states[ack.rv] = ack.labels
        self.lifetimes = sorted((life for life in lifetimes.values() if life.states), key=lambda life: life.created)
        assert len(self.lifetimes) == len(lifetimes), "a delete was acknowledged for an object never created"
        by_name: dict[str, list[Lifetime]] = {}
        for life in self.lifetimes:
            by_name.setdefault(life.name, []).append(life)
        for lives in by_name.values():
            for before, after in itertools.pairwise(lives):
                assert before.deleted, f"{before.name} was created again without being deleted"
                before.next_create = after.created

    @property
    def uids(self) -> set[str]:
        return {life.uid for life in self.lifetimes}

    @property
    def last_rv(self) -> int:
        return max(max(life.states) for life in self.lifetimes)

    def check(self, got: list[tuple[str, str, int, str]], base: int, name: str | None = None,
              selector: Callable[[dict[str, str]], bool] | None = None) -> list[str]:
        """What is wrong with a watcher's (type, name, rv, uid) events after ``base``: CONTRACT 6.3
        selector semantics (starting to match is ADDED, stopping is DELETED at the change's
        revision), each event exactly once, in revision order."""
        matches = selector or (lambda labels: True)
        known: dict[tuple[str, str, int], bool] = {}
        deletes: dict[str, tuple[Lifetime, bool]] = {}  # uid -> (lifetime, whether it must appear)
        for life in self.lifetimes:
            if name is not None and life.name != name:
                continue
            previous: dict[str, str] | None = None
            for rv in sorted(life.states):
                labels = life.states[rv]
                now, was = matches(labels), previous is not None and matches(previous)
                event = ("MODIFIED" if was else "ADDED") if now else ("DELETED" if was else None)
                if event and rv > base:
                    known[(event, life.name, rv)] = False
                previous = labels
            if life.deleted and matches(previous or {}) and life.next_create > base:
                deletes[life.uid] = (life, max(life.states) >= base)
        problems = []
        rvs = [e[2] for e in got]
        if rvs != sorted(set(rvs)):
            problems.append(f"revisions not strictly increasing: {rvs}")
        for event in got:
            type_, event_name, rv, uid = event
            if rv <= base:
                problems.append(f"{event} is not after the watch's revision {base}")
            elif (type_, event_name, rv) in known and not known[(type_, event_name, rv)]:
                known[(type_, event_name, rv)] = True
            elif type_ == "DELETED" and uid in deletes:
                life, _must = deletes.pop(uid)
                if not max(life.states) < rv < life.next_create:
                    problems.append(f"{event} is outside ({max(life.states)}, {life.next_create})")
            else:
                problems.append(f"unexpected or repeated event {event}")
        problems += [f"missing {event}" for event, seen in known.items() if not seen]
        problems += [f"missing DELETED of {life.name} ({uid})" for uid, (life, must) in deletes.items() if must]
        return problems

    def check_state(self, added: list[tuple[str, int]], at: int,
                    selector: Callable[[dict[str, str]], bool] | None = None) -> list[str]:
        """What is wrong with a watch-list's initial (name, rv) ADDEDs for the state at ``at``."""
        matches = selector or (lambda labels: True)
        allowed, required = set(), set()
        for life in self.lifetimes:
            kept = [rv for rv in life.states if rv <= at]
            if not kept or life.next_create <= at or not matches(life.states[max(kept)]):
                continue
            state = (life.name, max(kept))
            allowed.add(state)
            if not life.deleted or max(life.states) >= at:  # surely alive at `at`
                required.add(state)
        problems = [f"unexpected initial {a}" for a in added if a not in allowed]
        problems += [f"missing initial {r}" for r in sorted(required - set(added))]
        if len(set(added)) != len(added):
            problems.append(f"repeated initial events: {added}")
        return problems


# Writers -----------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Creates, relabels, updates and deletes Queries from a small pool of names, at random.

    Several writers share the pool, so some requests lose races (404/409): that is the point.
    Every 2xx answer is kept in ``acks`` (the oracle); a request that gets no answer fails the
    writer. Bounded in operations and time."""

    def __init__(self, sessions: list[requests.Session], urls: list[str], namespace: str, names: list[str],
                 operations: int, seed: int, run_label: str, seconds: float = 60, pause: float = 0.0) -> None:
        super().__init__(name=f"writer-{seed}", daemon=True)
        self.sessions = sessions
        self.urls = urls
        self.namespace = namespace
        self.names = names
        self.operations = operations
        self.random = random.Random(seed)
        self.run_label = run_label
        self.seconds = seconds
        self.pause = pause
        self.statuses: dict[int, int] = {}
        self.acks: list[Ack] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        try:
            for _ in range(self.operations):
                if time.monotonic() > deadline:
                    return
                index = self.random.randrange(len(self.urls))
                session, url = self.sessions[index], self.urls[index]
                name = self.random.choice(self.names)
                team = self.random.choice(["a", "b"])
                labels = {"run": self.run_label, "team": team}
                roll = self.random.random()
                if roll < 0.35:
                    response = session.post(collection(url, self.namespace), json=query(name, labels), timeout=30)
                elif roll < 0.55:
                    response = merge_patch(session, url, self.namespace, name, {"metadata": {"labels": labels}})
                elif roll < 0.7:
                    response = merge_patch(session, url, self.namespace, name,
                                           {"spec": {"input": f"text {self.random.random()}"}})
                elif roll < 0.8:
                    response = merge_patch(session, url, self.namespace, name, {"status": {"phase": "running"}},
                                           "/status")
                else:
                    response = delete(session, url, self.namespace, name)
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                assert response.status_code in (200, 201, 202, 404, 409), response.text
                if response.status_code in (200, 201):
                    self.acks.append(acknowledged(name, response.json()))
                if self.pause:
                    time.sleep(self.pause)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.failure = err


def acknowledged(name: str, body: dict) -> Ack:
    """The Ack of a 200/201 answer: the object written, or the Status of an immediate delete."""
    if body.get("kind") == "Status":
        return Ack(name, body["details"]["uid"], None, {})
    meta = body["metadata"]
    return Ack(name, meta["uid"], int(meta["resourceVersion"]), meta.get("labels") or {})


# Raw TLS connections (idle-watch and slow-reader tests) ------------------------------------

def open_raw_watch(url: str, ca_file: str, path: str, receive_buffer: int | None = None,
                   timeout: float = 10) -> ssl.SSLSocket:
    """A TLS connection with one watch request sent and the response headers read (and checked)."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca_file)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(timeout)
    raw.connect((host, int(port)))
    sock = context.wrap_socket(raw, server_hostname=host)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"connection closed before the headers: {head!r}")
        head += chunk
    status_line = head.split(b"\r\n", 1)[0]
    assert b" 200 " in status_line, head
    return sock


def read_available(sock: ssl.SSLSocket, timeout: float) -> tuple[bytes, bool]:
    """Everything readable within ``timeout`` seconds of quiet; (data, closed by the server)."""
    data = b""
    sock.settimeout(timeout)
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def dechunk(data: bytes) -> tuple[list[dict], bool]:
    """Parse an HTTP/1.1 chunked body: (events, whether the terminating chunk arrived)."""
    body, complete, position = b"", False, 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            break
        size = int(data[position:end].split(b";")[0] or b"0", 16)
        if size == 0:
            complete = True
            break
        if end + 2 + size > len(data):
            body += data[end + 2:]
            break
        body += data[end + 2:end + 2 + size]
        position = end + 2 + size + 2
    events = []
    for line in body.split(b"\n"):
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:  # a line cut by the closed connection
                break
    return events, complete


def server_socket_states(port: int) -> dict[str, int]:
    """Count of the server's own TCP sockets on ``port`` per state (from /proc/net/tcp*)."""
    names = {"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
             "0A": "LISTEN", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "0B": "CLOSING"}
    out: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as handle:
            for line in handle.read().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    state = names.get(fields[3], fields[3])
                    out[state] = out.get(state, 0) + 1
    return out


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """The gunicorn workers of a server (its master's children)."""
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as handle:
        return [int(p) for p in handle.read().split()]
