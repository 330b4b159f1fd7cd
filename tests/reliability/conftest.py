"""Fixtures of the reliability suite (hostile input, faults, crashes, concurrency, fuzzing).

Short variants run in ``make test``; ``make soak`` sets ``ARK_SOAK=1``, which scales the loads
up (``tests.conftest.soak``) and runs the tests marked ``soak``. Every loop is bounded in count
and time.
"""
from __future__ import annotations

import pytest

from tests.conftest import SOAK, soak, start_server, stop_server

__all__ = ["SOAK", "soak"]
GUARDED_MAX_OBJECT_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def guarded_server(database, tmp_path_factory):
    """A server whose limits are small: 1 s for a handshake, a head or a body stall, 3 s for a
    whole body, objects of at most 1 MiB."""
    srv = start_server(database, tmp_path_factory.mktemp(f"guarded-{database.driver}"), workers=1,
                       extra=["--read-header-timeout", "1", "--request-timeout", "3",
                              "--max-object-bytes", str(GUARDED_MAX_OBJECT_BYTES)])
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def limited_server(database, tmp_path_factory):
    """A server that gives a request 1 s and each worker (one) 2 open watches."""
    srv = start_server(database, tmp_path_factory.mktemp(f"limited-{database.driver}"), workers=1,
                       extra=["--request-timeout", "1", "--max-watches", "2"])
    yield srv
    stop_server(srv)
