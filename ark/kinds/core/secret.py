"""Secret (core v1): named data for Models' API keys, MCP servers' headers and the like.

``stringData`` is folded into base64 ``data`` on every write, as kube-apiserver does, and never
stored. Standalone mode is for development: Secrets are stored as they are, not encrypted.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, fields

from ark.kinds.core.common import CORE_VERSION, NONE, CoreStrategy, config_key_errors, immutable_errors
from ark.kinds.fields import Boolean, String
from ark.kinds.registry import Kind, PrinterColumn
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup

OPAQUE = "Opaque"
MAX_SECRET_BYTES = 1024 * 1024


class SecretBody(Schema):
    data = fields.Dict(keys=String(), values=String(), metadata={
        "description": "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' "
                       "or '.'. The serialized form of the secret data is a base64 encoded string.",
        "format": "byte"})
    immutable = Boolean(metadata={"description": "Immutable, if set to true, ensures that data stored in the Secret "
                                                 "cannot be updated (only object metadata can be modified)."})
    stringData = fields.Dict(keys=String(), values=String(), metadata={
        "description": "stringData allows specifying non-binary secret data in string form. It is provided as a "
                       "write-only input field for convenience. All keys and values are merged into the data "
                       "field on write, overwriting any existing values. The stringData field is never output "
                       "when reading from the API."})
    type = String(metadata={"description": "Used to facilitate programmatic handling of secret data."})


def _decoded_size(value: str) -> int | None:
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None


class SecretStrategy(CoreStrategy):
    """stringData folded into data; type Opaque unless given, and fixed once set."""

    def convert(self, obj: dict[str, Any]) -> None:
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            current = obj.get("data")
            data: dict[str, Any] = current if isinstance(current, dict) else {}
            for key, value in string_data.items():
                if isinstance(value, str):
                    data[key] = base64.b64encode(value.encode()).decode()
            obj["data"] = data

    def default(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if not obj.get("type"):
            obj["type"] = OPAQUE

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        data = obj.get("data") or {}
        errors = config_key_errors(data, Path("data"))
        total = 0
        for key, value in data.items():
            size = _decoded_size(value)
            if size is None:
                errors.append(field.invalid(Path("data").key(key), field.OMITTED, "must be base64 encoded"))
            else:
                total += size
        if total > MAX_SECRET_BYTES:
            errors.append(field.too_long("data", f"may not be more than {MAX_SECRET_BYTES} bytes"))
        if old is not None and obj.get("type") != old.get("type"):
            errors.append(field.invalid("type", obj.get("type"), "field is immutable"))
        return errors + immutable_errors(obj, old, ("data",))


KIND = Kind(
    kind="Secret",
    plural="secrets",
    singular="secret",
    version=CORE_VERSION,
    group="",
    description="Secret holds secret data of a certain type. The total bytes of the values in the Data field must "
                "be less than MaxSecretSize bytes.",
    spec=NONE,
    status=NONE,
    body=SecretBody(),
    strategy_class=SecretStrategy,
    subresources=(),
    field_labels=("type",),
    printer_columns=(
        PrinterColumn("Type", "string", ".type"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
