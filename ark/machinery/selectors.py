"""Label and field selectors: parsed once per request, then run in SQL (see
``ark.storage.store``) or, for single objects such as watch events, by ``matches``.

Grammar and semantics follow apimachinery ``pkg/labels/selector.go`` and
``pkg/fields/selector.go``. Each label requirement is one subquery and each value a bound
parameter, so a selector is bounded (kube-apiserver has no bound; we document ours): at most
:data:`MAX_LABEL_REQUIREMENTS` requirements holding at most :data:`MAX_LABEL_VALUES` values in
all, and at most :data:`MAX_FIELD_REQUIREMENTS` field requirements; more is 400 BadRequest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ark.machinery.errors import bad_request
from ark.machinery.names import label_key_error, label_value_error

MAX_LABEL_REQUIREMENTS = 100
MAX_LABEL_VALUES = 10_000
MAX_FIELD_REQUIREMENTS = 100

EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GREATER, LESS = (
    "=", "!=", "in", "notin", "exists", "!", "gt", "lt",
)


@dataclass(frozen=True)
class Requirement:
    """One comma-separated term of a label selector."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in (EQUALS, IN):
            return present and value in self.values
        if self.operator in (NOT_EQUALS, NOT_IN):
            return not present or value not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        number = _as_int(value) if present else None
        if number is None:
            return False
        return number > int(self.values[0]) if self.operator == GREATER else number < int(self.values[0])


def _as_int(value: str | None) -> int | None:
    if value is not None and re.fullmatch(r"-?[0-9]{1,18}", value):
        return int(value)
    return None


label_number = _as_int  # the value stored beside a label so that `k>5` runs in SQL


_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|>|<|!|[^\s(),!=<>]+)")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or not match.group(1):
            raise bad_request(f"unable to parse requirement: unexpected character at position {pos} in {text!r}")
        out.append(match.group(1))
        pos = match.end()
    return out


def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    """Parse ``labelSelector``; a malformed selector is a 400 BadRequest."""
    if not text or not text.strip():
        return ()
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    i = 0

    def fail(why: str):
        return bad_request(f"unable to parse requirement: {why}")

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise fail(f"unexpected end of selector {text!r}")
        i += 1
        return tokens[i - 1]

    values_seen = 0
    while i < len(tokens):
        if len(requirements) == MAX_LABEL_REQUIREMENTS:
            raise bad_request(f"the label selector has more than {MAX_LABEL_REQUIREMENTS} requirements: at most "
                              f"{MAX_LABEL_REQUIREMENTS} comma-separated requirements are allowed")
        token = take()
        if token == "!":  # noqa: S105 - a selector token, not a secret
            key = take()
            _check_key(key, fail)
            requirements.append(Requirement(key, DOES_NOT_EXIST))
        else:
            key = token
            _check_key(key, fail)
            nxt = tokens[i] if i < len(tokens) else ","
            if nxt == ",":
                requirements.append(Requirement(key, EXISTS))
            elif nxt in ("=", "==", "!="):
                take()
                value = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                if value:
                    take()
                _check_value(value, fail)
                requirements.append(Requirement(key, NOT_EQUALS if nxt == "!=" else EQUALS, (value,)))
            elif nxt in (">", "<"):
                take()
                value = take()
                if _as_int(value) is None:
                    raise fail(f"for 'Gt', 'Lt' operators, the value must be an integer, got {value!r}")
                requirements.append(Requirement(key, GREATER if nxt == ">" else LESS, (value,)))
            elif nxt in ("in", "notin"):
                take()
                if take() != "(":
                    raise fail(f"found {tokens[i - 1]!r}, expected: '('")
                values: list[str] = []
                while True:
                    value = take()
                    if value == ")" and not values:
                        break
                    if value in (",", ")"):
                        values.append("")
                    else:
                        _check_value(value, fail)
                        values.append(value)
                        value = take()
                    if values_seen + len(values) > MAX_LABEL_VALUES:
                        raise bad_request(f"the label selector has more than {MAX_LABEL_VALUES} values: at most "
                                          f"{MAX_LABEL_VALUES} values are allowed in all its 'in' and 'notin' sets")
                    if value == ")":
                        break
                    if value != ",":
                        raise fail(f"found {value!r}, expected: ',' or ')'")
                if not values:
                    raise fail("for 'in', 'notin' operators, values set can't be empty")
                values_seen += len(values)
                requirements.append(Requirement(key, IN if nxt == "in" else NOT_IN, tuple(values)))
            else:
                raise fail(f"found {nxt!r}, expected: in, notin, =, ==, !=, gt, lt")
        if i < len(tokens):
            if tokens[i] != ",":
                raise fail(f"found {tokens[i]!r}, expected: ','")
            i += 1
            if i == len(tokens):
                raise fail(f"unexpected end of selector {text!r}")
    return tuple(requirements)


def _check_key(key: str, fail) -> None:
    if key in ("(", ")", ",", "=", "==", "!=", "!", ">", "<"):
        raise fail(f"found {key!r}, expected: identifier")
    error = label_key_error(key)
    if error:
        raise fail(f"invalid label key {key!r}: {error}")


def _check_value(value: str, fail) -> None:
    error = label_value_error(value)
    if error:
        raise fail(f"invalid label value: {value!r}: {error}")


def matches(requirements: tuple[Requirement, ...], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


# Field selectors ------------------------------------------------------------------------

FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    equal: bool
    value: str

    def matches(self, obj_meta: dict) -> bool:
        actual = obj_meta.get(self.field.split(".", 1)[1], "")
        return (actual == self.value) == self.equal


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None, extra: tuple[str, ...] = ()) -> tuple[FieldRequirement, ...]:
    """Parse ``fieldSelector``: metadata.name and metadata.namespace, as for CRDs, and the
    kind's ``extra`` field labels (a core Event's ``involvedObject.name``...)."""
    if not text or not text.strip():
        return ()
    terms = _split_unescaped(text, ",")
    if len(terms) > MAX_FIELD_REQUIREMENTS:
        raise bad_request(f"the field selector has more than {MAX_FIELD_REQUIREMENTS} requirements: at most "
                          f"{MAX_FIELD_REQUIREMENTS} comma-separated requirements are allowed")
    out = []
    for term in terms:
        match = re.match(r"^([^=!]+?)\s*(==|=|!=)(.*)$", term.strip())
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = match.group(1).strip(), match.group(2), _unescape(match.group(3))
        if field not in FIELDS and field not in extra:
            raise bad_request(f'field label not supported: {field}')
        out.append(FieldRequirement(field, operator != "!=", value))
    return tuple(out)


def matches_fields(requirements: tuple[FieldRequirement, ...], meta: dict) -> bool:
    return all(r.matches(meta) for r in requirements)


#: Field labels whose value is not at their path (kube-apiserver's EventToSelectableFields).
_FIELD_PATHS = {"source": "source.component"}


def field_value(obj: dict, label: str) -> str:
    """The value a field label selects on in ``obj`` ("" when absent)."""
    value: object = obj
    for part in _FIELD_PATHS.get(label, label).split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def split_fields(requirements: tuple[FieldRequirement, ...]) -> tuple[tuple[FieldRequirement, ...],
                                                                       tuple[FieldRequirement, ...]]:
    """(the metadata requirements SQL runs, the others matched on stored objects)."""
    keyed = tuple(r for r in requirements if r.field in FIELDS)
    return keyed, tuple(r for r in requirements if r.field not in FIELDS)


def object_matches_fields(requirements: tuple[FieldRequirement, ...], obj: dict) -> bool:
    return all((field_value(obj, r.field) == r.value) == r.equal for r in requirements)
