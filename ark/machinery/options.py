"""The query options of every verb, parsed once per request as apimachinery parses them.

``ListOptions`` serve list, watch and deletecollection; ``WriteOptions`` create, update and
patch; ``DeleteOptions`` delete and deletecollection. Values are converted by
``ark.machinery.params`` (400 when a value does not convert) and then validated as
apimachinery validates each options kind (422 ``<Kind>.meta.k8s.io "" is invalid``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ark.machinery import codec, errors, params, selectors
from ark.machinery import field as fe
from ark.machinery.field import FieldError
from ark.machinery.params import QueryArgs

IGNORE, WARN, STRICT = "Ignore", "Warn", "Strict"
EXACT, NOT_OLDER_THAN = "Exact", "NotOlderThan"
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
MAX_FIELD_MANAGER_BYTES = 128


UINT64_MAX = 2**64 - 1


def parse_resource_version(value: str) -> int:
    """A request's ``resourceVersion``: an unsigned 64-bit integer (as kube-apiserver parses it), else 400."""
    if not value.isascii() or not value.isdigit() or int(value) > UINT64_MAX:
        raise errors.bad_request(f'invalid resource version "{value}": resourceVersion must be a non-negative '
                                 "64-bit integer")
    return int(value)


def _dry_run_errors(values: list[str]) -> list[FieldError]:
    return [fe.not_supported("dryRun", v, ["All"]) for v in values if v != "All"]


@dataclass(frozen=True)
class ListOptions:
    label_selector: tuple[selectors.Requirement, ...] = ()
    field_selector: tuple[selectors.FieldRequirement, ...] = ()
    watch: bool = False
    allow_watch_bookmarks: bool = False
    resource_version: str = ""
    resource_version_match: str = ""
    timeout_seconds: int | None = None
    limit: int = 0
    continue_token: str = ""
    send_initial_events: bool | None = None

    @property
    def watch_list(self) -> bool:
        """A streaming list (watch-list): initial state as events, then a bookmark."""
        return bool(self.send_initial_events)


def parse_list_options(args: QueryArgs, field_labels: tuple[str, ...] = ()) -> ListOptions:
    """The list options of a request; ``field_labels`` are the kind's extra field selector labels."""
    options = ListOptions(
        label_selector=selectors.parse_label_selector(params.string(args, "labelSelector")),
        field_selector=selectors.parse_field_selector(params.string(args, "fieldSelector"), field_labels),
        watch=params.boolean(args, "watch"),
        allow_watch_bookmarks=params.boolean(args, "allowWatchBookmarks"),
        resource_version=params.string(args, "resourceVersion"),
        resource_version_match=params.string(args, "resourceVersionMatch"),
        timeout_seconds=params.optional_int64(args, "timeoutSeconds"),
        limit=params.int64(args, "limit"),
        continue_token=params.string(args, "continue"),
        send_initial_events=params.optional_boolean(args, "sendInitialEvents"),
    )
    problems = _watch_problems(options) if options.watch else _list_problems(options)
    if problems:
        raise errors.invalid_options("ListOptions", problems)
    if options.resource_version:
        parse_resource_version(options.resource_version)
    return options


def _list_problems(options: ListOptions) -> list[FieldError]:
    path = "resourceVersionMatch"
    problems = []
    match = options.resource_version_match
    if match:
        if not options.resource_version:
            problems.append(fe.forbidden(path, "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if options.continue_token:
            problems.append(fe.forbidden(path, "resourceVersionMatch is forbidden when continue is provided"))
        if match not in (EXACT, NOT_OLDER_THAN):
            problems.append(fe.not_supported(path, match, [EXACT, NOT_OLDER_THAN, ""]))
        if match == EXACT and options.resource_version == "0":
            problems.append(fe.forbidden(path, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if options.send_initial_events is not None:
        problems.append(fe.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return problems


def _watch_problems(options: ListOptions) -> list[FieldError]:
    path = "resourceVersionMatch"
    problems = []
    match = options.resource_version_match
    if options.send_initial_events is not None and match != NOT_OLDER_THAN:
        problems.append(fe.forbidden(path, "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
    if match:
        if options.send_initial_events is None:
            problems.append(fe.forbidden(path, "resourceVersionMatch is forbidden for watch unless sendInitialEvents "
                                               "is provided"))
        if match != NOT_OLDER_THAN:
            problems.append(fe.not_supported(path, match, [NOT_OLDER_THAN]))
        if options.continue_token:
            problems.append(fe.forbidden(path, "resourceVersionMatch is forbidden when continue is provided"))
    return problems


@dataclass(frozen=True)
class WriteOptions:
    """CreateOptions, UpdateOptions and PatchOptions."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = WARN
    force: bool = False


def parse_write_options(args: QueryArgs, options_kind: str, allow_force: bool = False) -> WriteOptions:
    problems = _dry_run_errors(list(args.getlist("dryRun")))
    manager = params.string(args, "fieldManager")
    if len(manager.encode()) > MAX_FIELD_MANAGER_BYTES:
        problems.append(fe.too_long("fieldManager", f"may not be more than {MAX_FIELD_MANAGER_BYTES} bytes"))
    elif manager and not manager.isprintable():
        problems.append(fe.invalid("fieldManager", manager, "must be composed of printable characters"))
    validation = params.string(args, "fieldValidation") or WARN
    if validation not in (IGNORE, WARN, STRICT):
        problems.append(fe.not_supported("fieldValidation", validation, [IGNORE, STRICT, WARN]))
    force = params.optional_boolean(args, "force")
    if force is not None and not allow_force:
        problems.append(fe.forbidden("force", "may not be specified for non-apply patch"))
    if problems:
        raise errors.invalid_options(options_kind, problems)
    return WriteOptions(bool(args.getlist("dryRun")), manager, validation, bool(force))


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: str | None = None
    dry_run: bool = False
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None

    @property
    def gc_finalizers(self) -> tuple[str, ...]:
        """The finalizer the garbage collector must remove before the object goes."""
        return {"Foreground": ("foregroundDeletion",), "Orphan": ("orphan",)}.get(self.propagation_policy or "", ())


_DELETE_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "propagationPolicy": (str,), "gracePeriodSeconds": (int,), "orphanDependents": (bool,),
    "dryRun": (list,), "preconditions": (dict,),
}


def parse_delete_options(body: bytes, content_type: str, args: QueryArgs) -> DeleteOptions:
    """DeleteOptions from the body (JSON or YAML), or from query parameters when it is empty."""
    if body.strip():
        sent, _ = codec.decode(body, content_type)
        if not isinstance(sent, dict):
            raise errors.bad_request("the DeleteOptions body must be a JSON object")
        _check_delete_option_types(sent)
    else:
        sent = {}
        if "propagationPolicy" in args:
            sent["propagationPolicy"] = params.string(args, "propagationPolicy")
        if "gracePeriodSeconds" in args:
            sent["gracePeriodSeconds"] = params.int64(args, "gracePeriodSeconds")
        if "orphanDependents" in args:
            sent["orphanDependents"] = params.boolean(args, "orphanDependents")
        if args.getlist("dryRun"):
            sent["dryRun"] = list(args.getlist("dryRun"))
        preconditions = {k: params.string(args, f"preconditions.{k}") for k in ("uid", "resourceVersion")
                         if f"preconditions.{k}" in args}
        if preconditions:
            sent["preconditions"] = preconditions
    policy = sent.get("propagationPolicy")
    problems = _dry_run_errors(sent.get("dryRun") or [])
    if policy is not None and policy not in PROPAGATION_POLICIES:
        problems.append(fe.not_supported("propagationPolicy", policy, list(PROPAGATION_POLICIES)))
    if policy is not None and sent.get("orphanDependents") is not None:
        problems.append(fe.invalid("propagationPolicy", policy, "orphanDependents and deletionPropagation cannot "
                                                                "be both set"))
    if problems:
        raise errors.invalid_options("DeleteOptions", problems)
    if policy is None and sent.get("orphanDependents") is not None:
        policy = "Orphan" if sent["orphanDependents"] else "Background"
    preconditions = sent.get("preconditions") or {}
    return DeleteOptions(policy, bool(sent.get("dryRun")), preconditions.get("uid"),
                         preconditions.get("resourceVersion"))


def _check_delete_option_types(options: dict[str, Any]) -> None:
    """DeleteOptions that do not even decode are a 400, as in Go's strict JSON decoding."""
    for key, types in _DELETE_OPTION_TYPES.items():
        value = options.get(key)
        if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise errors.bad_request(f"DeleteOptions: {key} has the wrong type: expected "
                                     f"{_JSON_NAMES[types[0]]}")
    if not all(isinstance(v, str) for v in options.get("dryRun") or ()):
        raise errors.bad_request("DeleteOptions: dryRun must be a list of strings")
    if not all(isinstance(v, (str, type(None))) for v in (options.get("preconditions") or {}).values()):
        raise errors.bad_request("DeleteOptions: preconditions.uid and preconditions.resourceVersion are strings")


_JSON_NAMES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}
