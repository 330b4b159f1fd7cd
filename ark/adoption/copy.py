"""``python -m ark copy-storage``: one database into another (SQLite to PostgreSQL, usually),
with the server stopped.

Every object row (uid and resourceVersion as they are), every label row and the revision
counter are copied, so clients see the same objects at the same resourceVersions. The change
log is not: the copy's compaction floor is set just above its current revision, so a watch or
a ``continue`` token from before the copy answers 410 Expired and the client relists, exactly
as after a compaction, instead of resuming on a log that starts elsewhere. A watch from the
current revision resumes as usual.

The target's schema is made by the migrations (``alembic upgrade head``). A target that already
holds objects or history is refused unless ``overwrite`` is given; then its rows are replaced.
The source is read in one snapshot, the target written in one transaction: a copy that fails
leaves the target as it was.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from ark.adoption.progress import Progress
from ark.settings import ConfigError, Settings
from ark.storage.dialects import create_engine_for, dialect_of
from ark.storage.migrations import check_current_engine, upgrade_engine
from ark.storage.tables import changes, labels, objects, revision

BATCH = 1000


class CopyRefused(Exception):
    """The copy would lose data or cannot be made; nothing was written."""


@dataclass(frozen=True)
class Copied:
    objects: int
    labels: int
    revision: int
    floor: int


def parse_target(value: str, flag: str) -> Settings:
    """``sqlite:PATH`` or ``postgresql://user[:password]@host[:port]/database[?sslmode=...]``."""
    if value.startswith("sqlite:"):
        path = value.removeprefix("sqlite:").removeprefix("//")
        if not path:
            raise ConfigError(f"{flag}: sqlite: needs a file, e.g. sqlite:data/ark.db")
        return Settings(storage_driver="sqlite", sqlite_path=path)
    url = urlsplit(value)
    if url.scheme not in ("postgresql", "postgres") or not url.hostname or not url.path.strip("/"):
        raise ConfigError(f"{flag}: expected sqlite:PATH or postgresql://user@host:port/database, got {value!r}")
    query = parse_qs(url.query)
    return Settings(storage_driver="postgresql", postgres_host=url.hostname, postgres_port=url.port or 5432,
                    postgres_db=unquote(url.path.strip("/")), postgres_user=unquote(url.username or "postgres"),
                    postgres_password=unquote(url.password or ""),
                    postgres_sslmode=(query.get("sslmode") or ["prefer"])[0])


def same_database(a: Settings, b: Settings) -> bool:
    return a.redacted_database_url() == b.redacted_database_url()


def copy_storage(source: Settings, target: Settings, overwrite: bool = False,
                 progress: Callable[[int], Progress] | None = None) -> Copied:
    if same_database(source, target):
        raise CopyRefused(f"--from and --to are the same database ({source.describe_database()})")
    source_engine, target_engine = create_engine_for(source), create_engine_for(target)
    try:
        check_current_engine(source_engine)
        upgrade_engine(target_engine)
        return _copy(source_engine, target_engine, target, overwrite, progress)
    finally:
        source_engine.dispose()
        target_engine.dispose()


def _copy(source: Engine, target: Engine, target_settings: Settings, overwrite: bool,
          progress: Callable[[int], Progress] | None) -> Copied:
    with dialect_of(source).snapshot_connection(source) as reading, reading.begin():
        current, _floor = reading.execute(select(revision.c.current, revision.c.compacted)).one()
        total = reading.execute(select(func.count()).select_from(objects)).scalar_one()
        bar = progress(total) if progress is not None else None
        with dialect_of(target).write_connection(target) as writing, writing.begin():
            _make_room(writing, target_settings, overwrite)
            copied_objects = 0
            for rows in _batches(reading, select(objects)):
                writing.execute(insert(objects), rows)
                copied_objects += len(rows)
                if bar is not None:
                    bar.advance(len(rows))
            copied_labels = 0
            for rows in _batches(reading, select(labels)):
                writing.execute(insert(labels), rows)
                copied_labels += len(rows)
            floor = current + 1  # nothing before the copy can be resumed: 410, relist
            writing.execute(update(revision).values(current=current, compacted=floor))
        if bar is not None:
            bar.finish()
    return Copied(copied_objects, copied_labels, current, floor)


#: What the migrations put into a new database: the built-in Namespaces (alembic 0002). A target
#: holding only those is as good as empty: the copy replaces them with the source's.
_AS_MIGRATED = frozenset({("namespaces", "default"), ("namespaces", "kube-public"), ("namespaces", "kube-system")})


def _make_room(conn: Connection, target: Settings, overwrite: bool) -> None:
    held = conn.execute(select(func.count()).select_from(objects)).scalar_one()
    history = conn.execute(select(func.count()).select_from(changes)).scalar_one()
    current = conn.execute(select(revision.c.current)).scalar_one()
    as_migrated = held <= len(_AS_MIGRATED) and history == held == current and all(
        (row.resource, row.name) in _AS_MIGRATED for row in conn.execute(select(objects.c.resource, objects.c.name)))
    if (held or history or current) and not as_migrated and not overwrite:
        raise CopyRefused(f"{target.describe_database()} is not empty ({held} objects, revision {current}): "
                          "give --overwrite to replace its contents")
    for table in (labels, changes, objects):
        conn.execute(table.delete())


def _batches(conn: Connection, query: Any) -> Iterator[list[dict[str, Any]]]:
    result = conn.execution_options(yield_per=BATCH).execute(query)
    for partition in result.mappings().partitions(BATCH):
        yield [dict(row) for row in partition]
