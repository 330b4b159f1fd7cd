"""``copy-storage``: a SQLite database into PostgreSQL, every row and the revision counter kept,
and clients resuming from before the copy told to relist (410) rather than left to miss events."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ark.storage.dialects import create_engine_for
from ark.storage.tables import labels, objects, revision
from tests.adoption.conftest import run, write_yaml
from tests.conftest import Database, empty_database, start_server, stop_server
from tests.harness import POSTGRES, migrated_database

AGENTS = 30


def agent(name: str, team: str, prompt: str = "Be brief.") -> dict[str, Any]:
    return {"apiVersion": "ark.mckinsey.com/v1alpha1", "kind": "Agent",
            "metadata": {"name": name, "namespace": "copied", "labels": {"team": team, "rank": name[-1]}},
            "spec": {"prompt": prompt}}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Database]:
    """A SQLite database with objects, labels, and a history longer than its objects (updates, deletes)."""
    with migrated_database("sqlite", tmp_path / "source.db") as db:
        manifests = [agent(f"agent-{i}", "red" if i % 2 else "blue") for i in range(AGENTS)]
        assert run("import", *db.flags, write_yaml(tmp_path / "v1.yaml", manifests)).code == 0
        changed = [agent(m["metadata"]["name"], "green", "Be thorough.") for m in manifests[: AGENTS - 5]]
        assert run("import", *db.flags, "--prune", write_yaml(tmp_path / "v2.yaml", changed)).code == 0
        yield db


@pytest.fixture
def postgres_target(tmp_path: Path) -> Iterator[Database]:
    with empty_database("postgresql", tmp_path) as db:
        yield db


def url(db: Database) -> str:
    if db.driver == "sqlite":
        return f"sqlite:{db.settings.sqlite_path}"
    return f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{db.postgres_name}?sslmode=disable"


def rows(db: Database) -> tuple[list[tuple], list[tuple], tuple[int, int]]:
    engine = create_engine_for(db.settings)
    try:
        with engine.connect() as conn:
            found_objects = [tuple(r) for r in conn.execute(select(objects).order_by(*objects.primary_key))]
            found_labels = [tuple(r) for r in conn.execute(select(labels).order_by(*labels.primary_key))]
            current, floor = conn.execute(select(revision.c.current, revision.c.compacted)).one()
    finally:
        engine.dispose()
    return found_objects, found_labels, (current, floor)


def test_copies_every_object_label_and_the_revision_counter(source: Database, postgres_target: Database) -> None:
    before = rows(source)
    ran = run("copy-storage", "--from", url(source), "--to", url(postgres_target))
    assert ran.code == 0, ran.err
    # The agents and the Namespaces: the migration's and the one the import made for them.
    assert f"copied {AGENTS - 5 + 4} objects and {2 * (AGENTS - 5)} labels" in ran.out
    copied_objects, copied_labels, (current, floor) = rows(postgres_target)
    assert copied_objects == before[0]  # uid, resourceVersion and body of each, byte for byte
    assert copied_labels == before[1]
    # The migration's three Namespaces, the import's one, then the agents created, updated, pruned.
    assert current == before[2][0] == 3 + 1 + AGENTS + (AGENTS - 5) + 5
    assert floor == current + 1
    assert rows(source) == before  # the source is only read


def test_refuses_a_target_that_is_not_empty(source: Database, postgres_target: Database) -> None:
    assert run("copy-storage", "--from", url(source), "--to", url(postgres_target)).code == 0
    again = run("copy-storage", "--from", url(source), "--to", url(postgres_target))
    assert again.code == 2
    assert "is not empty" in again.err and "--overwrite" in again.err
    forced = run("copy-storage", "--from", url(source), "--to", url(postgres_target), "--overwrite")
    assert forced.code == 0, forced.err
    assert rows(postgres_target)[0] == rows(source)[0]


def test_bad_arguments_are_one_line(source: Database, tmp_path: Path) -> None:
    same = run("copy-storage", "--from", url(source), "--to", url(source))
    assert same.code == 2 and "the same database" in same.err
    missing = run("copy-storage", "--from", f"sqlite:{tmp_path / 'nope.db'}", "--to", f"sqlite:{tmp_path / 'b.db'}")
    assert missing.code == 2 and "does not exist" in missing.err
    bad = run("copy-storage", "--from", url(source), "--to", "mysql://localhost/ark")
    assert bad.code == 2 and "expected sqlite:PATH or postgresql://" in bad.err
    down = run("copy-storage", "--from", url(source), "--to", "postgresql://postgres@127.0.0.1:1/ark?sslmode=disable")
    assert down.code == 2 and down.err.startswith("ark-apiserver: error: cannot reach PostgreSQL at 127.0.0.1:1")


def test_watchers_from_before_the_copy_relist(source: Database, postgres_target: Database, tmp_path: Path) -> None:
    assert run("copy-storage", "--from", url(source), "--to", url(postgres_target)).code == 0
    current = rows(postgres_target)[2][0]
    (tmp_path / "server").mkdir()
    server = start_server(postgres_target, tmp_path / "server", workers=1)
    try:
        api = server.session()
        agents = f"{server.url}/apis/ark.mckinsey.com/v1alpha1/namespaces/copied/agents"
        # Resuming from a revision of the source's history: 410, never a silent gap.
        with api.get(agents, params={"watch": "1", "resourceVersion": "3"}, stream=True, timeout=30) as old:
            event = json.loads(next(old.iter_lines()))
        assert event["type"] == "ERROR" and event["object"]["code"] == 410, event
        # The relist sees the copy at the source's revision, and watching from there misses nothing.
        listed = api.get(agents, timeout=30).json()
        assert listed["metadata"]["resourceVersion"] == str(current)
        assert len(listed["items"]) == AGENTS - 5
        with api.get(agents, params={"watch": "1", "resourceVersion": str(current)}, stream=True, timeout=30) as w:
            created = api.post(agents, json=agent("after-copy", "red"), timeout=30)
            assert created.status_code == 201, created.text
            event = json.loads(next(w.iter_lines()))
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "after-copy"
        assert event["object"]["metadata"]["resourceVersion"] == str(current + 1)
    finally:
        stop_server(server)
