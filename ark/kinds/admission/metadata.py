"""What admission reads from and writes to an object's metadata.

* The label ``ark.mckinsey.com/skip-webhook-validation: "true"`` lets an object bypass the
  Agent defaults, the Agent rules and the Tool rules — exactly what it bypasses in Ark, whose
  webhooks exclude it with an object selector.
* A migration (e.g. a legacy Model's ``spec.type: openai``) leaves an annotation
  ``ark.mckinsey.com/migration-warning-<what>`` explaining itself. The annotation stays on the
  object, so its text is sent as a warning on this write and on every later one, as in Ark.
"""
from __future__ import annotations

from typing import Any

SKIP_VALIDATION_LABEL = "ark.mckinsey.com/skip-webhook-validation"
MIGRATION_WARNING_PREFIX = "ark.mckinsey.com/migration-warning-"


def _metadata_map(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """``metadata.labels`` or ``metadata.annotations`` when it is a map (validation reports it otherwise)."""
    metadata = obj.get("metadata")
    found = metadata.get(key) if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def annotations_of(obj: dict[str, Any]) -> dict[str, Any]:
    return _metadata_map(obj, "annotations")


def skips_validation(obj: dict[str, Any]) -> bool:
    return _metadata_map(obj, "labels").get(SKIP_VALIDATION_LABEL) == "true"


def namespace_of(obj: dict[str, Any]) -> str:
    """The namespace references are looked up in (the object's own, set from the URL)."""
    return str(obj["metadata"].get("namespace") or "")


def annotate_migration(obj: dict[str, Any], what: str, text: str) -> None:
    """Record a migration on ``obj`` (``metadata.annotations`` is created when absent; a
    malformed one is left for metadata validation to refuse)."""
    metadata = obj["metadata"]
    annotations = metadata.setdefault("annotations", {})
    if isinstance(annotations, dict):
        annotations[MIGRATION_WARNING_PREFIX + what] = text


def migration_warnings(obj: dict[str, Any]) -> list[str]:
    """The texts of every migration-warning annotation, in key order."""
    annotations = annotations_of(obj)
    return [str(annotations[key]) for key in sorted(annotations) if key.startswith(MIGRATION_WARNING_PREFIX)]


def spec_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """``obj["spec"]`` when it is an object. Defaults run before the schema is checked, so they
    must not trust the shape of what the client sent."""
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else None
