"""Which process runs the controllers: one per database.

On PostgreSQL the leader holds a session advisory lock on a connection of its own; losing the
connection loses the lock, which :meth:`Leadership.held` notices, and another process takes
over. On SQLite (one machine) the leader holds an exclusive ``flock`` on a file beside the
database, released by the kernel when the process ends however it ends.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

#: The advisory lock's key (per database): "ark-ctl" read as a number.
ADVISORY_LOCK_KEY = 0x61726B2D63746C


class Leadership:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Any = None
        self._file: IO[str] | None = None

    @property
    def lock_path(self) -> str:
        return f"{self.engine.url.database}.controllers.lock"

    def acquire(self) -> bool:
        """Try once to become the leader; True when this process is (or already was)."""
        if self.engine.dialect.name == "postgresql":
            return self._acquire_advisory_lock()
        return self._acquire_file_lock()

    def held(self) -> bool:
        """Whether this process is still the leader (the lock's connection is alive)."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            self.release()
            return False

    def release(self) -> None:
        if self._connection is not None:
            # Closed for good, not handed back to the pool: the lock lives as long as the session.
            with contextlib.suppress(SQLAlchemyError):
                self._connection.invalidate()
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _acquire_advisory_lock(self) -> bool:
        if self._connection is not None:
            return self.held()
        try:
            connection = self.engine.connect()
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
            connection.commit()
        except SQLAlchemyError as err:
            log.debug("controllers: cannot try the leader lock: %s", err)
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _acquire_file_lock(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.lock_path, "a")  # noqa: SIM115 - held open for as long as this process leads
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        with contextlib.suppress(OSError):
            os.chmod(self.lock_path, 0o600)
        self._file = handle
        return True
