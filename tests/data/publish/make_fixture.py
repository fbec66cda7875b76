"""Writes dianxun-analysis.json from dianxun-report.txt: an analysis in the agreed shape whose evidence offsets
point into the report (run it again after editing the report)."""

import hashlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEXT = (HERE / "dianxun-report.txt").read_text(encoding="utf-8")


def ev(sentence: str) -> dict[str, Any]:
    start = TEXT.index(sentence)
    return {"text": sentence, "start": start, "end": start + len(sentence)}


def span(sentence: str, part: str) -> tuple[int, int]:
    start = TEXT.index(sentence) + sentence.index(part)
    return start, start + len(part)


S = {
    "dubbed": "Operation Diànxùn is a cyber-espionage campaign that goes after telecommunications companies.",
    "first": "Its earliest activity dates from August 2020.",
    "attr": "Researchers attribute it to RedDelta, a group also tracked as TA416 and Mustang Panda.",
    "lure": "The attackers set up a fake Huawei careers website to lure telecom employees and then infected their "
            "computers with info stealers.",
    "host": "The site was hosted at hxxp://huawei-jobs-portal[.]com/apply and resolved to 203.0.113[.]45.",
    "exe": "Visitors were told to run a Flash installer, flash_installer_5g.exe, before they could send an "
           "application.",
    "run": "The installer stayed on the machine across reboots by adding a Run key to the registry.",
    "goal": "The goal was to obtain confidential information and to spy on businesses involved in 5G technology.",
    "where": "The victims were located in the U.S., Europe and Southeast Asia.",
    "may": "RedDelta had already been active in early May 2020, when it targeted the Vatican and other religious "
           "organizations.",
    "sept": "In September 2020 the group started using decoy documents about the UN General Assembly Security "
            "Council, Catholicism and relations between Tibet and Ladakh.",
    "hk": "It then intruded into the networks of two Hong Kong universities and of the Myanmar government.",
    "ta416": "These earlier activities were attributed to TA416 on the basis of the TTPs collected.",
    "caveat": "The campaign was attributed to RedDelta because of similar TTPs, but no other evidence currently "
              "points to the group.",
}


def ioc(kind: str, value: str, shown: str, key: str) -> dict[str, Any]:
    start, end = span(S[key], shown)
    return {"type": kind, "value": value, "defanged": shown if shown != value else value, "start": start,
            "end": end, "sentence": S[key], "warninglists": [], "flags": []}


analysis = {
    "document": {"title": "Operation Diànxùn: telecom staff lured with fake Huawei job offers",
                 "source": "tests/data/publish/dianxun-report.txt",
                 "sha256": hashlib.sha256(TEXT.encode("utf-8")).hexdigest(),
                 "published": "2021-03-12", "media_type": "text/plain"},
    "actors": [{"attack_id": "G0129", "name": "Mustang Panda", "mentions": ["RedDelta", "TA416", "Mustang Panda"],
                "role": "attributed", "evidence": [ev(S["attr"]), ev(S["ta416"])]}],
    "campaigns": [{"attack_id": None, "name": "Operation Diànxùn", "first_seen": "2020-08",
                   "evidence": [ev(S["dubbed"]), ev(S["first"])]}],
    "software": [{"attack_id": None, "name": "info stealers", "kind": "malware", "evidence": [ev(S["lure"])]}],
    "sectors": [{"name": "Telecommunications", "evidence": [ev(S["dubbed"])]},
                {"name": "Academia - University", "evidence": [ev(S["hk"])]},
                {"name": "Government", "evidence": [ev(S["hk"])]},
                {"name": "Religion", "evidence": [ev(S["may"])]}],
    "countries": [{"code": "US", "name": "United States", "evidence": [ev(S["where"])]},
                  {"code": "VA", "name": "Vatican", "evidence": [ev(S["may"])]},
                  {"code": "HK", "name": "Hong Kong", "evidence": [ev(S["hk"])]},
                  {"code": "MM", "name": "Myanmar", "evidence": [ev(S["hk"])]}],
    "regions": [{"name": "Europe", "code": "150", "evidence": [ev(S["where"])]},
                {"name": "South-eastern Asia", "code": "035", "evidence": [ev(S["where"])]}],
    "dates": [{"date": "2020-08", "text": "August 2020", "event": "first activity of the campaign observed",
               "evidence": [ev(S["first"])]},
              {"date": "2020-05", "text": "early May 2020",
               "event": "RedDelta attacks on the Vatican and religious organizations", "evidence": [ev(S["may"])]},
              {"date": "2020-09", "text": "September 2020",
               "event": "switch to decoy documents on the UN General Assembly Security Council, Catholicism and "
                        "Tibet-Ladakh relations", "evidence": [ev(S["sept"])]}],
    "lures": [{"text": "fake Huawei careers website", "evidence": [ev(S["lure"])]}],
    "goals": [{"text": "obtain confidential information and spy on businesses involved in 5G technology",
               "evidence": [ev(S["goal"])]}],
    "techniques": [
        {"id": "T1583.001", "name": "Domains", "tactics": ["resource-development"], "score": 0.7,
         "evidence": [ev(S["host"])], "inferred": False},
        {"id": "T1189", "name": "Drive-by Compromise", "tactics": ["initial-access"], "score": 0.62,
         "evidence": [ev(S["lure"])], "inferred": False},
        {"id": "T1204.002", "name": "Malicious File", "tactics": ["execution"], "score": 0.81,
         "evidence": [ev(S["exe"])], "inferred": False},
        {"id": "T1547.001", "name": "Registry Run Keys / Startup Folder",
         "tactics": ["persistence", "privilege-escalation"], "score": 0.77, "evidence": [ev(S["run"])],
         "inferred": False},
    ],
    "iocs": [ioc("url", "http://huawei-jobs-portal.com/apply", "hxxp://huawei-jobs-portal[.]com/apply", "host"),
             ioc("domain", "huawei-jobs-portal.com", "huawei-jobs-portal[.]com", "host"),
             ioc("ipv4", "203.0.113.45", "203.0.113[.]45", "host"),
             ioc("file_name", "flash_installer_5g.exe", "flash_installer_5g.exe", "exe")],
    "claims": [{"actor": "RedDelta", "attack_id": "G0129", "strength": "attributed", "basis": ["TTPs"],
                "caveats": ["no other evidence currently points to the group"], "evidence": [ev(S["caveat"])]},
               {"actor": "TA416", "attack_id": "G0129", "strength": "attributed", "basis": ["TTPs"],
                "caveats": [], "evidence": [ev(S["ta416"])]}],
    "attribution": {"candidates": [
        {"attack_id": "G0129", "name": "Mustang Panda", "probability": 0.66,
         "evidence": {"shared": ["T1583.001", "T1204.002", "T1547.001"], "distinctive": [], "missing": []}},
        {"attack_id": "G0096", "name": "APT41", "probability": 0.09,
         "evidence": {"shared": ["T1547.001"], "distinctive": [], "missing": []}}],
        "unknown_probability": 0.25, "confidence": {"level": "moderate", "words": "moderate confidence"},
        "report_claims": [], "disagreements": []},
}

(HERE / "dianxun-analysis.json").write_text(json.dumps(analysis, ensure_ascii=False, indent=1) + "\n",
                                           encoding="utf-8")
