"""The one JSON codec of the server, and request-body decoding (JSON or YAML).

Decoding reports duplicated keys (Python's parsers silently keep the last one) so that
``fieldValidation`` can reject or warn about them as kube-apiserver does.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from ark.machinery.errors import bad_request


def dumps(obj: Any) -> str:
    """Compact JSON, as stored and as sent."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    """JSON the server wrote itself (stored bodies); request bodies go through :func:`decode`."""
    return json.loads(text)


class _Decoded:
    """Collects duplicate keys by the id of the dict they were found in."""

    def __init__(self) -> None:
        self.duplicates: dict[int, list[str]] = {}

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        dups = []
        for key, value in pairs:
            if key in out:
                dups.append(key)
            out[key] = value
        if dups:
            self.duplicates[id(out)] = dups
        return out

    def paths(self, root: Any) -> list[str]:
        """Full paths (``spec.input``) of the duplicated keys found while decoding ``root``."""
        if not self.duplicates:
            return []
        found: list[str] = []

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for key in self.duplicates.get(id(node), ()):
                    found.append(f"{path}.{key}" if path else key)
                for key, value in node.items():
                    walk(value, f"{path}.{key}" if path else key)
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    walk(item, f"{path}[{i}]")

        walk(root, "")
        return found


class _StrictYamlLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: timestamps stay strings, duplicate keys are reported."""

    decoded: _Decoded


_StrictYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _StrictYamlLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    pairs = [(loader.construct_object(k, deep=True), loader.construct_object(v, deep=True)) for k, v in node.value]
    return loader.decoded.pairs(pairs)


_StrictYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def decode(body: bytes, content_type: str) -> tuple[Any, list[str]]:
    """Decode a request body; returns the value and the paths of duplicated fields.

    JSON for ``application/json`` and the JSON patch types; YAML for ``application/yaml``
    and apply patches (JSON is valid YAML, but JSON is parsed as JSON for speed).
    """
    decoded = _Decoded()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_request(f"the request body is not valid UTF-8: {err}") from None
    use_yaml = "yaml" in content_type
    if use_yaml and text.lstrip()[:1] in ("{", "["):
        use_yaml = False
    try:
        if use_yaml:
            loader = _StrictYamlLoader(text)
            loader.decoded = decoded
            try:
                value = loader.get_single_data()
            finally:
                loader.dispose()
        else:
            value = json.loads(text, object_pairs_hook=decoded.pairs)
    except (ValueError, yaml.YAMLError) as err:
        kind = "YAML" if use_yaml else "JSON"
        raise bad_request(f"error decoding {kind} request body: {err}") from None
    return value, decoded.paths(value)
