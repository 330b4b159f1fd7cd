"""One greenlet doing a server's background work (the change-log compactor, a cluster
reflector, the standalone controllers): started by the services with the worker, killed when
it stops (gevent ends it at its next yield)."""
from __future__ import annotations

import gevent


class Background:
    """Subclasses give ``_run``, the greenlet's whole life."""

    _greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _run(self) -> None:
        raise NotImplementedError
