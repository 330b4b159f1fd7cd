"""``/healthz``, ``/livez``, ``/readyz`` (and ``/<endpoint>/<check>``) and ``/version``.

CONTRACT 10.7, formats from apiserver ``pkg/server/healthz/healthz.go``: ``200 ok`` in
``text/plain``; ``?verbose`` lists every check (``[+]ping ok``) and ends with ``<endpoint>
check passed``; ``?exclude=<check>`` skips a check; a failing check answers 500 with the list
(``[-]database failed: reason withheld``; the reason goes to the log) and ``<endpoint> check failed``.

``/readyz`` runs ``ping`` and ``database`` (the store answers) plus any checks in
``services(app).readyz_checks`` (a mapping of name to a callable that raises when not ready,
e.g. "the authentication ConfigMap is not loaded yet").
``/livez`` and ``/healthz`` run ``ping`` only: a DB outage must not get the pod restarted.
"""
from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import platform
import sys
from collections.abc import Callable, Iterable

from flask import Blueprint, Response, jsonify, request

from ark.machinery.errors import not_found_path
from ark.services import services

log = logging.getLogger(__name__)
blueprint = Blueprint("ark_health", __name__)

#: Fallback when neither ``ark.__version__`` nor package metadata give a version.
DEFAULT_VERSION = "v0.1.0"
DISTRIBUTION = "ark-apiserver"
#: The Kubernetes API level this server implements, reported as k3s does
#: (``v1.35.0+ark.0.2.0``), so tools that read the server version see a Kubernetes one.
KUBERNETES_VERSION = "v1.35.0"

Check = Callable[[], object]


def _ping() -> None:
    """Always passes: the process answers."""


def _database() -> None:
    services().store.ping()


def _checks(endpoint: str) -> list[tuple[str, Check]]:
    checks: list[tuple[str, Check]] = [("ping", _ping)]
    if endpoint == "readyz":
        checks.append(("database", _database))
        checks.extend(services().readyz_checks.items())
    return checks


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text[:300]


def _text(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/plain")
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _run(endpoint: str, checks: Iterable[tuple[str, Check]]) -> Response:
    excluded = set(request.args.getlist("exclude"))
    lines: list[str] = []
    failed = False
    for name, check in checks:
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
            continue
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure makes the check fail
            failed = True
            log.warning("%s check %s failed: %s", endpoint, name, _reason(error))
            lines.append(f"[-]{name} failed: reason withheld")  # probes are anonymous: the log has it
        else:
            lines.append(f"[+]{name} ok")
    listing = "".join(line + "\n" for line in lines)
    if failed:
        return _text(f"{listing}{endpoint} check failed\n", 500)
    if "verbose" not in request.args:
        return _text("ok")
    return _text(f"{listing}{endpoint} check passed\n")


def _single(endpoint: str, name: str) -> Response:
    for check_name, check in _checks(endpoint):
        if check_name == name:
            try:
                check()
            except Exception as error:  # noqa: BLE001
                log.warning("%s check %s failed: %s", endpoint, name, _reason(error))
                return _text("internal server error: reason withheld\n", 500)
            return _text("ok")
    raise not_found_path()


@blueprint.get("/healthz")
def healthz() -> Response:
    return _run("healthz", _checks("healthz"))


@blueprint.get("/livez")
def livez() -> Response:
    return _run("livez", _checks("livez"))


@blueprint.get("/readyz")
def readyz() -> Response:
    return _run("readyz", _checks("readyz"))


@blueprint.get("/<any(healthz, livez, readyz):endpoint>/<name>")
def single_check(endpoint: str, name: str) -> Response:
    return _single(endpoint, name)


# ---------------------------------------------------------------------------------------------
# /version (apimachinery pkg/version/types.go Info)


def ark_version() -> str:
    """``ark.__version__`` if the package defines it, else the installed distribution's, else a constant."""
    import ark

    version = getattr(ark, "__version__", None)
    if not version:
        try:
            version = importlib.metadata.version(DISTRIBUTION)
        except importlib.metadata.PackageNotFoundError:
            version = None
    version = str(version or DEFAULT_VERSION)
    return version if version.startswith("v") else "v" + version


def git_version() -> str:
    """``v1.35.0+ark.<version>``: the Kubernetes level, Ark's version as build metadata."""
    return f"{KUBERNETES_VERSION}+ark.{ark_version().lstrip('v')}"


def _major_minor(version: str) -> tuple[str, str]:
    parts = version.lstrip("v").split(".")
    major = parts[0] if parts and parts[0].isdigit() else ""
    minor = "".join(c for c in parts[1] if c.isdigit()) if len(parts) > 1 else ""
    return major, minor


_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}


@functools.lru_cache(maxsize=1)
def version_info() -> dict[str, str]:
    git = git_version()
    major, minor = _major_minor(git)
    machine = platform.machine().lower()
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git,
        "gitCommit": os.environ.get("ARK_GIT_COMMIT", ""),
        "gitTreeState": os.environ.get("ARK_GIT_TREE_STATE", ""),
        "buildDate": os.environ.get("ARK_BUILD_DATE", "1970-01-01T00:00:00Z"),
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": platform.python_implementation().lower(),
        "platform": f"{sys.platform}/{_ARCH.get(machine, machine)}",
    }


@blueprint.get("/version")
@blueprint.get("/version/")
def version() -> Response:
    return jsonify(version_info())
