"""``python -m ark export``: Ark objects as a YAML stream (``---`` between objects) or a JSON
stream (one object a line), both of which ``python -m ark import`` reads (and ``kubectl create
-f``, once the resourceVersions are removed).

Objects are written as stored, resourceVersion and managedFields included: an import keeps
what it can use (uid, creationTimestamp, status, managedFields...) and gives each object a new
resourceVersion.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

import yaml

from ark.adoption.progress import Progress
from ark.kinds.registry import Kind
from ark.machinery import codec

FORMATS = ("yaml", "json")


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the object's order, shared values written out again (never as aliases)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(obj: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return codec.dumps(obj) + "\n"
    return "---\n" + yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)


def write(objects: Iterable[tuple[Kind, dict[str, Any]]], out: TextIO, output_format: str,
          progress: Progress) -> dict[str, int]:
    """Write ``objects`` to ``out``; returns the count per kind."""
    counts: dict[str, int] = {}
    for kind, obj in objects:
        out.write(dump(obj, output_format))
        counts[kind.plural] = counts.get(kind.plural, 0) + 1
        progress.advance()
    progress.finish()
    return counts
