"""What the core kinds share: their strategy's defaults (kube-apiserver's, not a CRD's) and the
key rules of Secret and ConfigMap data."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema

from ark.machinery import field
from ark.machinery.field import FieldError, Path
from ark.registry.strategy import Strategy

CORE_VERSION = "v1"
#: The spec and status of a core kind that has neither (its fields are its ``body``).
NONE = Schema()
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIG_KEY_MAX = 253
_CONFIG_KEY_MESSAGE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', "
                       " or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


class CoreStrategy(Strategy):
    """A built-in kind: an update need not carry a resourceVersion (kube-apiserver's
    ``AllowUnconditionalUpdate`` for these kinds)."""

    allow_unconditional_update = True


def config_key_errors(keys: Any, path: Path) -> list[FieldError]:
    """apimachinery ``IsConfigMapKey``: the keys of Secret and ConfigMap data."""
    errors = []
    for key in keys:
        if len(key) > CONFIG_KEY_MAX:
            errors.append(field.invalid(path.key(key), key, f"must be no more than {CONFIG_KEY_MAX} characters"))
        elif key in (".", ".."):
            errors.append(field.invalid(path.key(key), key, f"must not be '{key}'"))
        elif key.startswith(".."):
            errors.append(field.invalid(path.key(key), key, "must not start with '..'"))
        elif not _CONFIG_KEY.match(key):
            errors.append(field.invalid(path.key(key), key, _CONFIG_KEY_MESSAGE))
    return errors


def immutable_errors(obj: dict[str, Any], old: dict[str, Any] | None, sections: tuple[str, ...]) -> list[FieldError]:
    """``immutable: true`` freezes the data and cannot be unset (Secrets and ConfigMaps)."""
    if old is None or not old.get("immutable"):
        return []
    errors = []
    if not obj.get("immutable"):
        errors.append(field.forbidden("immutable", "field is immutable when `immutable` is set"))
    for section in sections:
        if obj.get(section) != old.get(section):
            errors.append(field.forbidden(section, "field is immutable when `immutable` is set"))
    return errors
