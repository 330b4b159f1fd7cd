"""ConfigMap (core v1): named configuration that Ark objects refer to (``configMapKeyRef``)."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, fields

from ark.kinds.core.common import CORE_VERSION, NONE, CoreStrategy, config_key_errors, immutable_errors
from ark.kinds.fields import Boolean, String
from ark.kinds.registry import Kind
from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Lookup

MAX_CONFIGMAP_BYTES = 1024 * 1024


class ConfigMapBody(Schema):
    binaryData = fields.Dict(keys=String(), values=String(), metadata={
        "description": "BinaryData contains the binary data, base64 encoded. Its keys may not overlap data's.",
        "format": "byte"})
    data = fields.Dict(keys=String(), values=String(), metadata={
        "description": "Data contains the configuration data. Each key must consist of alphanumeric characters, "
                       "'-', '_' or '.'."})
    immutable = Boolean(metadata={"description": "Immutable, if set to true, ensures that data stored in the "
                                                 "ConfigMap cannot be updated (only object metadata can be "
                                                 "modified)."})


class ConfigMapStrategy(CoreStrategy):
    """Valid keys, each in data or binaryData but not both; base64 binaryData; at most 1 MiB."""

    def rules(self, obj: dict[str, Any], old: dict[str, Any] | None, lookup: Lookup) -> list[FieldError]:
        data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
        errors = config_key_errors(data, Path("data")) + config_key_errors(binary, Path("binaryData"))
        total = sum(len(k) + len(v) for k, v in data.items())
        for key, value in binary.items():
            if key in data:
                errors.append(field.invalid(Path("data").key(key), key, "duplicate of key present in binaryData"))
            try:
                total += len(key) + len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                errors.append(field.invalid(Path("binaryData").key(key), field.OMITTED, "must be base64 encoded"))
        if total > MAX_CONFIGMAP_BYTES:
            errors.append(field.too_long("", f"ConfigMap may not be more than {MAX_CONFIGMAP_BYTES} bytes"))
        return errors + immutable_errors(obj, old, ("data", "binaryData"))


KIND = Kind(
    kind="ConfigMap",
    plural="configmaps",
    singular="configmap",
    version=CORE_VERSION,
    group="",
    description="ConfigMap holds configuration data for pods to consume.",
    spec=NONE,
    status=NONE,
    body=ConfigMapBody(),
    strategy_class=ConfigMapStrategy,
    short_names=("cm",),
    subresources=(),
)
