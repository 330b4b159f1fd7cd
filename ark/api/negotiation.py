"""HTTP content negotiation: parse ``Accept`` and pick the first acceptable offered form.

Mirrors apiserver ``pkg/endpoints/handlers/negotiation/negotiate.go`` (built on goautoneg):
the client's media ranges are tried best first (highest ``q``, then specific before
wildcard, then header order) and, for each range, the server's offers in the server's
order; the first (range, offer) pair that matches wins. A range matches an offer when the
type and subtype match (``*`` matches anything) and the range's parameters, apart from the
ignorable ones (``q``, ``charset``, ``pretty``, ``profile``), are exactly the offer's.

So ``*/*`` or a bare ``application/json`` never selects an offer that needs parameters
(``as=Table``, ``as=APIGroupDiscoveryList``); ``application/json;as=Table;g=meta.k8s.io;v=v1``
selects only an offer with exactly those parameters; a protobuf or CBOR range matches no JSON
offer, so a later JSON alternative is chosen, and without one the caller answers 406.

Typical use::

    OFFERS = (
        Offer("application/json", {"as": "Table", "g": "meta.k8s.io", "v": "v1"}, value="table-v1"),
        Offer("application/json", value="object"),
    )
    match = negotiate(request.headers.get("Accept"), OFFERS)   # Match(offer, range) | None
    match = require(request.headers.get("Accept"), OFFERS)     # Match, or raises a 406 ApiError
    if match.offer.value == "table-v1": ...
    response.headers["Content-Type"] = match.offer.header
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from flask import Response, request

from ark.machinery.errors import ApiError, not_acceptable

#: Parameters that never decide whether a range matches an offer.
IGNORED_PARAMS = frozenset({"q", "charset", "pretty", "profile"})

_EMPTY: Mapping[str, str] = MappingProxyType({})


class _AllParams(frozenset):
    """A set that contains every parameter name."""

    def __contains__(self, item: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_PARAMS"


#: Pass as ``ignore=`` to match on type/subtype alone (as kube-openapi does).
ALL_PARAMS: frozenset[str] = _AllParams()


def _ignored(ignore: Iterable[str]) -> frozenset[str]:
    return ignore if isinstance(ignore, _AllParams) else frozenset(ignore)


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _parse_params(pieces: Iterable[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for piece in pieces:
        if not piece.strip():
            continue
        name, _, value = piece.partition("=")
        name = name.strip().lower()
        if name:
            params[name] = _unquote(value)
    return params


def parse_media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` value: ``("application/json", {"charset": "utf-8"})``.

    The media type and the parameter names are lower-cased; values are unquoted and kept
    as sent. An empty or missing value gives ``("", {})``.
    """
    if not value:
        return "", {}
    pieces = _split(value, ";")
    return pieces[0].strip().lower(), _parse_params(pieces[1:])


@dataclass(frozen=True)
class MediaRange:
    """One ``Accept`` entry: ``type/subtype;name=value;...;q=0.5``.

    ``type``/``subtype`` and parameter names are lower-case; ``params`` excludes ``q``.
    ``index`` is the entry's position in the header.
    """

    type: str
    subtype: str
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    q: float = 1.0
    index: int = 0

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    def covers(self, media_type: str) -> bool:
        """Whether this range's type/subtype (wildcards allowed) covers ``media_type``."""
        type_, _, subtype = media_type.lower().partition("/")
        if self.type != "*" and self.type != type_:
            return False
        return self.subtype == "*" or self.subtype == subtype

    def accepts(self, offer: Offer, ignore: Iterable[str] = IGNORED_PARAMS) -> bool:
        """Whether ``offer`` satisfies this range: media type covered, parameters equal."""
        if not self.covers(offer.media_type):
            return False
        ignored = _ignored(ignore)
        mine = {k: v for k, v in self.params.items() if k not in ignored}
        theirs = {k.lower(): v for k, v in offer.params.items() if k.lower() not in ignored}
        return mine == theirs


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an ``Accept`` header into media ranges, best first.

    Order: ``q`` descending, then concrete types before ``*``, concrete subtypes before
    ``*``, then header order (goautoneg's order, made stable). Ranges with ``q=0`` are
    dropped (RFC 9110: not acceptable); malformed entries are skipped; ``*`` alone reads as
    ``*/*``. A missing or blank header means ``*/*``.
    """
    if header is None or not header.strip():
        return [MediaRange("*", "*")]
    ranges: list[MediaRange] = []
    for index, entry in enumerate(_split(header, ",")):
        pieces = _split(entry, ";")
        media = pieces[0].strip().lower()
        if not media:
            continue
        if media == "*":
            media = "*/*"
        type_, slash, subtype = media.partition("/")
        if not slash or not type_ or not subtype or (type_ == "*" and subtype != "*"):
            continue
        params = _parse_params(pieces[1:])
        q = 1.0
        if "q" in params:
            try:
                q = float(params.pop("q"))
            except ValueError:
                q = 1.0
            q = min(max(q, 0.0), 1.0)
        if q <= 0.0:
            continue
        ranges.append(MediaRange(type_, subtype, MappingProxyType(params), q, index))
    ranges.sort(key=lambda r: (-r.q, r.type == "*", r.subtype == "*", r.index))
    return ranges


@dataclass(frozen=True)
class Offer:
    """A form the server can produce: a media type, the parameters that name it, and a tag.

    ``value`` is free for the caller (e.g. ``"table-v1"`` or a serializer); it does not take
    part in matching. ``content_type`` is what to send back as ``Content-Type``; it defaults
    to ``media_type`` followed by the parameters in the order given.
    """

    media_type: str
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    value: Any = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_type", self.media_type.lower())
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def header(self) -> str:
        """The ``Content-Type`` to answer with."""
        if self.content_type is not None:
            return self.content_type
        return self.media_type + "".join(f";{k}={v}" for k, v in self.params.items())


class Match(NamedTuple):
    """The chosen offer and the client's range that selected it."""

    offer: Offer
    range: MediaRange


def negotiate(
    accept: str | Sequence[MediaRange] | None,
    offers: Sequence[Offer],
    ignore: Iterable[str] = IGNORED_PARAMS,
) -> Match | None:
    """The first offer acceptable to the best client range, or None (answer 406).

    ``accept`` is the raw header (None/blank = ``*/*``) or already parsed ranges.
    """
    ranges = parse_accept(accept) if accept is None or isinstance(accept, str) else accept
    ignored = _ignored(ignore)
    for media_range in ranges:
        for offer in offers:
            if media_range.accepts(offer, ignored):
                return Match(offer, media_range)
    return None


def acceptable_types(offers: Iterable[Offer]) -> str:
    """``application/json, ...``: the media types for a 406 message, without duplicates."""
    seen: list[str] = []
    for offer in offers:
        if offer.media_type not in seen:
            seen.append(offer.media_type)
    return ", ".join(seen)


def require(
    accept: str | Sequence[MediaRange] | None,
    offers: Sequence[Offer],
    ignore: Iterable[str] = IGNORED_PARAMS,
) -> Match:
    """Like :func:`negotiate`, but raise a 406 NotAcceptable :class:`ApiError` when nothing fits."""
    match = negotiate(accept, offers, ignore)
    if match is None:
        raise not_acceptable_error(offers)
    return match


def not_acceptable_error(offers: Iterable[Offer]) -> ApiError:
    return not_acceptable(acceptable_types(offers))


# ---------------------------------------------------------------------------------------------
# Serialized documents and conditional requests (RFC 9110 section 13.1.2), shared by discovery
# and OpenAPI: both build their documents from the kind registry once, when the app registers
# their blueprint, and serve them from memory with a SHA-512 ETag.


def compact_json(document: Any) -> bytes:
    """``document`` as compact UTF-8 JSON with sorted keys: the served bytes."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Document:
    """A serialized document, its hash and the ``Content-Type`` to serve it with.

    ``hash`` is the upper-hex SHA-512 of ``body``, as apiserver ``discovery/aggregated/etag.go``
    and kube-openapi ``computeETag`` compute it; ``etag`` is that hash quoted.
    """

    body: bytes
    hash: str
    content_type: str = "application/json"

    @property
    def etag(self) -> str:
        return f'"{self.hash}"'

    @classmethod
    def of(cls, document: Any, content_type: str = "application/json") -> Document:
        body = compact_json(document)
        return cls(body, hashlib.sha512(body).hexdigest().upper(), content_type)


def serve(document: Document, headers: Mapping[str, str] | None = None) -> Response:
    """``document`` with its ETag and ``Vary: Accept`` (plus ``headers``), or a bodiless 304
    when the request's ``If-None-Match`` already names it."""
    all_headers = {"ETag": document.etag, "Vary": "Accept", **(headers or {})}
    if etag_matches(request.headers.get("If-None-Match"), document.etag):
        return Response(status=304, headers=all_headers)
    response = Response(document.body, status=200, headers=all_headers)
    response.headers["Content-Type"] = document.content_type
    return response


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (quoted; weak comparison)."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in _split(if_none_match, ","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        candidate = candidate.removeprefix("W/")
        if candidate == wanted:
            return True
    return False
