"""Inputs shaped like what the parsers read: report text full of the tokens they look for, markup, JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Fragments every extractor reacts to: defanging, indicators, dates, list bullets, headings, names, markup.
TOKENS = [
    "evil[.]com", "hxxp://", "hxxps[://]", "[:]//", "1.2.3(.)4", "a[at]b(dot)com", " . ", " [.] ", "\\.", "[.]",
    "10.0.19041.1", "192.168.1.1", "::ffff:127.0.0.1", "2001:db8::1", "d41d8cd98f00b204e9800998ecf8427e",
    "CVE-2021-44228", "HKLM\\Software\\Run", "AS13335", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "update.exe", "http://", "https://a.b/", "@", ".", "..", ". ", "! ", "? ", "e.g. ", "U.S. ", "\n", "\n\n",
    "\n- ", "\n1. ", "# ", "---\n", "title: x\n", "date: 2024-03-18\n", "Date: ", "March 18, 2024", "18.03.2024",
    "2020-08", "Q3 2021", "since 2019", "between 2019 and 2021", "APT29", "Lazarus Group", "Mimikatz",
    "attributed to ", "targeted ", "Ukraine", "energy sector", " ", "\t", "\u00a0", "\u200b", "é", "ǅ", "İ",
    "\ufb01", "\r\n", "\x00", "<", ">", "&amp;", "(", ")", "[", "]", "\"", "'", "“", "’", "•", "\U0001f600",
]
report_text = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)), max_size=60).map("".join)
report_bytes = st.one_of(st.binary(max_size=2000), report_text.map(lambda t: t.encode("utf-8")),
                         report_text.map(lambda t: t.encode("utf-16")),
                         report_text.map(lambda t: t.encode("cp1252", errors="ignore")))

_TAGS = ["html", "head", "title", "body", "p", "div", "script", "style", "table", "tr", "td", "a", "br", "meta",
         "article", "time", "template", "noscript", "svg", "iframe", "h1", "li", "ul", "pre"]
_markup_piece = st.one_of(
    st.sampled_from(_TAGS).map(lambda t: f"<{t}>"), st.sampled_from(_TAGS).map(lambda t: f"</{t}>"),
    st.just('<meta name="date" content="2024-03-18">'), st.just('<script type="application/ld+json">{"a":'),
    st.just("<!doctype html>"), st.just("<!--"), st.just("-->"), st.just("&#x110000;"), st.just("&#0;"),
    st.just("<![CDATA["), report_text)
html_bytes = st.lists(_markup_piece, max_size=40).map(lambda parts: "".join(parts).encode("utf-8"))

_FEED_PIECES = ["<rss version=\"2.0\">", "<channel>", "</channel>", "</rss>", "<item>", "</item>", "<title>",
                "</title>", "<description>", "</description>", "<pubDate>Mon, 18 Mar 2024 10:00:00 +0000</pubDate>",
                "<feed xmlns=\"http://www.w3.org/2005/Atom\">", "</feed>", "<entry>", "</entry>",
                "<content type=\"html\">", "</content>", "<link href=\"http://x\"/>", "<![CDATA[", "]]>",
                "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", "&a;", "<updated>2024-13-45T99:00Z</updated>",
                "<category term=\"x\"/>", "<author><name>", "</name></author>"]
feed_bytes = st.lists(st.one_of(st.sampled_from(_FEED_PIECES), report_text), max_size=40).map(
    lambda parts: ('<?xml version="1.0"?>' + "".join(parts)).encode("utf-8"))

_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
                    st.sampled_from(["2024-03-18T10:00:00Z", "indicator--1", "bundle", "malware", "ipv4-addr",
                                     "[ipv4-addr:value = '1.2.3.4']", "2.1", "2.0", "stix", "name"]))
json_value: st.SearchStrategy[Any] = st.recursive(
    _scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.sampled_from(
                                         ["type", "id", "spec_version", "objects", "name", "created", "modified",
                                          "pattern", "pattern_type", "valid_from", "value", "labels", "Event",
                                          "info", "uuid", "Attribute", "Object", "Galaxy", "GalaxyCluster",
                                          "Tag", "response", "category", "timestamp", "date", "x"]) | st.text(
                                         max_size=6), inner, max_size=6)), max_leaves=30)

_STIX_ID = st.sampled_from(["indicator", "malware", "threat-actor", "attack-pattern", "relationship",
                            "ipv4-addr", "x-custom"]).map(lambda t: f"{t}--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")


@st.composite
def stix_bundles(draw: st.DrawFn) -> bytes:
    objects = draw(st.lists(st.fixed_dictionaries(
        {"type": _STIX_ID.map(lambda i: i.split("--")[0]), "id": _STIX_ID},
        optional={"spec_version": st.sampled_from(["2.1", "2.0", "9"]), "name": st.text(max_size=10),
                  "created": st.sampled_from(["2024-03-18T10:00:00Z", "yesterday"]),
                  "modified": st.sampled_from(["2024-03-18T10:00:00.000Z", "2024"]),
                  "pattern": st.sampled_from(["[ipv4-addr:value = '1.2.3.4']", "[", ""]),
                  "pattern_type": st.just("stix"), "valid_from": st.just("2024-03-18T10:00:00Z"),
                  "x": json_value}), max_size=4))
    bundle: Any = {"type": "bundle", "id": "bundle--1", "objects": objects}
    return json.dumps(draw(st.one_of(st.just(bundle), json_value))).encode("utf-8")


@st.composite
def misp_events(draw: st.DrawFn) -> bytes:
    attribute = st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["ip-dst", "domain", "md5", "nonsense"]), "value": st.text(max_size=10),
        "category": st.sampled_from(["Network activity", "x"]), "uuid": st.uuids().map(str),
        "timestamp": st.sampled_from(["1700000000", "x", "-1"]), "Tag": json_value})
    event = st.fixed_dictionaries({}, optional={
        "info": st.text(max_size=10), "uuid": st.uuids().map(str), "date": st.sampled_from(["2024-03-18", "x"]),
        "Attribute": st.lists(attribute, max_size=3), "Object": json_value, "Galaxy": json_value,
        "timestamp": st.sampled_from(["1700000000", "x"])})
    shape = draw(st.sampled_from(["wrapped", "bare", "list", "response", "any"]))
    body = draw(event)
    obj: Any = {"wrapped": {"Event": body}, "bare": {**body, "info": body.get("info", "")},
                "list": [{"Event": body}], "response": {"response": [{"Event": body}]},
                "any": draw(json_value)}[shape]
    return json.dumps(obj).encode("utf-8")


jsonl_lines = st.one_of(
    st.binary(max_size=200),
    st.fixed_dictionaries({"id": _scalar}, optional={"text": st.one_of(report_text, _scalar),
                                                    "title": _scalar, "source": _scalar, "published": _scalar})
    .map(lambda r: json.dumps(r).encode("utf-8")),
    json_value.map(lambda v: json.dumps(v).encode("utf-8")))
