"""refang(defang(x)) == x for every indicator type: whatever Threadline shows people defanged, it reads back as
the same indicator (both defangers: the briefings' and the exports'), in the middle of a sentence."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.export.common import defang_value as export_defang
from threadline.extract.iocs import extract_iocs
from threadline.extract.iocs.refang import refang
from threadline.extract.iocs.scan import extractor
from threadline.publish.render import defang_value as brief_defang

_LABEL = st.from_regex(r"[a-z][a-z0-9]{1,10}(?:-[a-z0-9]{1,6})?", fullmatch=True)
_TLD = st.sampled_from(["com", "net", "org", "ru", "io", "info", "co.uk", "xyz", "top", "cn"])
# A registrable name: "x0.com" is itself a public suffix (a private entry of the Public Suffix List), no domain.
_DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3),
                    _TLD).filter(lambda name: bool(extractor()(name).domain))
_PATH = st.from_regex(r"(?:/[A-Za-z0-9_-]{1,12}){0,3}(?:/[a-z]{1,8}\.(?:php|html|exe|zip))?", fullmatch=True)
_PUBLIC_V4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address).filter(lambda ip: ip.is_global)
# Global unicast (2000::/3), where every public IPv6 address a report quotes lives.
_PUBLIC_V6 = st.integers(0x2000 << 112, (0x4000 << 112) - 1).map(ipaddress.IPv6Address).filter(
    lambda ip: ip.is_global and ip.sixtofour is None and ip.teredo is None)


def _digest(name: str) -> st.SearchStrategy[str]:
    """A real digest (hashes of all zeros are placeholders, which the extractor rightly skips)."""
    return st.binary(min_size=1, max_size=64).map(lambda data: hashlib.new(name, data).hexdigest())



INDICATORS: dict[str, st.SearchStrategy[str]] = {
    "ipv4": _PUBLIC_V4.map(str),
    "ipv6": _PUBLIC_V6.map(lambda ip: ip.compressed),
    "domain": _DOMAIN,
    "url": st.builds(lambda scheme, host, path: f"{scheme}://{host}{path}", st.sampled_from(["http", "https"]),
                     _DOMAIN, _PATH),
    "email": st.builds(lambda user, host: f"{user}@{host}", st.from_regex(r"[a-z][a-z0-9._]{0,10}[a-z0-9]",
                                                                           fullmatch=True), _DOMAIN),
    "md5": _digest("md5"), "sha1": _digest("sha1"), "sha256": _digest("sha256"), "sha512": _digest("sha512"),
    "cve": st.builds(lambda y, n: f"CVE-{y}-{n}", st.integers(1999, 2030), st.integers(1000, 9_999_999)),
    "asn": st.integers(1, 4_199_999_999).map(lambda n: f"AS{n}"),
}


def _reads_back(kind: str, value: str, shown: str) -> None:
    # "hosting provider": a short ASN (AS174) counts only near words about networks, not to be "AS400"
    text = f"The hosting provider logged {shown} during the intrusion."
    found = {(hit.type, hit.value) for hit in extract_iocs(text)}
    assert (kind, value) in found, f"{value!r} shown as {shown!r} reads back as {sorted(found)}"


@pytest.mark.parametrize("kind", sorted(INDICATORS))
@given(data=st.data())
def test_defanged_indicators_read_back_as_themselves(kind: str, data: st.DataObject) -> None:
    value = data.draw(INDICATORS[kind])
    for defang in (brief_defang, export_defang):
        shown = defang(kind, value)
        if kind in ("ipv4", "domain", "url", "email"):
            assert shown != value, f"{defang.__module__} leaves {value!r} live"
        _reads_back(kind, value, shown)


@given(st.text(max_size=200))
def test_refang_maps_every_offset_back_inside_the_original(text: str) -> None:
    refanged = refang(text)
    for pos in range(len(refanged.text) + 1):
        assert 0 <= refanged.start(pos) <= len(text)
        assert 0 <= refanged.end(pos) <= len(text)
