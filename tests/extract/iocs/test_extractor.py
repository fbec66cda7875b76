"""Indicator extraction: refanging, normalisation, every tricky case of the conventions, flags, evidence, speed."""

from __future__ import annotations

from functools import partial

import pytest

from tests.timing import best_cpu_seconds
from threadline.errors import InputError
from threadline.extract.iocs import Indicator, document_iocs, extract_iocs
from threadline.extract.iocs import flags as fl
from threadline.extract.iocs.patterns import base58check_ok, bech32_ok
from threadline.extract.iocs.refang import refang
from threadline.model import Document, Page


def found(text: str, **kwargs: str) -> set[tuple[str, str]]:
    return {(h.type, h.value) for h in extract_iocs(text, **kwargs)}


def hit(text: str, kind: str, value: str, **kwargs: str) -> Indicator:
    for h in extract_iocs(text, **kwargs):
        if (h.type, h.value) == (kind, value):
            return h
    raise AssertionError(f"{kind} {value} not found in {text!r}: {found(text)}")


# --- defanging --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("beacons to quill-cdn[.]net daily", ("domain", "quill-cdn.net")),
    ("beacons to quill-cdn(.)net daily", ("domain", "quill-cdn.net")),
    ("beacons to quill-cdn{.}net daily", ("domain", "quill-cdn.net")),
    ("beacons to quill-cdn[dot]net daily", ("domain", "quill-cdn.net")),
    ("beacons to quill-cdn(DOT)net daily", ("domain", "quill-cdn.net")),
    ("beacons to quill-cdn\\.net daily", ("domain", "quill-cdn.net")),
    ("beacons to quill-cdn . net daily", ("domain", "quill-cdn.net")),
    ("C2 93[.]184[.]12[.]7 port 443", ("ipv4", "93.184.12.7")),
    ("C2 93[dot]184[dot]12[dot]7 port 443", ("ipv4", "93.184.12.7")),
    ("mail ops[@]quill-cdn[.]net now", ("email", "ops@quill-cdn.net")),
    ("mail ops[at]quill-cdn[.]net now", ("email", "ops@quill-cdn.net")),
    ("mail ops(at)quill-cdn(dot)net now", ("email", "ops@quill-cdn.net")),
    ("get hxxp://quill-cdn[.]net/a now", ("url", "http://quill-cdn.net/a")),
    ("get hXXps://quill-cdn[.]net/a now", ("url", "https://quill-cdn.net/a")),
    ("get HXXPS://QUILL-CDN[.]NET/A now", ("url", "https://quill-cdn.net/A")),
    ("get h**ps://quill-cdn[.]net/a now", ("url", "https://quill-cdn.net/a")),
    ("get fxp://quill-cdn[.]net/a now", ("url", "ftp://quill-cdn.net/a")),
    ("get hxxp[:]//quill-cdn[.]net/a now", ("url", "http://quill-cdn.net/a")),
    ("get hxxps[://]quill-cdn[.]net/a now", ("url", "https://quill-cdn.net/a")),
])
def test_every_defanging_variant_is_refanged(text: str, expected: tuple[str, str]) -> None:
    assert expected in found(text)


def test_defanged_keeps_the_text_as_written_and_offsets_point_into_the_original() -> None:
    text = "Loader at hxxps://quill-cdn[.]net/x.js, then 10.4[.]2.9 and ops[at]quill-cdn[.]net."
    for h in extract_iocs(text):
        assert text[h.start:h.end] == h.defanged
    assert hit(text, "url", "https://quill-cdn.net/x.js").defanged == "hxxps://quill-cdn[.]net/x.js"


def test_refang_maps_offsets_back() -> None:
    rf = refang("a[.]b and c(dot)d")
    assert rf.text == "a.b and c.d"
    assert rf.start(rf.text.index("c")) == 10 and rf.end(len(rf.text)) == 17
    assert rf.was_defanged(0, 3) and not rf.was_defanged(4, 7)


# --- URLs -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "url"), [
    ("(see hxxp://quill-cdn[.]net/a/b)", "http://quill-cdn.net/a/b"),
    ('cfg = "hxxp://quill-cdn[.]net/a";', "http://quill-cdn.net/a"),
    ("`https://quill-cdn.org/p?q=1&r=2`.", "https://quill-cdn.org/p?q=1&r=2"),
    ("[x](hxxps://quill-cdn[.]net/setup)", "https://quill-cdn.net/setup"),
    ("url hxxps://quill-cdn[.]net/w_(1).html, ok", "https://quill-cdn.net/w_(1).html"),
    ("hxxp://[2a01:4f9:0:0::17]:8080/x.", "http://[2a01:4f9::17]:8080/x"),
])
def test_url_trailing_punctuation_and_brackets(text: str, url: str) -> None:
    assert ("url", url) in found(text)


def test_url_wrapped_across_pdf_lines_is_joined() -> None:
    text = "Fetched hxxps://dl.quill-cdn[.]net/v2/\nassets/run.ps1?k=9 before the task ran."
    assert ("url", "https://dl.quill-cdn.net/v2/assets/run.ps1?k=9") in found(text)
    text = "Fetched hxxps://dl.quill-cdn[.]net/v2/collect?\nid=3&t=1 before."
    assert ("url", "https://dl.quill-cdn.net/v2/collect?id=3&t=1") in found(text)


def test_a_url_at_a_line_end_does_not_swallow_the_next_sentence() -> None:
    text = "The page was hxxps://quill-cdn[.]net/login.\nThe next stage followed."
    assert ("url", "https://quill-cdn.net/login") in found(text)


def test_parts_of_a_url_are_not_reported_again() -> None:
    kinds = {h.type for h in extract_iocs("hxxp://185.10.68[.]4:8080/dl/a.exe")}
    assert kinds == {"url"}


def test_custom_scheme_is_not_a_url() -> None:
    assert found("links starting with kxupdate: or quillapp:// launch it") == set()


# --- addresses --------------------------------------------------------------------------------------------------

def test_ipv4_with_port_and_versions_that_look_like_addresses() -> None:
    assert found("C2 194.87.31[.]5:8443 and 194.87.31.6:80") == {("ipv4", "194.87.31.5"), ("ipv4", "194.87.31.6")}
    for text in ("version 10.0.17763.1", "firmware 3.2.1.4", "Chrome/118.0.0.0", "section 4.1.2.3",
                 "published 12.03.2024", "see Fig. 2.1.3", "release 1.2.3.4.5"):
        assert not any(k == "ipv4" for k, _ in found(text)), text


def test_ipv6_is_compressed_and_lower_case() -> None:
    assert found("to 2A0E:97C0:03A0:0000:0000:0000:0000:01F4.") == {("ipv6", "2a0e:97c0:3a0::1f4")}
    assert found("to [2a01:4f8:0:0:0:0:0:9]:443 now") == {("ipv6", "2a01:4f8::9")}


@pytest.mark.parametrize("text", ["at 02:14:07 UTC", "uses std::string", "MAC 00:1a:2b:3c:4d:5e", "ratio 3:2"])
def test_things_that_are_not_ipv6(text: str) -> None:
    assert found(text) == set()


# --- domains and file names -------------------------------------------------------------------------------------

def test_file_names_whose_extension_is_a_tld() -> None:
    text = "It dropped update.zip, Q3_review.mov, Viewer.app, notes_0412.one and cron_job.sh."
    names = {v for k, v in found(text) if k == "file_name"}
    assert names == {"update.zip", "Q3_review.mov", "Viewer.app", "notes_0412.one", "cron_job.sh"}
    assert not any(k == "domain" for k, _ in found(text))


def test_malicious_domains_under_file_like_tlds() -> None:
    assert found("registered quill-setup[.]zip and clips(.)mov") == {
        ("domain", "quill-setup.zip"), ("domain", "clips.mov")}
    assert ("domain", "dl.quill-share.zip") in found("payloads came from dl.quill-share.zip yesterday")


def test_file_name_from_a_windows_path_and_double_extension() -> None:
    text = r"ImagePath C:\ProgramData\Quill\qsvc.exe and the lure Invoice_22.pdf.exe"
    assert {("file_name", "qsvc.exe"), ("file_name", "Invoice_22.pdf.exe")} <= found(text)


@pytest.mark.parametrize("text", [
    "The U.S. and U.K. agencies, e.g. CISA, i.e. the lead.", "Built on Node.js and ASP.NET Core.",
    "Requires .NET Framework 4.8.1 and Python 3.12.1.", "Maps to T1566.001 and T1059.003.",
    "GUID {6F1B8A52-3C1E-4D6B-9A57-0C7E2D1F4B90} and HTTP/1.1.", "A mutex Global\\qk_7f2a; offset 0x7ffe0300.",
    "Commit a1b2c3d tagged as release 0.9.7.", "The IBM AS/400 (AS400) systems.",
])
def test_things_that_are_not_indicators(text: str) -> None:
    assert found(text) == set()


def test_domains_and_emails_are_lower_case() -> None:
    assert found("From Ops.Team@Quill-CDN.NET") == {("email", "ops.team@quill-cdn.net")}


def test_punycode_domain_is_kept() -> None:
    assert found("lookalike xn--qull-cdn-9db[.]net") == {("domain", "xn--qull-cdn-9db.net")}


# --- hashes, CVE, registry, bitcoin, ASN ------------------------------------------------------------------------

def test_hashes_by_length_lower_case_adjacent() -> None:
    md5, sha1 = "A" * 31 + "1", "b2" * 20
    sha256 = "c3" * 32
    got = found(f"MD5={md5};SHA1={sha1}/{sha256}")
    assert got == {("md5", md5.lower()), ("sha1", sha1), ("sha256", sha256)}


def test_sha512_wrapped_on_two_lines_is_one_hash_but_two_sha256_lines_stay_two() -> None:
    a, b = "d4" * 32, "e5" * 32
    assert found(f"SHA-512 (x.dll):\n{a}\n{b}\n") == {("sha512", a + b), ("file_name", "x.dll")}
    assert found(f"SHA-256:\n{a}\n{b}\n") == {("sha256", a), ("sha256", b)}


def test_cve_variants() -> None:
    text = "cve-2023-1111, CVE\u20132023\u20132222, CVE\u20112023\u20113333, CVE-2023-\n4444 and CVE-\n2023-5555."
    assert {v for _, v in found(text)} == {"CVE-2023-1111", "CVE-2023-2222", "CVE-2023-3333", "CVE-2023-4444",
                                           "CVE-2023-5555"}


def test_registry_keys_long_hive_spaces_quotes_and_no_value_name() -> None:
    text = (r"Run key HKCU\Software\Microsoft\Windows\CurrentVersion\Run\ and "
            r"'HKLM:\SOFTWARE\Policies\Microsoft\Windows Defender' plus "
            r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon to load it.")
    assert {v for k, v in found(text) if k == "registry_key"} == {
        r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Defender",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon",
    }


def test_bitcoin_addresses_need_a_valid_checksum() -> None:
    good58, goodp2sh = "16AqYshidxibjiKXJMFCg2GyZ1mci68cL1", "3LhT3YPHo1c1YD4TfabT5YCExei6ETPHmD"
    assert base58check_ok(good58) and base58check_ok(goodp2sh)
    assert not base58check_ok(good58[:-1] + "2")
    assert bech32_ok("bc1qlrye6h2anqce2agymy8fgh0zar65aeup3y7pf8")
    assert bech32_ok("bc1pdydkkee5q9ukrl3y8qe4h4m5ny7lm3fdspllywhwxxvn7qzwrs3q2uphgk")    # bech32m (taproot)
    assert not bech32_ok("bc1qlrye6h2anqce2agymy8fgh0zar65aeup3y7pf9")
    assert found(f"pay {good58} or BC1QLRYE6H2ANQCE2AGYMY8FGH0ZAR65AEUP3Y7PF8") == {
        ("btc_address", good58), ("btc_address", "bc1qlrye6h2anqce2agymy8fgh0zar65aeup3y7pf8")}


def test_asn_forms() -> None:
    assert found("hosted in AS 213371, ASN 48721 and AS9009.") == {
        ("asn", "AS213371"), ("asn", "AS48721"), ("asn", "AS9009")}
    assert found("routed through the provider AS174") == {("asn", "AS174")}


# --- flags, evidence, output ------------------------------------------------------------------------------------

def test_benign_values_are_flagged_never_dropped() -> None:
    text = ("It checks google.com and 8.8.8.8, moves from 10.0.0.5, runs svchost.exe, "
            "and phones home to quill-cdn[.]net at 185.225.17[.]9.")
    hits = {(h.type, h.value): h for h in extract_iocs(text)}
    assert fl.WARNINGLIST in hits["domain", "google.com"].flags and hits["domain", "google.com"].warninglists
    assert fl.WARNINGLIST in hits["ipv4", "8.8.8.8"].flags
    assert fl.PRIVATE in hits["ipv4", "10.0.0.5"].flags
    assert fl.WELL_KNOWN in hits["file_name", "svchost.exe"].flags
    assert hits["domain", "quill-cdn.net"].flags == [] and hits["ipv4", "185.225.17.9"].flags == []


def test_attacker_content_on_trusted_hosts_is_not_flagged() -> None:
    h = hit("downloads hxxps://raw.githubusercontent[.]com/qk-tools/x/main/i.ps1 and runs it",
            "url", "https://raw.githubusercontent.com/qk-tools/x/main/i.ps1")
    assert h.flags == []


def test_publisher_site_reference_links_and_citations() -> None:
    text = ("Our earlier report is at https://ashgrove-sec.com/research/quill-1. "
            "The loader fetched hxxps://quill-cdn[.]net/a. Contact us at intel@ashgrove-sec.com.\n\n"
            "See https://nvd.nist.gov/vuln/detail/CVE-2024-3400 for details.")
    hits = {(h.type, h.value): h for h in extract_iocs(text)}
    assert fl.PUBLISHER in hits["url", "https://ashgrove-sec.com/research/quill-1"].flags
    assert fl.PUBLISHER in hits["email", "intel@ashgrove-sec.com"].flags
    assert fl.REFERENCE in hits["url", "https://nvd.nist.gov/vuln/detail/CVE-2024-3400"].flags
    assert hits["url", "https://quill-cdn.net/a"].flags == []
    site = extract_iocs("Write to tips@ashgrove-sec.com.", source_url="https://www.ashgrove-sec.com/blog/x")
    assert fl.PUBLISHER in site[0].flags


def test_references_section_links_are_flagged() -> None:
    body = "The C2 was hxxps://quill-cdn[.]net/g. " * 20
    text = body + "\n\nReferences\n\n[1] https://unit-writeups.org/2023/quill\n"
    hits = {(h.type, h.value): h for h in extract_iocs(text)}
    assert fl.REFERENCE in hits["url", "https://unit-writeups.org/2023/quill"].flags


def test_to_dict_has_exactly_the_issue_fields_and_evidence() -> None:
    text = "Intro line.\n\nThe implant beacons to 91.243.44[.]10 hourly."
    d = extract_iocs(text)[0].to_dict()
    assert list(d) == ["type", "value", "defanged", "offset", "sentence", "warninglists", "flags"]
    assert d["sentence"]["text"] == "The implant beacons to 91.243.44[.]10 hourly."
    assert text[d["offset"]:].startswith("91.243.44[.]10")


def test_one_hit_per_value_at_its_first_occurrence() -> None:
    hits = extract_iocs("quill-cdn[.]net first; later quill-cdn.net again.")
    assert [(h.value, h.start) for h in hits] == [("quill-cdn.net", 0)]


def test_document_iocs_adds_page_and_document_hash() -> None:
    text = "Page one text.\fPage two: C2 45.9.20[.]77 seen."
    doc = Document(text=text, source="r.pdf", pages=[Page(1, 0, 15), Page(2, 15, len(text))])
    (h,) = document_iocs(doc)
    assert h.sentence is not None and h.sentence.page == 2 and h.sentence.document == doc.sha256


def test_bad_input() -> None:
    assert extract_iocs("") == []
    with pytest.raises(InputError):
        extract_iocs(b"bytes")  # type: ignore[arg-type]


def test_linear_time_and_no_catastrophic_backtracking() -> None:
    fl.warm()
    unit = ("The actor used hxxps://quill-cdn[.]net/a?b=1 and 45.9.20[.]77:443; hash " + "ab" * 32 +
            r" and HKCU\Software\Quill\Run with Invoice_1.pdf.exe. ")
    small, big = unit * 200, unit * 1600
    took_small, took_big = best_cpu_seconds([lambda: extract_iocs(small), lambda: extract_iocs(big)])
    assert took_big < 8 * 4 * max(took_small, 0.01)      # 8x the text, well under quadratic growth
    hostile = ["a" * 50_000 + ".", "1." * 30_000, ":" * 40_000 + "1", "a-" * 30_000, "\\x" * 30_000,
               "HKLM\\" + "a " * 30_000, "hxxp://" + "[.]" * 20_000]
    took = best_cpu_seconds([partial(extract_iocs, t) for t in hostile], rounds=1)
    for text, seconds in zip(hostile, took, strict=True):
        assert seconds < 2.0, text[:20]


def test_hash_and_cve_inside_a_reference_url_are_still_reported() -> None:
    sha = "9f" * 32
    got = found(f"see https://www.virustotal.com/gui/file/{sha}/detection and "
                "https://nvd.nist.gov/vuln/detail/CVE-2023-4966.")
    assert ("sha256", sha) in got and ("cve", "CVE-2023-4966") in got


def test_a_url_ending_a_line_is_not_glued_to_the_next_url() -> None:
    got = found("first hxxps://quill-cdn[.]net/q=\nhxxps://qk-drop[.]org/p.msi then")
    assert got >= {("url", "https://quill-cdn.net/q="), ("url", "https://qk-drop.org/p.msi")}


def test_command_line_switch_is_not_part_of_a_registry_key() -> None:
    got = found(r"reg add HKLM\Software\QuillSoft\Agent /v Start /d 2 /f")
    assert got == {("registry_key", r"HKEY_LOCAL_MACHINE\Software\QuillSoft\Agent")}


def test_an_at_sign_inside_a_url_path_is_not_an_email() -> None:
    assert not any(k == "email" for k, _ in found("GET /owa/autodiscover.json%3f@quill-cdn.net/x HTTP/1.1"))


def test_code_attributes_are_not_domains() -> None:
    assert found("the script reads user.name and e.target.id, then calls job.run()") == set()


def test_publisher_on_a_shared_platform_does_not_flag_other_accounts_there() -> None:
    text = ("Our repository is at https://github.com/ashgrove-sec/iocs. "
            "The dropper came from https://github.com/qk-dev/tools/raw/main/a.exe yesterday.")
    hits = {h.value: h for h in extract_iocs(text)}
    assert fl.PUBLISHER in hits["https://github.com/ashgrove-sec/iocs"].flags
    assert hits["https://github.com/qk-dev/tools/raw/main/a.exe"].flags == []


def test_words_ending_like_version_cues_do_not_hide_addresses() -> None:
    assert found("the C2 server 185.12.4.9 and the dev box 45.9.1.1") == {
        ("ipv4", "185.12.4.9"), ("ipv4", "45.9.1.1")}


def test_bracketed_dot_with_spaces_around_it() -> None:
    hits = extract_iocs("C2 quill-cdn [.] com and 45.9.1 [.] 7")
    assert [(h.type, h.value, h.defanged) for h in hits] == [
        ("domain", "quill-cdn.com", "quill-cdn [.] com"), ("ipv4", "45.9.1.7", "45.9.1 [.] 7")]


def test_bare_tld_and_trailing_dot() -> None:
    assert found("after the .zip and .mov TLDs opened to the public") == set()
    assert found("It resolved quill-cdn[.]net. Then it slept.") == {("domain", "quill-cdn.net")}
    assert found("A defanged bare domain quill-cdn[.]net is a domain, not a URL") == {("domain", "quill-cdn.net")}


def test_citation_lines_are_references_but_numbered_indicator_lists_are_not() -> None:
    text = "[4]: https://unit-writeups.org/2023/quill\n1. https://quill-cdn.net/dl/a.exe\n"
    hits = {h.value: h for h in extract_iocs(text)}
    assert fl.REFERENCE in hits["https://unit-writeups.org/2023/quill"].flags
    assert hits["https://quill-cdn.net/dl/a.exe"].flags == []


def test_url_wrapped_after_a_dot_is_joined_but_a_sentence_end_is_not() -> None:
    assert ("url", "https://objects.quill-cdn.net/b-7/logo.png?v=3") in found(
        "Images come from hxxps://objects.quill-cdn[.]\nnet/b-7/logo.png?v=3 before decoding.")
    assert ("url", "http://quill-cdn.net/a") in found("It fetched hxxp://quill-cdn[.]net/a.\nThe next stage ran.")
