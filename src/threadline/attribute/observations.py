"""What a case shows (techniques, software, victims, dates, the report's own claims), parsed and validated."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.errors import InputError
from threadline.knowledge import KnowledgeBase, normalise
from threadline.knowledge.attack import Software, Technique

_TECHNIQUE_ID = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_SOFTWARE_ID = re.compile(r"^S\d{4}$")
_GROUP_ID = re.compile(r"^G\d{4}$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
# Everyday names of countries the MISP country galaxy spells out in full.
EXTRA_COUNTRY_NAMES = {"United States": "US", "U.S.": "US", "USA": "US", "US": "US", "the US": "US",
                       "UK": "GB", "Great Britain": "GB", "Britain": "GB", "U.K.": "GB"}
STRENGTHS = ("attributed", "suspected", "overlaps", "denied", "unknown")
FIELDS = frozenset({"techniques", "software", "sectors", "countries", "first_seen", "last_seen", "iocs",
                    "report_claims", "claims", "exclude_sources", "id"})


@dataclass(frozen=True, slots=True)
class ReportClaim:
    """The report's own attribution statement, as extracted (issue 5, item 1)."""

    actor: str | None               # None: the report says it cannot attribute the activity (strength "unknown")
    attack_id: str | None
    strength: str
    basis: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "attack_id": self.attack_id, "strength": self.strength,
                "basis": list(self.basis), "caveats": list(self.caveats)}


@dataclass(frozen=True, slots=True)
class Observations:
    """A case, normalised: ATT&CK ids, ISO country codes, dates as fractional years."""

    techniques: tuple[str, ...] = ()
    software: tuple[str, ...] = ()                 # S-ids
    sectors: tuple[str, ...] = ()                  # as given (matched loosely against profiles)
    countries: tuple[str, ...] = ()                # ISO-3166 alpha-2
    first_seen: str | None = None
    last_seen: str | None = None
    iocs: tuple[str, ...] = ()
    report_claims: tuple[ReportClaim, ...] = ()
    unresolved: tuple[str, ...] = field(default=())   # names or ids the knowledge base does not know

    @property
    def is_empty(self) -> bool:
        return not (self.techniques or self.software or self.sectors or self.countries)

    def years(self) -> tuple[float, float] | None:
        """The case's period as fractional years, or None when it has no date."""
        first = year_of(self.first_seen) if self.first_seen else None
        last = year_of(self.last_seen) if self.last_seen else None
        if first is None and last is None:
            return None
        lo = first if first is not None else last
        hi = last if last is not None else first
        assert lo is not None and hi is not None
        return (min(lo, hi), max(lo, hi))


def year_of(text: str) -> float | None:
    """``2020``, ``2020-08``, ``2020-08-01`` or an ISO timestamp -> fractional year (mid-period)."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    if month is None:
        return year + 0.5
    if not 1 <= month <= 12:
        return None
    return year + (month - 0.5) / 12


def _strings(data: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InputError(f"\"{key}\" must be a list of strings", where=where)
    out = []
    for item in value:
        if isinstance(item, dict):   # the analysis JSON's shape: {"attack_id"/"id"/"code"/"name": ...}
            item = item.get("attack_id") or item.get("id") or item.get("code") or item.get("name") \
                or item.get("value")
        if not isinstance(item, str) or not item.strip():
            raise InputError(f"\"{key}\" must be a list of non-empty strings", where=where)
        out.append(item.strip())
    return out


def _date(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or year_of(value) is None:
        raise InputError(f"\"{key}\" must be an ISO date such as 2020-08 (got {value!r})", where=where)
    return value


def _techniques(kb: KnowledgeBase, items: list[str], where: str, unresolved: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        tid = item.upper()
        if not _TECHNIQUE_ID.match(tid):
            found = kb.technique(item)      # a technique name is accepted too
            if not found:
                raise InputError(f"\"techniques\": {item!r} is not an ATT&CK technique id (T1234 or T1234.001)",
                                 where=where)
            tid = found[0].attack_id
        tid = kb.current_technique_id(tid)      # an older report's revoked id counts as its replacement
        if isinstance(kb.by_attack_id.get(tid), Technique):
            out.append(tid)
        else:
            unresolved.append(tid)
    return list(dict.fromkeys(out))


def _software(kb: KnowledgeBase, items: list[str], unresolved: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        sid = item.upper() if _SOFTWARE_ID.match(item.upper()) else kb.software_names.resolve(item).unique
        if sid and isinstance(kb.by_attack_id.get(sid), Software):
            out.append(sid)
        else:
            unresolved.append(item)
    return list(dict.fromkeys(out))


_country_tables: dict[int, tuple[KnowledgeBase, dict[str, str]]] = {}


def _country_names(kb: KnowledgeBase) -> dict[str, str]:
    """Normalised country name, synonym or code -> ISO code, made once per knowledge base (the knowledge base is
    kept with it, so its id is not reused): ~500 names normalised for every report took 1.5 ms of each."""
    found = _country_tables.get(id(kb))
    if found is None or found[0] is not kb:
        by_name: dict[str, str] = {}
        for country in kb.galaxies.countries:
            if country.code:
                for name in (country.value, *country.synonyms, country.code):
                    by_name.setdefault(normalise(name), country.code.upper())
        for name, code in EXTRA_COUNTRY_NAMES.items():
            by_name.setdefault(normalise(name), code)
        found = _country_tables[id(kb)] = (kb, by_name)
    return found[1]


def _countries(kb: KnowledgeBase, items: list[str], unresolved: list[str]) -> list[str]:
    by_name = _country_names(kb)
    out: list[str] = []
    for item in items:
        found = by_name.get(normalise(item))
        if found:
            out.append(found)
        else:
            unresolved.append(item)
    return list(dict.fromkeys(out))


def _claims(kb: KnowledgeBase, data: Mapping[str, Any], where: str) -> list[ReportClaim]:
    raw = data.get("report_claims", data.get("claims")) or []
    if not isinstance(raw, list):
        raise InputError("\"report_claims\" must be a list of objects", where=where)
    out = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise InputError(f"\"report_claims\" item {number} must be an object", where=where)
        strength = str(item.get("strength") or "unknown").lower()
        if strength not in STRENGTHS:
            raise InputError(f"\"report_claims\" item {number}: strength must be one of {', '.join(STRENGTHS)}",
                             where=where)
        named = item.get("actor") or item.get("attack_id")
        if not isinstance(named, str) and strength != "unknown":
            # Only "could not be attributed to any known actor" goes without a name.
            raise InputError(f"\"report_claims\" item {number} needs an \"actor\" name", where=where)
        actor = named if isinstance(named, str) else None
        attack_id = item.get("attack_id")
        if not (isinstance(attack_id, str) and _GROUP_ID.match(attack_id)):
            resolved = kb.actors.resolve(actor).unique if actor else None
            attack_id = resolved if resolved and _GROUP_ID.match(resolved) else None
        basis = item.get("basis") or []
        caveats = item.get("caveats") or []
        if not isinstance(basis, list) or not isinstance(caveats, list):
            raise InputError(f"\"report_claims\" item {number}: basis and caveats must be lists", where=where)
        out.append(ReportClaim(actor, attack_id, strength, tuple(map(str, basis)), tuple(map(str, caveats))))
    return out


def parse_observations(data: Any, kb: KnowledgeBase, *, where: str = "observations") -> Observations:
    """Validate a JSON object into :class:`Observations`; anything malformed is a one-line InputError."""
    if not isinstance(data, Mapping):
        raise InputError("expected a JSON object with techniques/software/sectors/countries/...", where=where)
    unknown = sorted(set(data) - FIELDS - {"text", "title", "source"})
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}", where=where)
    unresolved: list[str] = []
    techniques = _techniques(kb, _strings(data, "techniques", where), where, unresolved)
    software = _software(kb, _strings(data, "software", where), unresolved)
    countries = _countries(kb, _strings(data, "countries", where), unresolved)
    iocs = data.get("iocs") or []
    if not isinstance(iocs, list):
        raise InputError("\"iocs\" must be a list", where=where)
    ioc_values = [str(i.get("value")) if isinstance(i, dict) else str(i) for i in iocs]
    return Observations(
        techniques=tuple(techniques), software=tuple(software),
        sectors=tuple(dict.fromkeys(_strings(data, "sectors", where))), countries=tuple(countries),
        first_seen=_date(data, "first_seen", where), last_seen=_date(data, "last_seen", where),
        iocs=tuple(ioc_values), report_claims=tuple(_claims(kb, data, where)), unresolved=tuple(unresolved),
    )


def exclude_sources_of(data: Mapping[str, Any], where: str = "observations") -> tuple[str, ...]:
    """The optional ``exclude_sources`` of an input object (batch lines carry their own)."""
    raw = data.get("exclude_sources") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise InputError("\"exclude_sources\" must be a list of source names or URLs", where=where)
    return tuple(raw)


def read_observations_file(path: Path) -> dict[str, Any]:
    """Read an observations JSON file; unreadable or non-JSON input is a one-line InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ({exc.__class__.__name__})", where=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON (line {exc.lineno}: {exc.msg})", where=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", where=str(path))
    return data


def observations_from_analysis(analysis: Mapping[str, Any], kb: KnowledgeBase) -> Observations:
    """Observations from the analysis JSON (`threadline analyze`): its techniques, software, sectors, countries,
    the span of its dates, its IOCs and its claims."""
    dates = sorted(d["date"] for d in analysis.get("dates") or [] if isinstance(d, dict)
                   and isinstance(d.get("date"), str) and year_of(d["date"]) is not None)
    data = {
        "techniques": [t for t in analysis.get("techniques") or [] if not (isinstance(t, dict) and t.get("inferred"))],
        "software": analysis.get("software") or [],
        "sectors": analysis.get("sectors") or [],
        # Only targets are victims: a country named as the actor's origin ("China-nexus"), or merely mentioned
        # (impersonated, quoted, a vendor's home), is not; an analysis without roles keeps all. Flagged
        # indicators are not IOCs.
        "countries": [c for c in analysis.get("countries") or []
                      if not (isinstance(c, dict) and c.get("role") in ("origin", "mentioned"))],
        "iocs": [i for i in analysis.get("iocs") or [] if not (isinstance(i, dict) and i.get("flags"))],
        "report_claims": analysis.get("claims") or [],
        "first_seen": dates[0] if dates else None,
        "last_seen": dates[-1] if dates else None,
    }
    return parse_observations(data, kb, where="analysis")
