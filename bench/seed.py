"""Seeding large stores through SQL, with rows exactly as the server writes them.

Creating 100,000 objects through the API would take longer than the whole benchmark may
(tens of minutes on PostgreSQL today), so the stores for the list, memory and growth
scenarios are filled here, while no server runs on the database. Every row copies what the
server wrote for an object created through the API (the *template*): its stored body with
only the name, namespace, uid, creationTimestamp and resourceVersion replaced, rendered with
the server's own JSON codec; its labels rows; an ADDED change-log row as a create leaves; and
the revision counter moved past them, one revision per object, as a create moves it.
``tests/bench/test_bench_smoke.py`` checks a seeded row against one the server wrote.
"""
from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator

from sqlalchemy import insert, select, update

from ark.machinery import codec, meta, selectors
from ark.settings import Settings
from ark.storage.dialects import create_engine_for, dialect_of
from ark.storage.tables import changes, labels, objects, revision

BATCH = 2000


def template_row(settings: Settings, resource: str, namespace: str, name: str) -> dict:
    """The stored body of an object the server created (parsed)."""
    engine = create_engine_for(settings)
    try:
        with engine.connect() as conn:
            body = conn.execute(select(objects.c.body).where(
                objects.c.resource == resource, objects.c.namespace == namespace, objects.c.name == name)).scalar_one()
    finally:
        engine.dispose()
    return json.loads(body)


def object_name(prefix: str, index: int) -> str:
    """Names that sort as their numbers do (the store lists in name order)."""
    return f"{prefix}-{index:07d}"


def _rows(template: dict, resource: str, namespace: str, prefix: str, indexes: range,
          first_rv: int) -> Iterator[tuple[dict, list[dict], dict]]:
    created = meta.now()
    committed_at = int(time.time() * 1000)
    for offset, index in enumerate(indexes):
        rv = first_rv + offset
        obj = copy.deepcopy(template)
        name = object_name(prefix, index)
        obj["metadata"].update(name=name, namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=created,
                               resourceVersion=str(rv))
        body = codec.dumps(obj)
        key = {"resource": resource, "namespace": namespace, "name": name}
        label_rows = [{**key, "key": k, "value": v, "num_value": selectors.label_number(v)}
                      for k, v in (obj["metadata"].get("labels") or {}).items()]
        change = {"rv": rv, **key, "type": "ADDED", "body": body, "prev_body": None, "committed_at": committed_at}
        yield {**key, "uid": obj["metadata"]["uid"], "resource_version": rv, "body": body}, label_rows, change


def seed(settings: Settings, template: dict, resource: str, namespace: str, prefix: str, indexes: range) -> int:
    """Add the objects ``prefix-<index>`` for ``indexes`` to ``namespace`` in one transaction;
    returns the revision after them. No server may be running on the database meanwhile."""
    engine = create_engine_for(settings)
    try:
        with dialect_of(engine).write_connection(engine) as conn, conn.begin():
            current = conn.execute(select(revision.c.current).with_for_update()).scalar_one()
            batch: tuple[list, list, list] = ([], [], [])
            for object_row, label_rows, change_row in _rows(template, resource, namespace, prefix, indexes,
                                                            current + 1):
                batch[0].append(object_row)
                batch[1].extend(label_rows)
                batch[2].append(change_row)
                if len(batch[0]) >= BATCH:
                    _flush(conn, batch)
            _flush(conn, batch)
            last = current + len(indexes)
            conn.execute(update(revision).values(current=last))
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")  # as autovacuum soon would: plans must not depend on its timing
        else:  # a store that grew over time has been checkpointed; leave no huge WAL behind
            raw = engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
    finally:
        engine.dispose()
    return last


def _flush(conn, batch: tuple[list, list, list]) -> None:
    for table, rows in zip((objects, labels, changes), batch, strict=True):
        if rows:
            conn.execute(insert(table), rows)
            rows.clear()
