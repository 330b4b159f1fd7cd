"""Whether a Model's base URL is safe to call (docs/admission.md, "Model base URLs"): every
case of Ark's own table, and the spellings of internal addresses Ark's check let through."""
from __future__ import annotations

import ipaddress

import pytest

from ark.kinds.admission.urls import base_url_problem, domain_matches, ip_literal
from ark.registry.strategy import AdmissionOptions

DEFAULT = AdmissionOptions()
ALLOWED_RANGES = AdmissionOptions(model_private_networks=tuple(
    ipaddress.ip_network(n) for n in ("10.100.0.0/16", "192.168.50.0/24", "172.16.1.0/24", "127.0.0.0/8",
                                       "169.254.0.0/16")))
DOMAINS = AdmissionOptions(model_domains=("*.prod.example.com", "*.staging.example.com", "api.openai.com"))


@pytest.mark.parametrize("url", [
    "https://api.openai.com/v1",
    "https://my-resource.openai.azure.com/openai/deployments/gpt-4",
    "https://api.anthropic.com/v1/",
    "http://ollama.models.svc.cluster.local:11434/v1",
    "http://service.svc.cluster.local",
    "http://llm.svc.cluster.local/v1",
    "https://8.8.8.8/v1",
    "https://[2606:4700::1111]/v1",
    "https://münchen.example/v1",
])
def test_public_https_and_cluster_internal_http_are_accepted(url):
    assert base_url_problem(url, DEFAULT) is None


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://api.openai.com/v1", "must use HTTPS"),
    ("http://evil.svc.cluster.local.attacker.com", "must use HTTPS"),
    ("file:///etc/passwd", "unsupported scheme"),
    ("data:text/plain,hi", "unsupported scheme"),
    ("javascript:alert(1)", "unsupported scheme"),
    ("ftp://models.example.com", "unsupported scheme"),
    ("api.openai.com/v1", "missing scheme"),
    ("https:///api/v1", "must contain a hostname"),
    ("https://:8080/api", "must contain a hostname"),
    ("https://127.0.0.1/v1", "loopback"),
    ("https://127.0.0.2", "loopback"),
    ("https://127.1.1.1", "loopback"),
    ("https://[::1]:8443", "loopback"),
    ("https://10.0.0.1", "private"),
    ("https://172.16.0.1", "private"),
    ("https://172.31.255.254", "private"),
    ("https://192.168.1.1", "private"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://169.254.0.1", "metadata"),
    ("https://169.254.255.254", "metadata"),
    ("https://[fd12:3456::1]", "private"),
    ("https://api.openai.com:99999/v1", "invalid URL format"),
    ("https://api.open ai.com/v1", "invalid URL format"),
])
def test_arks_table_of_refused_urls(url, fragment):
    problem = base_url_problem(url, DEFAULT)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("url", [
    "https://2130706433/",                 # 127.0.0.1 in decimal
    "https://0177.0.0.1/",                 # octal
    "https://0x7f.0.0.1/",                 # hex
    "https://0x7f000001/",
    "https://127.1/",                      # short form
    "https://0251.0376.0251.0376/",        # 169.254.169.254 in octal
    "https://2852039166/",                 # 169.254.169.254 in decimal
    "https://169.254.169.254./",           # trailing dot
    "https://169.254.169.254../",
    "https://[::ffff:169.254.169.254]/",   # IPv4-mapped IPv6
    "https://[::ffff:a9fe:a9fe]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::127.0.0.1]/",              # IPv4-compatible IPv6
    "https://[64:ff9b::a9fe:a9fe]/",       # NAT64
    "https://%31%36%39.254.169.254/",      # percent-escaped
    "https://" + "".join(chr(ord(c) + 0xFEE0) for c in "169.254.169.254") + "/",  # full-width digits, dots
    "https://169。254。169。254/",           # ideographic full stops
    "https://0.0.0.0/",                    # reaches the local host
    "https://0/",
    "https://[::]/",
    "https://[fe80::1%25eth0]/",           # IPv6 link-local with a zone
    "https://[fd00:ec2::254]/",            # AWS metadata over IPv6
    "https://100.100.100.200/",            # Alibaba Cloud metadata
    "https://100.64.0.1/",                 # carrier-grade NAT
    "https://224.0.0.1/",                  # multicast
    "https://localhost/",
    "https://LocalHost./",
    "https://api.localhost/",
    "https://metadata.google.internal/",
    "https://api.openai.com@169.254.169.254/",  # user info is no host
    "https://169.254.169.254\\@api.openai.com/",
    "https://999.1.1.1/",                  # numeric, yet no address
    "https://internal.0x7f/",
])
def test_internal_addresses_in_any_spelling_are_refused(url):
    assert base_url_problem(url, DEFAULT) is not None, url


@pytest.mark.parametrize(("url", "accepted"), [
    ("https://10.100.5.5", True), ("https://192.168.50.10", True), ("https://172.16.1.1", True),
    ("https://10.0.0.1", False), ("https://192.168.1.100", False),
    ("https://127.0.0.1", False), ("https://169.254.169.254", False),  # allow-listing these has no effect
    ("https://[::ffff:10.100.0.7]", True),
])
def test_allowed_private_ranges(url, accepted):
    assert (base_url_problem(url, ALLOWED_RANGES) is None) is accepted


@pytest.mark.parametrize(("url", "accepted"), [
    ("https://llm.prod.example.com", True), ("https://deep.nested.prod.example.com", True),
    ("https://prod.example.com", True), ("https://api.staging.example.com", True), ("https://api.openai.com", True),
    ("https://API.OpenAI.com./v1", True),
    ("https://dev.example.com", False), ("https://prod.other.com", False), ("https://evilapi.openai.com", False),
])
def test_allowed_domains(url, accepted):
    problem = base_url_problem(url, DOMAINS)
    assert (problem is None) is accepted
    if not accepted:
        assert "domain not in the allowed list" in problem


def test_domain_patterns():
    assert domain_matches("llm-eu.example.com", "llm-*.example.com")
    assert not domain_matches("llm.example.com", "llm-*.example.com")
    assert domain_matches("a.b.openai.com", "openai.com") and not domain_matches("notopenai.com", "openai.com")


def test_ip_literals_are_read_as_resolvers_read_them():
    assert str(ip_literal("3232235777")) == "192.168.1.1"
    assert str(ip_literal("192.168.257")) == "192.168.1.1"
    assert str(ip_literal("10.1")) == "10.0.0.1"
    assert ip_literal("example.com") is None and ip_literal("1.2.3.example") is None
    for no_address in ("1.2.3.4.5", "example.123", "256.1.1.1", "1.2.65536", "08.1.1.1"):
        with pytest.raises(ValueError):
            ip_literal(no_address)
