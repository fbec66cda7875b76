"""Sigma rules (YAML) for the network and file indicators of an analysis, checked with pySigma.

One rule per log source, each matching every unflagged indicator of its kind: DNS queries (domains), web proxy
(URLs as host + path, domains as host), firewall (IP destinations), process creation (Sysmon ``Hashes``: MD5,
SHA-1, SHA-256) and file events (file names). SHA-512 has no field in these log sources, and registry keys, e-mail
addresses, CVEs, ASNs and wallets are not log matches, so they are left to the STIX / MISP / CSV exports.
Rule ids are uuid5 over the document hash and the rule kind, so re-exporting gives the same rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import yaml

from threadline.errors import InputError
from threadline.export.common import (
    Analysis,
    Defanger,
    analysis_time,
    evidence_sentences,
    ioc_sentence,
    marking,
    truncate,
)
from threadline.knowledge.base import KnowledgeBase
from threadline.model import deterministic_id

HASH_FIELDS = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}   # Sysmon's spelling in the Hashes field
# Validators skipped when checking our own output: the ATT&CK and D3FEND tag checks download MITRE data at run
# time (Threadline is offline; the tests run them against the local snapshot), tlpv1_tag rejects TLP 2.0 tags by
# design, and escaped_wildcard asks to confirm an escaped * or ? is meant: ours always are (literal indicators).
OFFLINE_EXCLUDED = ("attacktag", "d3_fendtag", "tlpv1_tag", "escaped_wildcard")


def sigma_escape(value: str) -> str:
    """A Sigma string that matches the value literally: ``*`` and ``?`` are wildcards, ``\\`` the escape."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _unflagged(analysis: Analysis, *types: str) -> list[str]:
    values = [i["value"] for i in analysis.get("iocs") or [] if i.get("type") in types and not i.get("flags")]
    return list(dict.fromkeys(values))


def _url_selections(urls: list[str]) -> dict[str, dict[str, Any]]:
    selections: dict[str, dict[str, Any]] = {}
    for n, url in enumerate(urls, 1):
        parts = urlsplit(url)
        if not parts.hostname:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        selection: dict[str, Any] = {"cs-host": sigma_escape(parts.hostname)}
        if path not in ("", "/"):
            selection["c-uri|contains"] = sigma_escape(path)
        selections[f"selection_url_{n}"] = selection
    return selections


_RULE_TYPES = {"dns": ("domain",), "proxy": ("url", "domain"), "firewall": ("ipv4", "ipv6"),
               "hashes": tuple(HASH_FIELDS), "files": ("file_name",)}


def attack_tags(analysis: Analysis, kind: str) -> list[str]:
    """ATT&CK tags for a rule: the techniques (and their tactics) whose evidence is a sentence naming one of the
    rule's indicators, so a tag says what the report saw the indicator used for, not a guess."""
    sentences = {ioc_sentence(i) for i in analysis.get("iocs") or []
                 if i.get("type") in _RULE_TYPES[kind] and not i.get("flags")} - {""}
    tactics: list[str] = []
    techniques: list[str] = []
    for tech in analysis.get("techniques") or []:
        if tech.get("inferred") or not sentences & set(evidence_sentences(tech)):
            continue
        techniques.append(f"attack.{tech['id'].lower()}")
        tactics += [f"attack.{t}" for t in tech.get("tactics") or []]
    return list(dict.fromkeys(tactics + techniques))


def _detections(analysis: Analysis) -> list[tuple[str, str, dict[str, str], dict[str, Any], str]]:
    """(kind, what, logsource, detection, false positives) for every rule the indicators allow."""
    out: list[tuple[str, str, dict[str, str], dict[str, Any], str]] = []
    domains = [sigma_escape(d) for d in _unflagged(analysis, "domain")]
    urls = _unflagged(analysis, "url")
    ips = _unflagged(analysis, "ipv4", "ipv6")
    names = [f"\\{sigma_escape(n)}" for n in _unflagged(analysis, "file_name")]
    hashes = [f"{HASH_FIELDS[i['type']]}={i['value']}" for i in analysis.get("iocs") or []
              if i.get("type") in HASH_FIELDS and not i.get("flags")]
    if domains:
        out.append(("dns", "DNS queries for domains", {"category": "dns_query", "product": "windows"},
                    {"selection": {"QueryName": domains},
                     "selection_sub": {"QueryName|endswith": [f".{d}" for d in domains]},
                     "condition": "1 of selection*"}, "Domains reused after the campaign"))
    proxy: dict[str, Any] = _url_selections(urls)
    if domains:
        proxy["selection_host"] = {"cs-host": domains}
    if proxy:
        out.append(("proxy", "web requests to URLs and domains", {"category": "proxy"},
                    {**proxy, "condition": "1 of selection_*"}, "Hosts shared with legitimate services"))
    if ips:
        out.append(("firewall", "connections to IP addresses", {"category": "firewall"},
                    {"selection": {"dst_ip": ips}, "condition": "selection"},
                    "Addresses reassigned since the report (hosting, VPN and cloud ranges)"))
    if hashes:
        out.append(("hashes", "processes started from files with known hashes",
                    {"category": "process_creation", "product": "windows"},
                    {"selection": {"Hashes|contains": list(dict.fromkeys(hashes))}, "condition": "selection"},
                    "Unlikely"))
    if names:
        out.append(("files", "files created with known names", {"category": "file_event", "product": "windows"},
                    {"selection": {"TargetFilename|endswith": names}, "condition": "selection"},
                    "Legitimate files with the same name"))
    return out


def rules_of(analysis: Analysis, *, tlp: str = "clear") -> list[dict[str, Any]]:
    """The Sigma rules as dicts, in Sigma's conventional key order."""
    level = marking(analysis, tlp)
    doc = analysis["document"]
    key = doc.get("sha256") or doc.get("source") or doc.get("title") or ""
    title = Defanger(analysis.get("iocs") or [])(doc.get("title") or doc.get("source") or "a report")
    source = str(doc.get("source") or "")
    day: dt.date = analysis_time(analysis).date()
    rules: list[dict[str, Any]] = []
    for kind, what, logsource, detection, falsepositive in _detections(analysis):
        rule: dict[str, Any] = {
            "title": truncate(f"Indicators from {title}: {what}", 256),
            "id": deterministic_id("sigma", key, kind).split("--", 1)[1],
            "status": "experimental",
            "description": f"Matches {what} listed as indicators in “{title}”. Generated by Threadline from the "
                           "report's text; review before deploying.",
        }
        if source.startswith(("http://", "https://")):
            rule["references"] = [source]
        rule |= {"author": "Threadline", "date": day,
                 "tags": [*attack_tags(analysis, kind), "detection.emerging-threats",
                          f"tlp.{level.replace('+', '-')}"],
                 "logsource": logsource, "detection": detection, "falsepositives": [falsepositive],
                 "level": "high" if kind == "hashes" else "medium"}
        rules.append(rule)
    return rules


def export_sigma(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> str:
    """The rules as one multi-document YAML text, checked by pySigma before it is returned."""
    rules = rules_of(analysis, tlp=tlp)
    if not rules:
        return "# Threadline: no unflagged network or file indicators, so no Sigma rules.\n"
    text = yaml.safe_dump_all(rules, sort_keys=False, allow_unicode=True, width=110)
    issues = validate_sigma(text)
    if issues:
        raise InputError(f"generated Sigma rules do not validate: {issues[0]}", where="sigma export")
    return text


def validate_sigma(text: str, exclude: tuple[str, ...] = OFFLINE_EXCLUDED) -> list[str]:
    """Parse with pySigma and run its core validators (minus ``exclude``); the issues found, as text."""
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule
    from sigma.validation import SigmaValidator
    from sigma.validators.core import validators

    try:
        collection = SigmaCollection.from_yaml(text)
        collection.resolve_rule_references()
    except SigmaError as exc:
        return [f"parse error: {exc}"]
    errors = [f"{rule.title}: {error}" for rule in collection for error in getattr(rule, "errors", [])]
    checker = SigmaValidator([v for name, v in validators.items() if name not in exclude])
    rules = iter([r for r in collection if isinstance(r, SigmaRule)])
    issues = [f"{type(issue).__name__}: {issue.description}" for issue in checker.validate_rules(rules)]
    return errors + issues
