"""Ark objects read from manifests (YAML or JSON streams, Lists) and checked before anything is written.

A stream is split into documents the way kubectl splits it (``---`` lines for YAML, one value
after the other for JSON), so one broken document is reported by its index and does not hide the
valid ones around it. A document is *bad* when it cannot be stored at all: it does not parse,
is not an object, names an Ark apiVersion/kind this server does not serve, or has metadata the
API would refuse (names, labels, annotations). Documents of other groups (a Secret next to an
Agent) are skipped and counted. What only admission would refuse is no reason to drop an object
here: :mod:`ark.adoption.importer` reports it.

Each object is normalised as the CRD codec does on a write (fields the schema does not declare
pruned, defaults filled), so what is stored is what kube-apiserver would have served. What a
manifest that never was stored lacks (uid, creationTimestamp, generation) the registry fills
in when it writes it (:meth:`~ark.registry.store.ResourceStore.restore`).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ark.api.decoding import FieldPruner
from ark.kinds import REGISTRY
from ark.kinds.registry import GROUP, Kind, Registry
from ark.machinery import codec, meta
from ark.machinery.errors import ApiError
from ark.machinery.options import WriteOptions

_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
#: Fields the server sets, kept from the source where they matter and dropped where they do not.
_DROPPED_METADATA = ("selfLink",)


@dataclass(frozen=True)
class Problem:
    """A document that cannot be imported: where it is and why."""

    source: str
    index: int
    reason: str
    unit: str = "document"  # "item" of a list read from an API

    def __str__(self) -> str:
        return f"{self.source}: {self.unit} {self.index}: {self.reason}"


class Skipped(Problem):
    """A document of another API group: not ours to import, and no reason to refuse the rest."""


@dataclass
class Entry:
    """One Ark object to import, with where it came from and what its normalisation pruned."""

    kind: Kind
    obj: dict[str, Any]
    source: str
    index: int
    pruned: list[str] = field(default_factory=list)
    unit: str = "document"

    def where(self) -> str:
        return f"{self.source} {self.unit} {self.index}"

    @property
    def namespace(self) -> str:
        namespace: str = self.obj["metadata"]["namespace"]
        return namespace

    @property
    def name(self) -> str:
        name: str = self.obj["metadata"]["name"]
        return name


@dataclass
class Batch:
    """Everything read from the inputs: the objects, the bad documents and the skipped ones."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def split(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """The documents of a YAML or JSON stream as (index, value); a value that does not decode
    is a :class:`Problem` in its place."""
    if text.lstrip()[:1] in ("{", "["):
        yield from _split_json(text, source)
        return
    index = 0
    for chunk in _DOCUMENT_SEPARATOR.split(text):
        if not _has_content(chunk):
            continue
        try:
            value, _duplicates = codec.decode(chunk.encode("utf-8"), "application/yaml")
        except ApiError as err:
            yield index, Problem(source, index, _decoding_reason(err.message))
        else:
            if value is not None:
                yield index, value
        index += 1


def _has_content(chunk: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in chunk.splitlines())


def _split_json(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """Concatenated JSON values (one a line, or pretty-printed one after the other)."""
    decoder, position, index = json.JSONDecoder(), 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        try:
            _value, end = decoder.raw_decode(text, position)
        except ValueError as err:
            yield index, Problem(source, index, f"not valid JSON: {err}")
            return  # the rest of the stream cannot be told apart from this document
        try:
            value, _duplicates = codec.decode(text[position:end].encode("utf-8"), "application/json")
        except ApiError as err:
            yield index, Problem(source, index, _decoding_reason(err.message))
        else:
            yield index, value
        position, index = end, index + 1


def _decoding_reason(message: str) -> str:
    return message.replace("request body", "document")


def read(texts: Iterable[tuple[str, str]], default_namespace: str = "default",
         registry: Registry = REGISTRY) -> Batch:
    """Check every document of ``texts`` ((source name, text) pairs): the objects to import,
    the bad documents and the skipped ones. A name given twice is a problem of its second document."""
    batch = Batch()
    seen: dict[tuple[str, str, str], Entry] = {}
    for source, text in texts:
        for index, value in split(text, source):
            if isinstance(value, Problem):
                batch.problems.append(value)
                continue
            for item in _items(value):
                checked = check(item, source, index, default_namespace, registry)
                if isinstance(checked, Skipped):
                    batch.skipped.append(checked)
                    continue
                if isinstance(checked, Problem):
                    batch.problems.append(checked)
                    continue
                key = (checked.kind.resource, checked.namespace, checked.name)
                if key in seen:
                    first = seen[key]
                    batch.problems.append(Problem(source, index, f"{checked.kind.plural} {checked.namespace}/"
                                                  f"{checked.name} is also in {first.source} document {first.index}"))
                    continue
                seen[key] = checked
                batch.entries.append(checked)
    return batch


def refuse_too_large(batch: Batch, limit: int) -> None:
    """Move the objects larger than the store takes (``--max-object-bytes``) to the problems."""
    kept = []
    for entry in batch.entries:
        size = codec.encoded_size(entry.obj)
        if size > limit:
            batch.problems.append(Problem(entry.source, entry.index, f"{entry.kind.kind} \"{entry.name}\" takes "
                                          f"{size} bytes stored, more than the {limit} the server takes "
                                          "(--max-object-bytes)", entry.unit))
        else:
            kept.append(entry)
    batch.entries = kept


def _items(value: Any) -> list[Any]:
    """A List (``kubectl get -o yaml``, ``AgentList``...) stands for its items."""
    if isinstance(value, dict) and str(value.get("kind", "")).endswith("List") and isinstance(value.get("items"), list):
        return list(value["items"])
    return [value]


def check(value: Any, source: str, index: int, default_namespace: str, registry: Registry = REGISTRY,
          unit: str = "document") -> Entry | Problem:
    """One decoded object as an :class:`Entry`, or why it cannot be one."""
    def problem(reason: str) -> Problem:
        return Problem(source, index, reason, unit)

    if not isinstance(value, dict):
        return problem("not an object: a manifest is a mapping with apiVersion, kind and metadata")
    api_version, kind_name = value.get("apiVersion"), value.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind_name, str):
        return problem("apiVersion and kind must be given as strings")
    group, _, version = api_version.rpartition("/")
    if group != GROUP:
        return Skipped(source, index, f"skipped: {kind_name} of {api_version} is not an Ark kind", unit)
    kind = next((k for k in registry if k.version == version and k.kind == kind_name), None)
    if kind is None:
        served = ", ".join(sorted(f"{k.kind} ({k.api_version})" for k in registry))
        return problem(f"no kind {kind_name} in {api_version}: this server serves {served}")
    obj = {k: v for k, v in value.items() if k in ("apiVersion", "kind", "metadata", "spec", "status")}
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        return problem(f"{kind.kind} without metadata.name: every object to import must be named")
    obj["metadata"] = metadata = dict(metadata)
    for key in _DROPPED_METADATA:
        metadata.pop(key, None)
    metadata.setdefault("namespace", default_namespace)
    errors = meta.validate_object_meta(metadata)
    if errors:
        return problem(f'{kind.kind} "{metadata["name"]}": ' + "; ".join(str(e) for e in errors))
    pruned: list[str] = []
    FieldPruner(kind, WriteOptions(), pruned).normalize(obj)
    return Entry(kind, obj, source, index, pruned, unit)
