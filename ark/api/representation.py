"""Which rendering of an object or list the client asked for (CONTRACT sections 7-9).

Plain JSON, a ``meta.k8s.io`` Table, or PartialObjectMetadata(List); protobuf and CBOR are
never offered, so a client listing them first gets its later JSON alternative, and a client
accepting nothing we offer gets 406.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import request

from ark.api.negotiation import Offer, require

JSON, TABLE, PARTIAL, PARTIAL_LIST = "json", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"


@dataclass(frozen=True)
class Representation:
    form: str
    version: str = "v1"  # meta.k8s.io version for Table/PartialObjectMetadata


def _offers(partial_form: str) -> tuple[Offer, ...]:
    offers = [Offer("application/json", value=Representation(JSON))]
    for form in (TABLE, partial_form):
        for version in ("v1", "v1beta1"):
            params = {"as": form, "v": version, "g": "meta.k8s.io"}
            offers.append(Offer("application/json", params, Representation(form, version), "application/json"))
    return tuple(offers)


_OBJECT_OFFERS = _offers(PARTIAL)
_LIST_OFFERS = _offers(PARTIAL_LIST)


def negotiate(is_list: bool) -> Representation:
    return require(request.headers.get("Accept"), _LIST_OFFERS if is_list else _OBJECT_OFFERS).offer.value
