"""The SQL schema, shared by SQLite and PostgreSQL (Alembic migrations create it).

* ``objects``: the live objects, one row each, the full JSON body as sent to clients.
* ``labels``: one row per label of a live object, so label selectors run in SQL.
* ``changes``: the revision log (what watch and consistent pagination read): one row per
  write with the object after it (``body``) and before it (``prev_body``), kept for the
  retention window (``committed_at``) and then compacted.
* ``revision``: one row holding the global revision counter and the compaction floor. The
  counter is bumped inside every write transaction, which serializes writers, so revision
  order is commit order.
"""
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text

metadata = MetaData()


def key_string(length: int) -> String:
    """A key column that sorts bytewise on both databases (PostgreSQL's "C" collation)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


objects = Table(
    "objects",
    metadata,
    Column("resource", key_string(128), nullable=False),
    Column("namespace", key_string(63), nullable=False),
    Column("name", key_string(253), nullable=False),
    Column("uid", String(36), nullable=False),
    Column("resource_version", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    PrimaryKeyConstraint("resource", "namespace", "name", name="pk_objects"),
)

labels = Table(
    "labels",
    metadata,
    Column("resource", key_string(128), nullable=False),
    Column("namespace", key_string(63), nullable=False),
    Column("name", key_string(253), nullable=False),
    Column("key", key_string(317), nullable=False),
    Column("value", key_string(63), nullable=False),
    Column("num_value", BigInteger, nullable=True),
    PrimaryKeyConstraint("resource", "namespace", "name", "key", name="pk_labels"),
    Index("ix_labels_key_value", "resource", "key", "value"),
)

changes = Table(
    "changes",
    metadata,
    Column("rv", BigInteger, primary_key=True, autoincrement=False),
    Column("resource", key_string(128), nullable=False),
    Column("namespace", key_string(63), nullable=False),
    Column("name", key_string(253), nullable=False),
    Column("type", String(8), nullable=False),
    Column("body", Text, nullable=False),
    Column("prev_body", Text, nullable=True),
    Column("committed_at", BigInteger, nullable=False),  # epoch milliseconds, for the retention window
    Index("ix_changes_key", "resource", "namespace", "name", "rv"),
    Index("ix_changes_committed_at", "committed_at"),
)

revision = Table(
    "revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("current", BigInteger, nullable=False),
    Column("compacted", BigInteger, nullable=False),
)
