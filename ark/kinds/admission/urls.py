"""Whether a URL is well formed, and whether a Model's base URL is safe for Ark to call.

A Model's base URL is where Ark sends prompts and API keys, from inside the cluster: pointed at
a loopback, link-local (cloud metadata) or private address it is a server-side request forgery
hole. The checks (on the *resolved* URL, whatever value source it came from):

1. it parses; ``file``, ``data``, ``javascript`` and ``ftp`` are refused, a scheme and a host
   are required;
2. ``https`` only, except hosts under ``.svc.cluster.local``, which may use ``http``;
3. the host is read the way resolvers and URL parsers read it, so no spelling slips through:
   percent-escapes, full-width characters and trailing dots are undone, and IPv4 written in
   decimal (``2130706433``), octal (``0177.0.0.1``), hex or short form (``127.1``), or inside
   IPv6 (``[::ffff:127.0.0.1]``), is the address it stands for;
4. loopback, unspecified (``0.0.0.0``), link-local (``169.254.0.0/16``, ``fe80::/10``, the
   cloud metadata services' range) and the other well-known metadata addresses are always
   refused, as are the names ``localhost`` and ``metadata.google.internal``;
5. any other address that is not globally routable (RFC 1918, IPv6 ULA, carrier-grade NAT,
   reserved and multicast ranges) is refused unless it is inside
   ``--model-allowed-private-ranges``;
6. when ``--model-allowed-domains`` is set, the host must match one of its patterns.

Host names are not resolved: a name that resolves to a private address later is a matter for
the network policy of the cluster, not for admission.
"""
from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from urllib.parse import SplitResult, unquote, urlsplit

from ark.registry.strategy import AdmissionOptions, IPNetwork

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_REFUSED_SCHEMES = ("file", "data", "javascript", "ftp")
_CLUSTER_SUFFIX = ".svc.cluster.local"
_AUTHORITY = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@[]%")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # dots IDNA reads as "."
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]*|[0-9]+")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
#: Metadata services outside the link-local range (AWS over IPv6, Alibaba Cloud).
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
_METADATA_HOSTS = frozenset(("metadata.google.internal",))


def parse_problem(url: str) -> str | None:
    """Why ``url`` is not a well-formed URL (the cases Go's ``url.Parse`` refuses), if it is not."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "invalid URL format: contains a control character"
    if _BAD_ESCAPE.search(url):
        return "invalid URL format: invalid percent-escape"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError as err:
        return f"invalid URL format: {err}"
    if {c for c in parts.netloc if c.isascii()} - _AUTHORITY:  # non-ASCII is an IDN, normalized below
        return f"invalid URL format: invalid character in host {parts.netloc!r}"
    return None


def base_url_problem(url: str, options: AdmissionOptions) -> str | None:
    """Why Ark must not call the model base URL ``url``, if it must not."""
    problem = parse_problem(url)
    if problem:
        return problem
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _REFUSED_SCHEMES:
        return f"invalid URL format: unsupported scheme {scheme}://"
    if not scheme:
        return "invalid URL format: missing scheme"
    host = _host(parts)
    if not host:
        return "URL must contain a hostname"
    if scheme != "https" and not host.endswith(_CLUSTER_SUFFIX):
        return f"all URLs must use HTTPS (http is allowed for {_CLUSTER_SUFFIX} services only); got {scheme}://"
    try:
        address = ip_literal(host)
    except ValueError:
        return f"invalid URL format: {host} ends in a number but is no IPv4 address"
    if address is not None:
        problem = _address_problem(address, options.model_private_networks)
    elif host == "localhost" or host.endswith(".localhost"):
        problem = f"loopback addresses are not allowed: {host}"
    elif host in _METADATA_HOSTS:
        problem = f"metadata service addresses are not allowed: {host}"
    if problem:
        return problem
    if options.model_domains and not any(domain_matches(host, p) for p in options.model_domains):
        return f"domain not in the allowed list: {host} (allowed domains: {', '.join(options.model_domains)})"
    return None


def _host(parts: SplitResult) -> str:
    """The host as a client connects to it: unescaped, NFKC-normalized, lower case, no trailing dot."""
    host = unicodedata.normalize("NFKC", unquote(parts.hostname or "")).translate(_DOTS).lower()
    return host.rstrip(".")


def ip_literal(host: str) -> Address | None:
    """The address ``host`` spells, in any form a resolver accepts; None for a host name.
    Raises ValueError for a host that ends in a number but is no IPv4 address (``999.1.1.1``,
    ``example.123``): no DNS name ends in a number, and URL parsers refuse such hosts."""
    if ":" in host:
        return ipaddress.IPv6Address(host.split("%", 1)[0])
    labels = host.split(".")
    if not _NUMBER.fullmatch(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMBER.fullmatch(label) for label in labels):
        raise ValueError(host)
    numbers = [_number(label) for label in labels]
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(host)
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int:
    """One IPv4 part as inet_aton reads it: ``0x`` hex, a leading ``0`` octal, else decimal."""
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)  # ValueError for 8 and 9, which are no octal digits
    return int(label)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and reaches (mapped, NAT64, IPv4-compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _address_problem(address: Address, allowed: tuple[IPNetwork, ...]) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    if address.is_loopback:
        return f"loopback IP addresses are not allowed: {address}"
    if address.is_unspecified or address in _THIS_NETWORK:
        return f"unspecified IP addresses are not allowed (they reach the local host): {address}"
    if address.is_link_local or address in _METADATA:
        return f"link-local and metadata service IP addresses are not allowed: {address}"
    if any(address in network for network in allowed):
        return None
    if not address.is_global or address.is_multicast:
        return (f"private IP addresses are not allowed: {address} (allow a range with "
                f"--model-allowed-private-ranges)")
    return None


def domain_matches(host: str, pattern: str) -> bool:
    """``*.x.y`` matches ``x.y`` and every name below it; another single ``*`` stands for any
    text; a plain domain matches itself and every name below it."""
    if pattern.startswith("*."):
        suffix = pattern[2:]
        return host == suffix or host.endswith("." + suffix)
    if "*" in pattern:
        prefix, _, suffix = pattern.partition("*")
        return len(host) >= len(prefix) + len(suffix) and host.startswith(prefix) and host.endswith(suffix)
    return host == pattern or host.endswith("." + pattern)
