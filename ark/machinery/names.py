"""Name, label and annotation rules of apimachinery ``pkg/util/validation``.

Each check returns the error text kube-apiserver gives, or None when the value is valid.
"""
from __future__ import annotations

import re

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#: Object names (subdomains) and namespaces (labels) as anchored patterns, with their lengths.
SUBDOMAIN_PATTERN, SUBDOMAIN_MAX = f"^{_DNS1123_SUBDOMAIN}$", 253
LABEL_PATTERN, LABEL_MAX = f"^{_DNS1123_LABEL}$", 63

SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    f"validation is '{_DNS1123_SUBDOMAIN}')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    f"start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    f"validation is '{_DNS1123_LABEL}')"
)
QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    f"an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    f"validation is '{_QUALIFIED_NAME}')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    f"'12345', regex used for validation is '({_QUALIFIED_NAME})?')"
)


def subdomain_error(value: str) -> str | None:
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not re.fullmatch(_DNS1123_SUBDOMAIN, value):
        return SUBDOMAIN_MESSAGE
    return None


def dns_label_error(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not re.fullmatch(_DNS1123_LABEL, value):
        return LABEL_MESSAGE
    return None


def qualified_name_error(value: str) -> str | None:
    """A label key, annotation key or finalizer: ``[prefix/]name``."""
    prefix, slash, name = value.rpartition("/")
    if slash:
        if not prefix:
            return "prefix part must be non-empty"
        error = subdomain_error(prefix)
        if error:
            return "prefix part " + error
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not re.fullmatch(_QUALIFIED_NAME, name):
        return QUALIFIED_MESSAGE
    return None


label_key_error = qualified_name_error


def label_value_error(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if value and not re.fullmatch(_QUALIFIED_NAME, value):
        return LABEL_VALUE_MESSAGE
    return None
