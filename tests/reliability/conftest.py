"""Fixtures of the reliability suite (hostile input, faults, crashes, concurrency, fuzzing).

Short variants run in ``make test``; ``make soak`` sets ``ARK_SOAK=1``, which scales the loads
up (:func:`soak`) and runs the tests marked ``soak``. Every loop is bounded in count and time.
"""
from __future__ import annotations

import os

import pytest

from tests.conftest import start_server, stop_server

SOAK = os.environ.get("ARK_SOAK") == "1"
GUARDED_MAX_OBJECT_BYTES = 1024 * 1024


def soak(short: int, long: int) -> int:
    """``short`` in ``make test``, ``long`` under ``make soak``."""
    return long if SOAK else short


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "soak: long variant, run by `make soak` (ARK_SOAK=1) only")


def pytest_collection_modifyitems(config, items) -> None:
    if SOAK:
        return
    skip = pytest.mark.skip(reason="long variant: `make soak` runs it")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def guarded_server(database, tmp_path_factory):
    """A server whose limits are small: 1 s for a handshake, a head or a body stall, 3 s for a
    whole body, objects of at most 1 MiB."""
    srv = start_server(database, tmp_path_factory.mktemp(f"guarded-{database.driver}"), workers=1,
                       extra=["--read-header-timeout", "1", "--request-timeout", "3",
                              "--max-object-bytes", str(GUARDED_MAX_OBJECT_BYTES)])
    yield srv
    stop_server(srv)
