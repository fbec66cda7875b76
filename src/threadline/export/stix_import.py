"""STIX 2.1 bundle -> analysis shape: the import half of :mod:`threadline.export.stix`.

A bundle Threadline exported comes back exactly: the report's notes carry each analysis item
(``x_threadline_section`` and ``x_threadline_item``), its indicators and indicator notes ``x_threadline_ioc``, and
the report the document and every other section. The shared objects those notes point at hold nothing of the
report's, so they are not read again. A bundle from an earlier Threadline (items on the shared objects, in
``x_threadline_evidence``, ``_mentions``, ``_role``, ...) and any other bundle are read from the objects'
properties: names, ATT&CK external ids, patterns, kill-chain phases, locations and sector identities; what they do
not say is left empty.
"""

from __future__ import annotations

import json
import re
from typing import Any

from threadline.errors import InputError
from threadline.export.common import Analysis, defang_value

_SIMPLE_PATTERN = re.compile(r"^\[\s*([a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*=\s*('(?:[^'\\]|\\.)*'|\d+)\s*\]$")


def _ours(obj: dict[str, Any]) -> bool:
    from threadline.export.stix import EXTENSION_ID

    return EXTENSION_ID in (obj.get("extensions") or {})


def _attack_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or []:
        if ref.get("source_name") == "mitre-attack" and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def _evidence(obj: dict[str, Any]) -> list[Any]:
    return list(obj.get("x_threadline_evidence") or [])


def _ioc_from_pattern(obj: dict[str, Any]) -> dict[str, Any] | None:
    from threadline.export.stix import PATTERN_PATHS

    match = _SIMPLE_PATTERN.match(str(obj.get("pattern") or ""))
    if not match:
        return None
    by_path = {path: kind for kind, path in PATTERN_PATHS.items()}
    kind = by_path.get(match.group(1))
    if kind is None:
        return None
    raw = match.group(2)
    value = f"AS{raw}" if kind == "asn" else re.sub(r"\\(.)", r"\1", raw[1:-1])
    return {"type": kind, "value": value, "defanged": defang_value(kind, value), "start": None, "end": None,
            "sentence": None, "warninglists": [], "flags": []}


def _load(bundle: Any) -> list[dict[str, Any]]:
    if isinstance(bundle, str | bytes):
        try:
            bundle = json.loads(bundle)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON (line {exc.lineno}: {exc.msg})", where="STIX bundle") from None
    elif hasattr(bundle, "serialize"):
        bundle = json.loads(bundle.serialize())
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle" or not isinstance(bundle.get("objects"), list):
        raise InputError("not a STIX 2.1 bundle (expected {\"type\": \"bundle\", \"objects\": [...]})",
                         where="STIX bundle")
    from threadline.ingest.stix import stix_objects

    return stix_objects(bundle["objects"], "STIX bundle")


def _document(report: dict[str, Any] | None) -> dict[str, Any]:
    if report is None:
        return {"title": None, "source": None, "sha256": None, "published": None, "media_type": None}
    if isinstance(report.get("x_threadline_document"), dict):
        return dict(report["x_threadline_document"])
    source, sha = None, None
    for ref in report.get("external_references") or []:
        source = source or ref.get("url")
        ext = str(ref.get("external_id") or "")
        sha = sha or (ext.removeprefix("sha256:") if ext.startswith("sha256:") else None)
    return {"title": report.get("name"), "source": source, "sha256": sha,
            "published": str(report.get("published") or "")[:10] or None, "media_type": None}


def analysis_from_bundle(bundle: Any) -> Analysis:
    """Rebuild the analysis shape (document, actors, campaigns, software, techniques, targets, indicators, ...)."""
    objects = _load(bundle)
    report = next((o for o in objects if o.get("type") == "report"), None)
    # A bundle's object order carries no meaning (a store returns objects by id); the report's object_refs
    # keep the analysis's own order, so items are read in that order.
    order = {ref: n for n, ref in enumerate((report or {}).get("object_refs") or [])}
    objects = sorted(objects, key=lambda o: order.get(str(o.get("id")), len(order)))
    analysis: Analysis = {"document": _document(report), "actors": [], "campaigns": [], "software": [],
                          "sectors": [], "countries": [], "regions": [], "dates": [], "lures": [], "goals": [],
                          "techniques": [], "iocs": [], "claims": []}
    from threadline.export.stix import PRODUCER_ID

    for obj in objects:
        kind, ours = obj.get("type"), _ours(obj)
        item, section = obj.get("x_threadline_item"), obj.get("x_threadline_section")
        if ours and isinstance(item, dict) and isinstance(section, str):
            analysis.setdefault(section, []).append(dict(item))
        elif isinstance(obj.get("x_threadline_ioc"), dict):
            analysis["iocs"].append(dict(obj["x_threadline_ioc"]))
        elif obj.get("created_by_ref") == PRODUCER_ID and not ours:
            continue      # a shared object of ours: what the report says about it is on its note
        elif kind == "intrusion-set":
            mentions = obj.get("x_threadline_mentions") if ours else obj.get("aliases")
            analysis["actors"].append({"attack_id": _attack_id(obj), "name": obj.get("name"),
                                       "mentions": list(mentions or []),
                                       "role": obj.get("x_threadline_role") or "mentioned",
                                       "evidence": _evidence(obj)})
        elif kind == "campaign":
            first = obj.get("x_threadline_first_seen") if ours else (str(obj.get("first_seen") or "")[:10] or None)
            analysis["campaigns"].append({"attack_id": _attack_id(obj), "name": obj.get("name"),
                                          "first_seen": first, "evidence": _evidence(obj)})
        elif kind in ("malware", "tool"):
            analysis["software"].append({"attack_id": _attack_id(obj), "name": obj.get("name"),
                                         "kind": obj.get("x_threadline_kind") if ours else kind,
                                         "evidence": _evidence(obj)})
        elif kind == "attack-pattern" and _attack_id(obj):
            tactics = [p.get("phase_name") for p in obj.get("kill_chain_phases") or []
                       if p.get("kill_chain_name") == "mitre-attack"]
            analysis["techniques"].append({"id": _attack_id(obj), "name": obj.get("name"), "tactics": tactics,
                                           "score": obj.get("x_threadline_score"),
                                           "evidence": _evidence(obj),
                                           "inferred": bool(obj.get("x_threadline_inferred"))})
        elif kind == "identity" and obj.get("identity_class") == "class":
            analysis["sectors"].append({"name": obj.get("name"), "evidence": _evidence(obj)})
        elif kind == "location" and obj.get("country"):
            analysis["countries"].append({"code": obj.get("country"), "name": obj.get("name"),
                                          "evidence": _evidence(obj)})
        elif kind == "location" and obj.get("region"):
            analysis["regions"].append({"name": obj.get("name") or obj.get("region"),
                                        "code": obj.get("x_threadline_code"), "evidence": _evidence(obj)})
        elif kind == "indicator" and obj.get("pattern_type") == "stix":
            ioc = _ioc_from_pattern(obj)
            if ioc is not None:
                analysis["iocs"].append(ioc)
        elif kind == "vulnerability" and str(obj.get("name", "")).upper().startswith("CVE-"):
            cve = str(obj["name"]).upper()
            analysis["iocs"].append({"type": "cve", "value": cve, "defanged": cve, "start": None, "end": None,
                                     "sentence": None, "warninglists": [], "flags": []})
    sections = (report or {}).get("x_threadline_sections") or {}
    for key, value in sections.items():
        analysis[key] = value
    return analysis
