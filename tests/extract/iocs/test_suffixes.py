"""The scanner's own Public Suffix List lookup splits every plain host exactly as tldextract does."""

from __future__ import annotations

import re
from functools import cache

import pytest
import tldextract

from tests.conftest import DATA, REPO
from threadline.extract.iocs import scan, suffixes

_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")
_HOSTISH = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@cache
def reference() -> tldextract.TLDExtract:
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def expected(host: str) -> tuple[str, str]:
    parts = reference()(host)
    return parts.domain, parts.suffix


def check(hosts: set[str]) -> int:
    """Compare on every host ``split`` answers; returns how many it answered."""
    answered = 0
    for host in sorted(hosts):
        got = suffixes.split(host)
        if got is None:
            continue
        answered += 1
        if _IPV4.fullmatch(host):        # tldextract keeps a bare IPv4 whole as the domain; both have no suffix
            assert got[1] == expected(host)[1] == "", host
        else:
            assert got == expected(host), host
    return answered


def test_the_rules_are_tldextracts() -> None:
    assert suffixes.rules().tlds == frozenset(reference().tlds)
    assert scan.tlds() == frozenset(s.lower() for s in reference().tlds if "." not in s)


def test_every_rule_of_the_list_splits_as_tldextract_splits_it() -> None:
    """Each rule as a host, under one and two more labels, in upper case, and its wildcards' exceptions: public,
    private, wildcard (``*.ck``) and exception (``!www.ck``) rules alike."""
    hosts: set[str] = set()
    for rule in reference().tlds:
        base = rule.lstrip("!*.")
        hosts |= {base, f"evil.{base}", f"A.Evil.{base}".upper(), f"www.{base}", f"x.y.z.{base}"}
    assert check(hosts) > 30_000


def test_hosts_in_every_test_document_split_as_tldextract_splits_them() -> None:
    hosts: set[str] = set()
    for path in [*DATA.rglob("*"), *(REPO / "examples").rglob("*")]:
        if path.is_file() and path.stat().st_size < 2_000_000:
            hosts |= set(_HOSTISH.findall(path.read_text(encoding="utf-8", errors="replace")))
    assert check(hosts) > 100


@pytest.mark.parametrize("host", ["xn--80ak6aa92e.com", "bücher.de", "evil.com:8080", "a..b.com", "[::1]", ".com",
                                  "com.", "user@evil.com", ""])
def test_what_it_does_not_answer_is_left_to_tldextract(host: str) -> None:
    assert suffixes.split(host) is None
    domain, suffix = expected(host)
    assert scan.registered_domain(host) == (f"{domain}.{suffix}" if domain and suffix else host)
