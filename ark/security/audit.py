"""The audit log: one ``audit.k8s.io/v1`` Event a line, at level Metadata.

kube-apiserver does not audit aggregated resources (it proxies them before its audit would see
the objects), so the server keeps its own: who (``user``, ``impersonatedUser``, ``sourceIPs``,
``userAgent``) did what (``verb``, ``requestURI``, ``objectRef``) with which outcome
(``responseStatus``: the code, and for failures the Status's status, reason and message), when
(``requestReceivedTimestamp``, ``stageTimestamp``), and the authorization decision in
``annotations``. Every request but the health checks gets a ``ResponseComplete`` event; a watch
also gets ``ResponseStarted`` when its stream begins. ``auditID`` is the ``Audit-Id`` header of
the response: kube-apiserver's when it sent one, else a new UUID.

Lines go to a file (rotated at ``--audit-log-maxsize`` MB into ``<name>-<UTC time>.<ext>``, the
oldest removed beyond ``--audit-log-maxbackup``) or to stdout (``-``). Several worker processes
append to one file: each line is one ``write`` on an ``O_APPEND`` descriptor, one process at a time
rotates (under a lock file), and the others notice the file was replaced and reopen it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ark.api.request_info import RequestInfo
from ark.security.authn import UserInfo

log = logging.getLogger(__name__)

STDOUT = "-"
MAX_USER_AGENT = 1024
MAX_AUDIT_ID = 128
LONG_RUNNING_VERBS = ("watch",)


def new_audit_id(sent: str | None) -> str:
    """The ``Audit-Id`` a request carries through: the one kube-apiserver sent (if sane), else a new one."""
    sent = (sent or "").strip()
    if sent and len(sent) <= MAX_AUDIT_ID and sent.isprintable():
        return sent
    return str(uuid.uuid4())


def micro_time(moment: dt.datetime) -> str:
    """Kubernetes' MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RequestAudit:
    """What the audit events of one request say, filled in as the request is served."""

    audit_id: str
    received: dt.datetime
    request_uri: str
    source_ips: list[str]
    user_agent: str
    info: RequestInfo | None = None
    user: UserInfo | None = None
    impersonated: UserInfo | None = None
    object_name: str = ""  # the object written, when the URL does not name it (create)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def long_running(self) -> bool:
        return self.info is not None and self.info.verb in LONG_RUNNING_VERBS

    def decided(self, allowed: bool, reason: str) -> None:
        self.annotations["authorization.k8s.io/decision"] = "allow" if allowed else "forbid"
        self.annotations["authorization.k8s.io/reason"] = reason

    def event(self, stage: str, code: int, status: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": self.audit_id,
            "stage": stage, "requestURI": self.request_uri, "verb": self.info.verb if self.info else "",
            "user": self.user.as_json() if self.user else {},
        }
        if self.impersonated is not None:
            event["impersonatedUser"] = self.impersonated.as_json()
        event["sourceIPs"] = self.source_ips
        if self.user_agent:
            event["userAgent"] = self.user_agent[:MAX_USER_AGENT]
        reference = self._object_ref()
        if reference:
            event["objectRef"] = reference
        response: dict[str, Any] = {"metadata": {}, "code": code}
        if status is not None and status.get("status") == "Failure":
            response.update({key: status[key] for key in ("status", "message", "reason") if status.get(key)})
        event["responseStatus"] = response
        event["requestReceivedTimestamp"] = micro_time(self.received)
        event["stageTimestamp"] = micro_time(dt.datetime.now(dt.UTC))
        if self.annotations:
            event["annotations"] = dict(self.annotations)
        return event

    def _object_ref(self) -> dict[str, str]:
        info = self.info
        if info is None or not info.is_resource_request:
            return {}
        fields = (("resource", info.resource), ("namespace", info.namespace), ("name", info.name or self.object_name),
                  ("apiGroup", info.group), ("apiVersion", info.version), ("subresource", info.subresource))
        return {key: value for key, value in fields if value}


class AuditLog:
    """Appends events as JSON lines to a file (rotated by size) or to stdout."""

    def __init__(self, path: str, max_megabytes: int, max_backups: int) -> None:
        self.path = path
        self.max_bytes = max_megabytes * 1024 * 1024
        self.max_backups = max_backups
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self.failures = 0

    def write(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        try:
            if self.path == STDOUT:
                os.write(sys.stdout.fileno(), line)
                return
            fd = self._open()
            if os.fstat(fd).st_size + len(line) > self.max_bytes:
                fd = self._rotate()
            os.write(fd, line)
        except OSError as err:
            self.failures += 1
            if self.failures == 1 or self.failures % 1000 == 0:
                log.error("audit: cannot write to %s (%d event(s) lost so far): %s", self.path, self.failures,
                          err.strerror or err)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._identity = None

    def _open(self) -> int:
        """The descriptor of the current file, reopened when another process rotated it away."""
        try:
            stat = os.stat(self.path)
            current: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            current = None
        if self._fd is None or current != self._identity:
            self.close()
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            stat = os.fstat(fd)
            self._fd, self._identity = fd, (stat.st_dev, stat.st_ino)
        assert self._fd is not None
        return self._fd

    def _rotate(self) -> int:
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            fd = self._open()  # another process may have rotated while we waited
            if os.fstat(fd).st_size > 0:
                base = Path(self.path)
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
                os.replace(self.path, base.with_name(f"{base.stem}-{stamp}{base.suffix}"))
                self._prune(base)
                fd = self._open()
        return fd

    def _prune(self, base: Path) -> None:
        if not self.max_backups:
            return
        backups = sorted(base.parent.glob(f"{base.stem}-*{base.suffix}"))
        for old in backups[:-self.max_backups]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
