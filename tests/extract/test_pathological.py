"""Hostile inputs through the indicator extractor: linear time and bounded memory, and the fixed helpers' results.

Issue 13: ``x@`` + ``a.`` x 100,000 took 46 s and 8.4 GB, ``HKLM\\`` x 20,000 44 s and 9.2 GB, ``hxxp://`` x 40,000
17 s. Each input is grown from 1/32 of the issue's size by doubling, so a quadratic regression fails at a small
size (in a second or two, without eating memory) instead of at the full one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from threadline.extract import iocs_flags as fl
from threadline.extract.iocs import extract_iocs
from threadline.extract.iocs_scan import (
    Spans,
    _fixed_authority,
    _longest_possible_domain,
    _registry_shape_ok,
    _trim_url,
    scan_registry,
    scan_urls,
    valid_domain,
)

# name -> (text for n repetitions, n from the targets)
PATHOLOGICAL: dict[str, tuple[Callable[[int], str], int]] = {
    "email labels": (lambda n: "x@" + "a." * n, 250_000),
    "registry hives": (lambda n: "HKLM\\" * n, 150_000),
    "url schemes": (lambda n: "hxxp://" * n, 100_000),
    "url closers": (lambda n: "see hxxp://quill-cdn[.]net/a" + ")" * n, 250_000),
    "url dots": (lambda n: "see hxxp://quill-cdn[.]net/a" + "." * n, 250_000),
    "url questions": (lambda n: "hxxp://?" * n, 100_000),
    "email domains": (lambda n: "x@" + "com." * n + "evil", 150_000),
}
_FLOOR = 0.05        # seconds: below this, timings on a shared machine are noise


def _best_times(texts: list[str], rounds: int) -> list[float]:
    """The best of ``rounds`` runs for each text, taken in turns so that a burst of load hits them alike."""
    best = [float("inf")] * len(texts)
    for _ in range(rounds):
        for i, text in enumerate(texts):
            t = time.perf_counter()
            extract_iocs(text)
            best[i] = min(best[i], time.perf_counter() - t)
    return best


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_input_is_linear(name: str) -> None:
    make, full = PATHOLOGICAL[name]
    fl.warm()
    n, previous = full // 32, None
    while n <= full:
        (took,) = _best_times([make(n)], 3)
        assert took < 5.0, f"{name} x {n}: {took:.2f} s"
        if previous is not None and took >= 2.5 * max(previous, _FLOOR):
            assert took < 1.0, f"{name}: x {n // 2} {previous:.3f} s, x {n} {took:.3f} s"   # growth, not noise
            previous, took = _best_times([make(n // 2), make(n)], 5)       # once more, in turns: load or growth?
            assert took < 2.5 * max(previous, _FLOOR), f"{name}: x {n // 2} {previous:.3f} s, x {n} {took:.3f} s"
        previous, n = took, n * 2


def test_pathological_inputs_give_no_bogus_indicator() -> None:
    assert extract_iocs("x@" + "a." * 250_000) == []
    assert extract_iocs("hxxp://" * 100_000) == []
    assert extract_iocs("HKLM\\" * 150_000) == []      # 150,000 levels: deeper than any Windows registry


# --- e-mail domains -----------------------------------------------------------------------------------------------

def _domain_label_by_label(name: str) -> str:
    """What scan_emails did before: drop labels from the right until the name is a valid domain."""
    domain = name.rstrip(".-").lower()
    while domain and not valid_domain(domain) and "." in domain:
        domain = domain.rsplit(".", 1)[0]
    return domain if valid_domain(domain) else ""


@pytest.mark.parametrize("name", [
    "evil.com", "Evil.COM.Next", "evil.com.-", "a" * 250 + ".com", "a" * 249 + ".com.x", "com." * 70 + "evil",
    "com." * 63 + "a" * 300, "b" * 300 + ".com", "x.y-." * 60 + "com", "mail.quill-cdn.co.uk.The",
])
def test_longest_possible_domain_gives_what_dropping_labels_gave(name: str) -> None:
    cut = _longest_possible_domain(name)
    assert len(cut) <= 253
    found = cut
    while found and not valid_domain(found) and "." in found:
        found = found.rsplit(".", 1)[0]
    assert (found if valid_domain(found) else "") == _domain_label_by_label(name)


def test_email_with_a_long_run_of_labels_keeps_the_longest_valid_domain() -> None:
    hits = extract_iocs("mail x@" + "com." * 100 + "evil now")
    assert [(h.type, h.value) for h in hits] == [("email", "x@" + ".".join(["com"] * 63))]
    assert ("email", "ops@quill-cdn.net") in {(h.type, h.value) for h in extract_iocs("ops@quill-cdn.net.Zq9")}


# --- URLs ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "trimmed"), [
    ("http://a.com/x" + ")" * 5, "http://a.com/x"),
    ("http://a.com/w_(1).html)", "http://a.com/w_(1).html"),
    ("http://a.com/(a)).", "http://a.com/(a)"),
    ("http://a.com/[x]])].", "http://a.com/[x]"),
    ("http://a.com/<b>>", "http://a.com/<b>"),
    ("http://a.com/p?q=1...!", "http://a.com/p?q=1"),
    (".,;", ""),
])
def test_trim_url(url: str, trimmed: str) -> None:
    assert _trim_url(url) == trimmed


def test_trim_url_is_linear_in_the_trailing_run() -> None:
    for tail in (")" * 400_000, "." * 400_000, ")." * 200_000):
        t = time.perf_counter()
        assert _trim_url("http://a.com/x" + tail) == "http://a.com/x"
        assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize(("body", "authority"), [
    ("evil.com/a", "evil.com"),
    ("evil.com#x", "evil.com"),
    ("evil.com?q=1/2", "evil.com"),
    ("evil.com?q=1", None),            # the "?" may be trimmed: decided on the whole URL
    ("evil.com", None),
    ("hxxp://hxxp://", "hxxp:"),
])
def test_fixed_authority(body: str, authority: str | None) -> None:
    assert _fixed_authority(" " + body, 1, len(body) + 1) == authority


@pytest.mark.parametrize(("text", "urls"), [
    ("hxxp://hxxp://quill-cdn.net/a and more", ["http://quill-cdn.net/a"]),
    ("see (http://quill-cdn.net)?", ["http://quill-cdn.net"]),
    ("see http://a?http://quill-cdn.net/x", ["http://quill-cdn.net/x"]),
    ("http://quill-cdn.net?", ["http://quill-cdn.net"]),
    ("at http://quill-cdn.net/a/\nb/c.php then", ["http://quill-cdn.net/a/b/c.php"]),
    ("go http://quill-cdn.net/a/http://qk-drop.org/b", ["http://quill-cdn.net/a/http://qk-drop.org/b"]),
])
def test_urls_in_runs_of_schemes(text: str, urls: list[str]) -> None:
    assert [hit.value for hit in scan_urls(text, Spans())] == urls


# --- registry keys ------------------------------------------------------------------------------------------------

def test_a_hive_name_inside_a_registry_key_is_part_of_it() -> None:
    hits = list(scan_registry(r"set HKLM\Software\Vendor\HKCU\Run to 1", Spans()))
    assert [h.value for h in hits] == [r"HKEY_LOCAL_MACHINE\Software\Vendor\HKCU\Run"]


def test_registry_shape_follows_windows_limits() -> None:
    assert _registry_shape_ok(r"\Software\Microsoft\Windows\CurrentVersion\Run")
    assert _registry_shape_ok("\\Software\\" + "v" * 5000)            # a long value name
    assert not _registry_shape_ok("\\" + "k" * 256 + "\\Run")          # a key name over 255 characters
    assert not _registry_shape_ok("\\a" * 513)                         # deeper than 512 levels
    text = "HKLM\\" + "a\\" * 600 + " and HKCU\\Software\\Quill\\Run."
    assert [h.value for h in scan_registry(text, Spans())] == [r"HKEY_CURRENT_USER\Software\Quill\Run"]
