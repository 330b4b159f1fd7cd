"""managedFields: who owns which fields, and what an apply or an update does to that.

The write path calls :func:`update` for every create, update, patch and status write (with the
object as it will be stored) and :func:`apply` for every apply patch. Both return plain JSON
for ``metadata.managedFields``; nothing here reads a request or touches storage.

kube-apiserver wraps the merge logic in a stack of steps; here they are, in the same order:

* decode the stored entries, or on an update the ones the client sent (see :func:`update`);
* an object that has no entries is not tracked by updates until its first apply, which
  first records everything already set under the manager ``before-first-apply``;
* the manager identity: name, operation, subresource, and for updates the API version;
* an update entry gains the fields the write changed, and the fields it changed or removed
  are taken from every other manager; an apply entry becomes exactly what the configuration
  sets, and changing another manager's field is a conflict unless forced;
* the server's own fields (``metadata.uid``, ``resourceVersion``, ...) are never owned, nor
  ``status`` through the main resource or anything but ``status`` through ``/status``;
* at most ten update entries are kept: the oldest are merged into ``ancient-changes``;
* kubectl's migration from client-side apply, the server's half: for the manager
  ``kubectl`` (kubectl's default for server-side apply) conflicts are forced when every
  conflicting field is one the ``kubectl.kubernetes.io/last-applied-configuration``
  annotation shows applied with the value it still has (otherwise the other conflicts are
  reported); and an annotation already on the object is rewritten after each such apply to
  the applied configuration (Go's sorted JSON and a newline), or dropped if the annotations
  would exceed 256 KiB. kubectl does the rest itself: it applies the annotation alone as
  ``kubectl-last-applied`` and rewrites managedFields with a JSON patch, which
  :func:`update` honours because client-sent entries that decode are used.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from ark.machinery import field
from ark.machinery.errors import ApiError, bad_request
from ark.machinery.field import OMITTED, FieldError
from ark.machinery.managedfields.fieldpath import (
    FieldSet,
    FieldsV1Error,
    Path,
    from_fields_v1,
    go_json,
    go_quote,
    path_string,
    to_fields_v1,
)
from ark.machinery.managedfields.structure import Struct, object_structure
from ark.machinery.managedfields.typed import (
    Comparison,
    ShapeError,
    compare,
    ensure_named_fields,
    merge,
    prune,
    to_field_set,
)

if TYPE_CHECKING:
    from ark.kinds.registry import Kind

APPLY, UPDATE = "Apply", "Update"
FIELDS_V1 = "FieldsV1"
KUBECTL = "kubectl"  # kubectl's manager for server-side apply; only it migrates client-side apply
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10
MANAGER_MAX_BYTES = 128
SUBRESOURCE_MAX_BYTES = 256
ANNOTATIONS_MAX_BYTES = 256 * 1024
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_EPOCH = "1970-01-01T00:00:00Z"

# Never owned by anyone (kube-apiserver's stripped fields).
SERVER_OWNED = FieldSet.from_paths(
    [("apiVersion",), ("kind",), ("metadata",)]
    + [("metadata", name) for name in ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                                      "generation", "managedFields", "resourceVersion")]
)
# What a write through each endpoint cannot set, so never owns (the strategies' reset fields).
_RESET_FIELDS = {
    "": FieldSet.from_paths([("status",)]),
    "status": FieldSet.from_paths([("metadata",), ("spec",)]),
}


class ManagerKey(NamedTuple):
    """Identifies one managedFields entry; updates are also told apart by API version."""

    manager: str
    operation: str
    api_version: str  # always "" for Apply: an applier keeps its entry across versions
    subresource: str

    @property
    def identifier(self) -> str:
        """kube-apiserver's identifier (the entry's JSON without fields and time); orders managers."""
        entry = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
                 "subresource": self.subresource}
        return go_json({name: value for name, value in entry.items() if value})

    def describe(self) -> str:
        """How conflict messages name the manager: ``"mgr" using ark.mckinsey.com/v1alpha1``."""
        text = go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {go_quote(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


@dataclass(frozen=True)
class Owned:
    """One entry's content: the fields, the version they are in, and when they last changed."""

    fields: FieldSet
    api_version: str
    time: str | None
    raw: dict[str, Any] | None = None  # the stored fieldsV1 the fields were read from, written back unchanged


Managed = dict[ManagerKey, Owned]


class ManagedFieldsError(ValueError):
    """``metadata.managedFields`` that cannot be used; ``errors`` name each bad field (a 422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(field.aggregate(errors))
        self.errors = errors


class ApplyConflict(ApiError):
    """409: the apply would change fields other managers own (kube-apiserver's wording)."""

    def __init__(self, conflicts: list[tuple[ManagerKey, Path]]) -> None:
        self.conflicts = conflicts
        causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {key.describe()}",
                   "field": path_string(path)} for key, path in conflicts]
        super().__init__(409, "Conflict", _conflict_message(conflicts), {"causes": causes})


def _conflict_message(conflicts: list[tuple[ManagerKey, Path]]) -> str:
    if len(conflicts) == 1:
        key, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {key.describe()}: {path_string(path)}"
    lines = []
    current = None
    for key, path in conflicts:
        if key != current:
            lines.append(f"conflicts with {key.describe()}:")
            current = key
        lines.append(f"- {path_string(path)}")
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


class _Conflicts(Exception):
    def __init__(self, by_manager: dict[ManagerKey, FieldSet]) -> None:
        super().__init__("apply conflicts")
        self.items = [(key, path) for key in sorted(by_manager, key=lambda k: k.identifier)
                      for path in by_manager[key].paths()]


@dataclass(frozen=True)
class ApplyResult:
    """The object after an apply, ``metadata.managedFields`` included.

    ``changed`` is False when the object and its managedFields are exactly as stored: the
    write path then writes nothing and keeps the resourceVersion.
    """

    object: dict[str, Any]
    changed: bool


# --- the manager name ----------------------------------------------------------------------


def manager_from_user_agent(user_agent: str) -> str:
    """The User-Agent up to its first ``/``, printable characters only, cut to 128 bytes (``kubectl-edit``)."""
    out = []
    size = 0
    for char in user_agent.split("/", 1)[0]:
        if not char.isprintable():
            continue
        size += len(char.encode())
        if size > MANAGER_MAX_BYTES:
            break
        out.append(char)
    return "".join(out)


def manager_name(field_manager: str, user_agent: str) -> str:
    """The ``fieldManager`` query parameter, else the User-Agent's prefix."""
    return field_manager or manager_from_user_agent(user_agent)


# --- update --------------------------------------------------------------------------------


def update(kind: Kind, live: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str,
           subresource: str = "") -> list[dict[str, Any]]:
    """The ``metadata.managedFields`` for ``new`` after a create (``live`` None), update or patch.

    ``new`` is the object as it will be stored, with the managedFields the client sent (if
    any); ``now`` an RFC 3339 timestamp; ``subresource`` ``""`` or ``"status"``. An empty
    result means the object carries no managedFields. As kube-apiserver does:

    * client-sent entries that decode are used as they are (that is how kubectl migrates
      client-side apply); an empty list, or one empty entry, resets ownership; entries that
      do not decode are ignored in favour of the stored ones; on ``/status`` the stored ones
      are always used;
    * entries of the wrong JSON shape, or naming an invalid manager, raise ManagedFieldsError;
    * if the object cannot be compared (a list item without its key), the stored entries
      are kept unchanged and the write's validation will report the problem.
    """
    structure = object_structure(kind)
    stored = _metadata(live).get("managedFields")
    sent = None if subresource else _metadata(new).get("managedFields")
    managed, from_client = _from_request(sent, stored)
    if not managed and _metadata(live).get("uid"):
        return []  # an object without entries is not tracked until it is applied
    before = _bare(live) if live is not None else _empty(kind)
    key = ManagerKey(manager or "unknown", UPDATE, kind.api_version, subresource)
    try:
        managed = _record_update(structure, kind.api_version, before, _bare(new), managed, key, now)
    except ShapeError:
        return list(stored) if isinstance(stored, list) else []
    entries = _encode(managed)
    errors = _entry_errors(entries) if from_client else []
    if errors:
        raise ManagedFieldsError(errors)
    return entries


def _record_update(structure: Struct, version: str, live: dict[str, Any], new: dict[str, Any], managed: Managed,
                   key: ManagerKey, now: str) -> Managed:
    managed = _current(managed, version)
    comparison = compare(structure, live, new).without(_reset_fields(key.subresource))
    _take_changed(managed, comparison, None, force=True)
    changed = comparison.modified.union(comparison.added).difference(SERVER_OWNED)
    if changed:
        previous = managed.get(key)
        managed[key] = Owned(changed if previous is None else changed.union(previous.fields), version, now)
    _cap_update_managers(managed)
    return managed


def _take_changed(managed: Managed, comparison: Comparison, applier: ManagerKey | None, force: bool
                  ) -> dict[ManagerKey, FieldSet]:
    """Take what changed away from every manager but ``applier``; the overlaps are the conflicts.

    Without ``force`` a conflict leaves ``managed`` as it was.
    """
    changed = comparison.modified.union(comparison.added)
    conflicts = {}
    if changed:
        for key, owned in managed.items():
            if key != applier:
                overlap = owned.fields.intersection(changed)
                if overlap:
                    conflicts[key] = overlap
    if conflicts and not force:
        return conflicts
    removed = comparison.removed
    for key, owned in list(managed.items()):
        if key == applier:
            continue
        fields = owned.fields
        if key in conflicts:
            fields = fields.difference(conflicts[key])
        fields = fields.difference(removed)
        if fields is not owned.fields:
            managed[key] = replace(owned, fields=fields, raw=None)
    for key in [key for key, owned in managed.items() if not owned.fields]:
        del managed[key]
    return conflicts


def _cap_update_managers(managed: Managed) -> None:
    """Merge the oldest update entries, per API version, into ``ancient-changes`` until ten are left."""
    updaters = [key for key in managed if key.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda key: (managed[key].time or _EPOCH, key.identifier))
    first_of_version: dict[str, ManagerKey] = {}
    count = len(updaters)
    for key in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        owned = managed[key]
        bucket = ManagerKey(ANCIENT_CHANGES, UPDATE, owned.api_version, "")
        first = first_of_version.get(owned.api_version)
        if first is None:
            first_of_version[owned.api_version] = key
            continue
        if key == bucket:
            continue  # an older bucket is never merged into itself (kube-apiserver would drop it)
        if bucket not in managed:
            managed[bucket] = managed.pop(first)
        managed[bucket] = Owned(owned.fields.union(managed[bucket].fields), owned.api_version, owned.time)
        del managed[key]
        count -= 1


# --- apply ---------------------------------------------------------------------------------


def apply(kind: Kind, live: dict[str, Any] | None, applied: dict[str, Any], manager: str, now: str, force: bool = False,
          subresource: str = "") -> ApplyResult:
    """Server-side apply of the configuration ``applied`` by ``manager`` to ``live`` (None: create).

    Raises ApplyConflict (409), ApiError 400 for a configuration of another kind, with
    managedFields or with duplicated list items, and ManagedFieldsError when the stored
    entries cannot be read. The result shares unchanged parts with ``live`` and ``applied``.
    """
    structure = object_structure(kind)
    _check_applied(kind, applied)
    config = _bare(applied)
    try:
        config_fields = to_field_set(structure, config, allow_duplicates=False)
    except ShapeError as err:
        raise bad_request(f"the applied configuration is not valid: {err}") from None
    before = _bare(live) if live is not None else _empty(kind)
    managed = _decode_stored(_metadata(live).get("managedFields"))
    key = ManagerKey(manager or "unknown", APPLY, "", subresource)
    version = kind.api_version
    try:
        try:
            merged, managed = _record_apply(structure, version, before, config, config_fields, managed, key, now,
                                            force)
        except _Conflicts as conflicts:
            allowed = _allowed_by_last_applied(structure, version, before) if manager == KUBECTL else None
            remaining = [(owner, path) for owner, path in conflicts.items if allowed is None or not allowed.has(path)]
            if remaining:
                raise ApplyConflict(remaining) from None
            merged, managed = _record_apply(structure, version, before, config, config_fields, managed, key, now, True)
    except ShapeError as err:
        raise bad_request(f"the object cannot be merged: {err}") from None
    obj = _sync_last_applied(merged, config) if manager == KUBECTL else merged
    entries = _encode(managed)
    metadata = {key: value for key, value in _metadata(obj).items() if key != "managedFields"}
    if entries:
        metadata["managedFields"] = entries
    changed = live is None or obj is not before or entries != (_metadata(live).get("managedFields") or [])
    return ApplyResult({**obj, "metadata": metadata}, changed)


def _record_apply(structure: Struct, version: str, live: dict[str, Any], config: dict[str, Any],
                  config_fields: FieldSet, managed: Managed, key: ManagerKey, now: str, force: bool
                  ) -> tuple[dict[str, Any], Managed]:
    if not managed:
        first = ManagerKey(BEFORE_FIRST_APPLY, UPDATE, version, key.subresource)
        managed = _record_update(structure, version, _empty_like(live), live, {}, first, now)
    managed = _current(managed, version)
    reset = _reset_fields(key.subresource)
    merged = merge(structure, live, config)
    last = managed.get(key)
    applied = config_fields.recursive_difference(reset)
    managed[key] = Owned(applied, version, last.time if last else None)
    # Only what was applied last time and is not applied now can go; nothing, if the set is the same.
    if last is not None and last.fields and applied.difference(SERVER_OWNED) != last.fields:
        owned = FieldSet()
        for entry in managed.values():
            owned = owned.union(entry.fields)
        merged = prune(structure, merged, ensure_named_fields(structure, last.fields),
                       ensure_named_fields(structure, owned), applied)
    comparison = compare(structure, live, merged)
    unchanged = comparison.same
    conflicts = _take_changed(managed, comparison.without(reset), key, force)
    if conflicts and not force:
        raise _Conflicts(conflicts)
    if unchanged:
        merged = live
    elif key in managed:
        managed[key] = replace(managed[key], time=now)
    if key in managed:
        mine = managed[key].fields.difference(SERVER_OWNED)
        if not mine:
            del managed[key]
        elif last is not None and mine == last.fields:
            managed[key] = replace(last, time=managed[key].time)
        else:
            managed[key] = replace(managed[key], fields=mine)
    return merged, managed


def _check_applied(kind: Kind, applied: Any) -> None:
    if not isinstance(applied, dict):
        raise bad_request("the applied configuration must be an object")
    if applied.get("apiVersion") != kind.api_version or applied.get("kind") != kind.kind:
        raise bad_request(f"invalid object type: {_gvk_string(applied.get('apiVersion'), applied.get('kind'))}")
    if _metadata(applied).get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")


def _gvk_string(api_version: Any, kind: Any) -> str:
    """A GroupVersionKind as Go prints it: ``ark.mckinsey.com/v1alpha1, Kind=Query``."""
    text = api_version if isinstance(api_version, str) else ""
    group, version = "", ""
    if text.count("/") == 1:
        group, version = text.split("/")
    elif "/" not in text:
        version = text
    return f"{group}/{version}, Kind={kind if isinstance(kind, str) else ''}"


def _allowed_by_last_applied(structure: Struct, version: str, live: dict[str, Any]) -> FieldSet | None:
    """The fields the last-applied annotation shows kubectl set and that still hold those values."""
    annotations = _metadata(live).get("annotations")
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not text or not isinstance(text, str):
        return None
    try:
        last_applied = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != version:
        return None
    try:
        fields = to_field_set(structure, last_applied)
        differences = compare(structure, last_applied, live)
    except ShapeError:
        return None
    return fields.difference(differences.modified).difference(differences.added).difference(differences.removed)


def _sync_last_applied(obj: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an existing last-applied annotation to this configuration (dropped if over the size limit)."""
    metadata = _metadata(obj)
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return obj
    value = go_json(_without_last_applied(config), sort_keys=True) + "\n"
    if annotations[LAST_APPLIED] == value:
        return obj
    updated = {**annotations, LAST_APPLIED: value}
    if sum(len(k.encode()) + len(v.encode()) for k, v in updated.items() if isinstance(v, str)) > ANNOTATIONS_MAX_BYTES:
        del updated[LAST_APPLIED]
    return {**obj, "metadata": {**metadata, "annotations": updated}}


def _without_last_applied(config: dict[str, Any]) -> dict[str, Any]:
    metadata = _metadata(config)
    if "annotations" not in metadata:
        return config
    annotations = metadata["annotations"]
    if annotations is None:
        return {**config, "metadata": {k: v for k, v in metadata.items() if k != "annotations"}}
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return config
    kept = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**config, "metadata": {**metadata, "annotations": kept}}


# --- entries on the wire -------------------------------------------------------------------


def _metadata(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _bare(obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy without ``metadata.managedFields`` (never part of any field set)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return dict(obj)
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


def _empty(kind: Kind) -> dict[str, Any]:
    return {"apiVersion": kind.api_version, "kind": kind.kind}


def _empty_like(obj: dict[str, Any]) -> dict[str, Any]:
    return {name: obj[name] for name in ("apiVersion", "kind") if name in obj}


def _reset_fields(subresource: str) -> FieldSet:
    try:
        return _RESET_FIELDS[subresource]
    except KeyError:
        raise ValueError(f"no field ownership rules for the subresource {subresource!r}") from None


def _current(managed: Managed, version: str) -> Managed:
    """The entries in ``version``; others cannot be compared (kube-apiserver drops entries of
    versions it cannot convert to, and the Ark kinds are served in one version each)."""
    return {key: owned for key, owned in managed.items() if owned.api_version == version}


def _from_request(sent: Any, stored: Any) -> tuple[Managed, bool]:
    """The entries an update starts from, and whether they are the client's."""
    if sent is None or sent == stored:
        return _decode_or_empty(stored), False
    if _is_reset(sent):
        return {}, False
    errors = _shape_errors(sent)
    if errors:
        raise ManagedFieldsError(errors)
    try:
        managed = _decode(sent, keep_raw=False)
    except ManagedFieldsError:
        managed = {}
    return (managed, True) if managed else (_decode_or_empty(stored), False)


def _is_reset(sent: Any) -> bool:
    """``[]``, or a single entry with nothing in it: the client asks to forget all ownership."""
    if not isinstance(sent, list) or len(sent) > 1:
        return False
    return not sent or (isinstance(sent[0], dict) and all(value in (None, "") for value in sent[0].values()))


def _decode_or_empty(stored: Any) -> Managed:
    if stored is None or _shape_errors(stored):
        return {}
    try:
        return _decode(stored, keep_raw=True)
    except ManagedFieldsError:
        return {}


def _decode_stored(stored: Any) -> Managed:
    if stored is None:
        return {}
    errors = _shape_errors(stored)
    if errors:
        raise ManagedFieldsError(errors)
    return _decode(stored, keep_raw=True)


_STRINGS = ("manager", "operation", "apiVersion", "fieldsType", "subresource")
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)\Z")
# Already normal (as every stored time is) and valid in every month: no need to parse.
_NORMAL_TIME = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ\Z")


def _normal_time(text: str) -> str | None:
    """An RFC 3339 time as Kubernetes writes it back (UTC, whole seconds), or None if invalid."""
    if _NORMAL_TIME.match(text):
        return text
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    offset = match.group(7)
    try:
        zone = UTC if offset == "Z" else timezone(
            (1 if offset[0] == "+" else -1) * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(value: Any) -> Any:
    """The bad value for a message: scalars as they are, objects and lists left out."""
    return OMITTED if isinstance(value, (dict, list)) else value


def _shape_errors(entries: Any) -> list[FieldError]:
    """What could not even be read as a list of ManagedFieldsEntry."""
    if not isinstance(entries, list):
        return [field.type_invalid("metadata.managedFields", _shown(entries),
                                   "must be a list of managed fields entries")]
    errors = []
    for i, entry in enumerate(entries):
        where = f"metadata.managedFields[{i}]"
        if not isinstance(entry, dict):
            errors.append(field.type_invalid(where, _shown(entry), "must be an object"))
            continue
        for name in _STRINGS:
            value = entry.get(name)
            if value is not None and not isinstance(value, str):
                errors.append(field.type_invalid(f"{where}.{name}", _shown(value), "must be of type string"))
        time = entry.get("time")
        if time is not None and (not isinstance(time, str) or _normal_time(time) is None):
            errors.append(field.invalid(f"{where}.time", _shown(time), "must be an RFC 3339 date-time"))
    return errors


def _decode(entries: list[Any], keep_raw: bool) -> Managed:
    """Entries (of the right shape) as managers; ManagedFieldsError lists what kube-apiserver refuses."""
    managed: Managed = {}
    errors = []
    for i, entry in enumerate(entries):
        where = f"metadata.managedFields[{i}]"
        operation = entry.get("operation") or ""
        if operation not in (APPLY, UPDATE):
            errors.append(field.not_supported(f"{where}.operation", operation, (APPLY, UPDATE)))
        version = entry.get("apiVersion") or ""
        if not version:
            errors.append(field.required(f"{where}.apiVersion", "must not be empty"))
        fields_type = entry.get("fieldsType") or ""
        if fields_type != FIELDS_V1:
            errors.append(field.not_supported(f"{where}.fieldsType", fields_type, (FIELDS_V1,)))
        raw = entry.get("fieldsV1")
        try:
            fields = from_fields_v1({} if raw is None else raw)
        except FieldsV1Error as err:
            errors.append(field.invalid(f"{where}.fieldsV1", OMITTED, str(err)))
            continue
        time = entry.get("time")
        key = ManagerKey(entry.get("manager") or "", operation, version if operation == UPDATE else "",
                         entry.get("subresource") or "")
        managed[key] = Owned(fields, version, _normal_time(time) if time else None,
                             raw if keep_raw and isinstance(raw, dict) else None)
    if errors:
        raise ManagedFieldsError(errors)
    return managed


def _encode(managed: Managed) -> list[dict[str, Any]]:
    entries = []
    for key, owned in managed.items():
        entry: dict[str, Any] = {}
        if key.manager:
            entry["manager"] = key.manager
        entry["operation"] = key.operation
        if owned.api_version:
            entry["apiVersion"] = owned.api_version
        if owned.time:
            entry["time"] = owned.time
        entry["fieldsType"] = FIELDS_V1
        entry["fieldsV1"] = owned.raw if owned.raw is not None else to_fields_v1(owned.fields)
        if key.subresource:
            entry["subresource"] = key.subresource
        entries.append(entry)
    entries.sort(key=lambda e: (e["operation"], e.get("time") or _EPOCH, e.get("manager", ""),
                                e.get("apiVersion", ""), e.get("subresource", "")))
    return entries


def _entry_errors(entries: list[dict[str, Any]]) -> list[FieldError]:
    """kube-apiserver's checks of the stored entries: manager names and subresources."""
    errors = []
    for i, entry in enumerate(entries):
        where = f"metadata.managedFields[{i}]"
        manager = entry.get("manager", "")
        if len(manager.encode()) > MANAGER_MAX_BYTES:
            errors.append(field.too_long(f"{where}.manager", f"may not be more than {MANAGER_MAX_BYTES} bytes"))
        position = 0
        for char in manager:
            if not char.isprintable():
                errors.append(field.invalid(f"{where}.manager", manager,
                                            f"invalid character U+{ord(char):04X} (at position {position})"))
            position += len(char.encode())
        if len(entry.get("subresource", "").encode()) > SUBRESOURCE_MAX_BYTES:
            errors.append(field.too_long(f"{where}.subresource", f"may not be more than {SUBRESOURCE_MAX_BYTES} bytes"))
    return errors
