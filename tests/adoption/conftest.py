"""Fixtures of the adoption tests: an emptied database of each kind and the commands run on it.

The commands run in-process through ``ark.__main__.main`` (the very entry point of ``python -m
ark``), so a test over a hundred sample files does not start a hundred interpreters; the tests
that need a separate process (stdin, the exit code seen by a shell) run one.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from ark.__main__ import main
from ark.storage.store import Store
from ark.storage.tables import changes, labels, objects, revision
from tests.conftest import REPO, Database


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run(*args: str) -> Ran:
    """``python -m ark ARGS`` in this process (settings from flags only: no ARK_* of the caller)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return Ran(code, out.getvalue(), err.getvalue())


def run_process(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ark", *args], cwd=REPO, input=stdin, capture_output=True,
                          text=True, timeout=120, check=False)


@dataclass
class Target:
    """An emptied, migrated database and the flags that reach it."""

    database: Database
    store: Store

    @property
    def flags(self) -> list[str]:
        return list(self.database.flags)

    def ark(self, command: str, *args: str) -> Ran:
        return run(command, *self.flags, *args)

    def export(self, *args: str) -> list[dict[str, Any]]:
        """Every object the database holds (``export -o json``), in export order."""
        ran = self.ark("export", "-o", "json", *args)
        assert ran.code == 0, ran.err
        return [json.loads(line) for line in ran.out.splitlines() if line.strip()]

    def revision(self) -> int:
        return self.store.revisions()[0]

    def wipe(self) -> None:
        with self.store.engine.begin() as conn:
            for table in (objects, labels, changes):
                conn.execute(table.delete())
            conn.execute(revision.update().values(current=0, compacted=0))


@pytest.fixture
def target(store: Store, store_database: Database) -> Target:
    return Target(store_database, store)


def without(obj: dict[str, Any], *fields: str) -> dict[str, Any]:
    """``obj`` without these metadata fields."""
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k not in fields}}


def write_yaml(path, objects: list[dict[str, Any]]) -> str:
    path.write_text("".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects))
    return str(path)


Runner = Callable[..., Ran]
