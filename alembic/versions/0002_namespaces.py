"""Namespaces as objects (standalone mode serves core v1 Namespaces): ``default``,
``kube-system`` and ``kube-public``, and one for every namespace that already holds objects,
so that nothing stored is left in a namespace that does not exist.

Revision ID: 0002
Revises: 0001
"""
import json
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RESOURCE = "namespaces"  # the core group's resource key (ark.kinds.core.namespace)
BUILT_IN = ("default", "kube-public", "kube-system")

objects = sa.table("objects", sa.column("resource"), sa.column("namespace"), sa.column("name"), sa.column("uid"),
                   sa.column("resource_version"), sa.column("body"))
changes = sa.table("changes", sa.column("rv"), sa.column("resource"), sa.column("namespace"), sa.column("name"),
                   sa.column("type"), sa.column("body"), sa.column("prev_body"), sa.column("committed_at"))
revision_table = sa.table("revision", sa.column("id"), sa.column("current"))


def upgrade() -> None:
    conn = op.get_bind()
    holding = {row[0] for row in conn.execute(sa.select(objects.c.namespace).where(objects.c.namespace != "")
                                              .distinct())}
    present = {row[0] for row in conn.execute(sa.select(objects.c.name).where(objects.c.resource == RESOURCE))}
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in sorted((set(BUILT_IN) | holding) - present):
        rv = conn.execute(sa.update(revision_table).values(current=revision_table.c.current + 1)
                          .returning(revision_table.c.current)).scalar_one()
        uid = str(uuid.uuid4())
        body = json.dumps({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": uid, "resourceVersion": str(rv), "creationTimestamp": created},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
        }, separators=(",", ":"))
        conn.execute(sa.insert(objects).values(resource=RESOURCE, namespace="", name=name, uid=uid,
                                               resource_version=rv, body=body))
        conn.execute(sa.insert(changes).values(rv=rv, resource=RESOURCE, namespace="", name=name, type="ADDED",
                                               body=body, prev_body=None, committed_at=int(time.time() * 1000)))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.delete(changes).where(changes.c.resource == RESOURCE))
    conn.execute(sa.delete(objects).where(objects.c.resource == RESOURCE))
