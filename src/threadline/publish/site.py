"""The static site: a listing page of every briefing (newest first, filterable), one page per briefing, actor and
technique, and an ATT&CK matrix heatmap. Relative links only, no external assets, written atomically.

A site is read by whoever can open its folder: ``clearance`` (``publish --clearance``) keeps out every analysis
marked above it, and every piece of evidence that cites one, as the web app does for a reader with that clearance
(:mod:`threadline.store.citations`); by default (red) every analysis is published, as before, and the result
counts the markings the site holds so that the command can say so."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.errors import InputError
from threadline.export.common import marking, parse_when
from threadline.knowledge.attack import Technique
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.profiles import actor_profile, technique_name
from threadline.publish.brief import Brief, build_brief, render_brief
from threadline.publish.facts import ActorSeen
from threadline.publish.render import html_env, is_technique_id, script_hash
from threadline.publish.staysafe import first_sentence
from threadline.store.citations import Markings, cited_ids, withhold
from threadline.tlp import LEVELS, RED, Level, label, may_read, parse_option

# The marker that says a directory is a site we wrote, so replacing it never destroys someone else's folder.
MARKER = ".threadline-site"
# ATT&CK Enterprise tactic order (the matrix's columns, left to right).
TACTIC_ORDER = ("reconnaissance", "resource-development", "initial-access", "execution", "persistence",
                "privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
                "collection", "command-and-control", "exfiltration", "impact")
HEAT_LEVELS = 5
FACETS = ("actor", "sector", "country", "technique", "tlp")

# The listing's filter: reads data-* attributes only, so it works from file:// with no fetch; the form stays
# hidden until this runs, so without JavaScript the page is a plain, complete list.
FILTER_SCRIPT = """(function () {
  var form = document.getElementById("filters");
  var list = document.getElementById("briefings");
  var status = document.getElementById("shown");
  if (!form || !list) { return; }
  var items = list.children;
  var keys = ["actor", "sector", "country", "technique", "tlp"];
  function apply() {
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var ok = true;
      for (var k = 0; k < keys.length && ok; k++) {
        var want = form.elements[keys[k]].value;
        if (want && (items[i].getAttribute("data-" + keys[k]) || "").split("|").indexOf(want) < 0) { ok = false; }
      }
      items[i].hidden = !ok;
      if (ok) { shown++; }
    }
    status.textContent = shown + " of " + items.length + " briefings shown";
  }
  form.hidden = false;
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  apply();
}());"""


@dataclass
class Entry:
    """One briefing as the listing shows it."""

    brief: Brief
    when: str
    facets: dict[str, list[str]] = field(default_factory=dict)


def _facet(value: str) -> str:
    return " ".join(value.replace("|", "/").split())


def _entry(brief: Brief) -> Entry:
    when = parse_when(brief.published)
    facets = {
        "actor": [_facet(a.name) for a in brief.actors],
        "sector": [_facet(s) for s in brief.sectors],
        "country": [_facet(c) for c in brief.countries],
        "technique": [t.id for t in brief.techniques],
        "tlp": [brief.tlp],
    }
    return Entry(brief, when.isoformat() if when else "", {k: list(dict.fromkeys(v)) for k, v in facets.items()})


def _label(key: str, value: str, names: dict[str, str]) -> str:
    if key == "technique":
        return f"{value} {names.get(value, '')}".strip()
    return f"TLP:{value.upper()}" if key == "tlp" else value


def _options(entries: list[Entry]) -> dict[str, list[tuple[str, str, int]]]:
    """(value, label, how many briefings) for each filter's drop-down."""
    names = {t.id: t.name for e in entries for t in e.brief.techniques}
    out: dict[str, list[tuple[str, str, int]]] = {}
    for key in FACETS:
        counts = Counter(v for e in entries for v in e.facets[key])
        out[key] = [(v, _label(key, v, names), n) for v, n in sorted(counts.items(), key=lambda kv: kv[0].lower())]
    return out


def _heat(count: int, top: int) -> int:
    return 0 if count <= 0 or top <= 0 else max(1, math.ceil(HEAT_LEVELS * count / top))


class SiteWriter:
    """Renders every page into one directory; :func:`publish` moves the directory into place."""

    def __init__(self, root: Path, kb: KnowledgeBase | None) -> None:
        self.root = root
        self.kb = kb
        self.env = html_env()
        self.pages = 0

    def write(self, rel: str, template: str, **context: Any) -> None:
        depth = rel.count("/")
        html = self.env.get_template(template).render(root="../" * depth, **context)
        self.write_text(rel, html)

    def write_text(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.pages += 1

    # ---- pages ----------------------------------------------------------------------------------------
    def index(self, entries: list[Entry]) -> None:
        self.write("index.html", "index.html.j2", entries=entries, options=_options(entries),
                   script=FILTER_SCRIPT, script_hash=script_hash(FILTER_SCRIPT))

    def briefings(self, entries: list[Entry]) -> None:
        for entry in entries:
            self.write_text(f"briefings/{entry.brief.id}.html", render_brief(entry.brief, "html", site_root="../"))

    def actors(self, entries: list[Entry]) -> None:
        seen: dict[str, ActorSeen] = {}
        by_actor: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            for actor in entry.brief.actors:
                seen.setdefault(actor.key, actor)
                if entry not in by_actor[actor.key]:
                    by_actor[actor.key].append(entry)
        rows = []
        for key in sorted(seen, key=lambda k: (seen[k].name.lower(), k)):
            actor, briefs = seen[key], by_actor[key]
            profile = self._profile(key)
            name = profile["name"] if profile else actor.name
            timeline = self._actor_timeline(profile, briefs)
            observed = Counter(t.id for e in briefs for t in e.brief.techniques)
            names = {t.id: t.name for e in briefs for t in e.brief.techniques}
            known = {t["id"] for t in profile["techniques"]} if profile else set()
            techniques = [(tid, names[tid], n, tid in known)
                          for tid, n in sorted(observed.items(), key=lambda kv: (-kv[1], kv[0]))]
            self.write(f"actors/{key}.html", "actor.html.j2", key=key, name=name, profile=profile,
                       said=sorted({m for e in briefs for a in e.brief.actors if a.key == key for m in a.mentions}),
                       entries=briefs, timeline=timeline, techniques=techniques)
            rows.append((key, name, len(briefs)))
        self.write("actors.html", "list.html.j2", title="Actors", kind="actors", rows=rows)

    def _profile(self, key: str) -> dict[str, Any] | None:
        if self.kb is None or key.startswith("name-"):
            return None
        entity = f"misp:{key[5:]}" if key.startswith("misp-") else key
        if self.kb.group(entity) is None and not (entity.startswith("misp:")
                                                  and entity[5:] in self.kb.galaxies.threat_actors):
            return None
        return actor_profile(self.kb, entity)

    @staticmethod
    def _actor_timeline(profile: dict[str, Any] | None, briefs: list[Entry]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for camp in (profile or {}).get("campaigns", []):
            events.append({"date": camp["first_seen"] or "", "end": camp["last_seen"], "name": camp["name"],
                           "attack_id": camp["attack_id"], "sources": camp["sources"], "brief": None})
        for entry in briefs:
            named = entry.brief.campaigns or [(entry.brief.subject, None)]
            for name, first in named:
                events.append({"date": first or (entry.brief.published or "")[:10], "end": None, "name": name,
                               "attack_id": None, "sources": [], "brief": entry.brief})
        return sorted(events, key=lambda e: (e["date"] or "9999", e["name"]))

    def techniques(self, entries: list[Entry]) -> dict[str, int]:
        by_tid: dict[str, list[Entry]] = defaultdict(list)
        names: dict[str, str] = {}
        for entry in entries:
            for t in entry.brief.techniques:
                if is_technique_id(t.id) and entry not in by_tid[t.id]:
                    by_tid[t.id].append(entry)
                    names.setdefault(t.id, t.name)
        # A parent technique gets a page when any sub-technique is observed (the matrix links to it).
        for tid in [t for t in by_tid if "." in t]:
            parent = tid.split(".")[0]
            for entry in by_tid[tid]:
                if entry not in by_tid[parent]:
                    by_tid[parent].append(entry)
        rows = []
        for tid in sorted(by_tid):
            technique = self._technique(tid)
            name = technique_name(self.kb, technique) if self.kb is not None and technique else names.get(tid, tid)
            self.write(f"techniques/{tid}.html", "technique.html.j2", tid=tid, name=name, entries=by_tid[tid],
                       technique=self._technique_facts(technique),
                       actors=sorted({(a.key, a.name) for e in by_tid[tid] for a in e.brief.actors},
                                     key=lambda p: p[1].lower()))
            rows.append((tid, name, len(by_tid[tid])))
        self.write("techniques.html", "list.html.j2", title="Techniques", kind="techniques", rows=rows)
        return {tid: len(v) for tid, v in by_tid.items()}

    def _technique(self, tid: str) -> Technique | None:
        obj = self.kb.by_attack_id.get(tid) if self.kb is not None else None
        return obj if isinstance(obj, Technique) else None

    def _technique_facts(self, technique: Technique | None) -> dict[str, Any] | None:
        if technique is None or self.kb is None:
            return None
        kb = self.kb
        mitigations = sorted((kb.attack.mitigations[r.source] for r in kb.related(technique.stix_id, "mitigates",
                              reverse=True) if r.source in kb.attack.mitigations), key=lambda m: m.attack_id)
        return {"url": technique.url, "tactics": list(technique.tactics),
                "about": first_sentence(technique.description),
                "mitigations": [(m.attack_id, m.name, m.url) for m in mitigations]}

    def matrix(self, counts: dict[str, int], total: int) -> None:
        columns = []
        parents: dict[str, list[tuple[str, str]]] = defaultdict(list)
        if self.kb is not None:
            for t in self.kb.attack.techniques.values():
                if not t.is_subtechnique:
                    for tactic in t.tactics:
                        parents[tactic].append((t.attack_id, t.name))
            tactic_names = {t.shortname: t.name for t in self.kb.attack.tactics.values()}
        else:
            tactic_names = {}
        top = max(counts.values(), default=0)
        for shortname in TACTIC_ORDER:
            cells = [{"id": tid, "name": name, "count": counts.get(tid, 0), "heat": _heat(counts.get(tid, 0), top),
                      "subs": sorted(s for s in counts if s.startswith(tid + "."))}
                     for tid, name in sorted(parents.get(shortname, []), key=lambda p: p[1].lower())]
            columns.append({"name": tactic_names.get(shortname, shortname.replace("-", " ").title()), "cells": cells})
        depth = max((len(c["cells"]) for c in columns), default=0)
        rows = [[c["cells"][i] if i < len(c["cells"]) else None for c in columns] for i in range(depth)]
        legend = [(level, math.ceil(top * (level - 1) / HEAT_LEVELS) + 1 if level > 1 else 1,
                   math.floor(top * level / HEAT_LEVELS)) for level in range(1, HEAT_LEVELS + 1)]
        self.write("matrix.html", "matrix.html.j2", columns=columns, rows=rows, top=top, total=total,
                   legend=[(lvl, lo, hi) for lvl, lo, hi in legend if lo <= hi], kb_used=self.kb is not None)


@dataclass
class Kept:
    """What a clearance left of the analyses: those published, how many were kept out (above the clearance), and
    how many of those published had evidence citing a report above it left out."""

    analyses: list[dict[str, Any]]
    withheld: int = 0
    citing: int = 0


def within_clearance(analyses: Iterable[dict[str, Any]], clearance: Level, *, tlp: str | None = None,
                     markings: Markings | None = None) -> Kept:
    """The analyses a reader cleared for ``clearance`` may read, each as that reader may read it.

    An analysis whose briefing would be marked above the clearance (the stricter of ``tlp`` and its own marking,
    :func:`~threadline.export.common.marking`) is kept out. From the others, every piece of evidence citing a report
    the reader may not read is left out (:func:`~threadline.store.citations.withhold`); a cited report's marking is
    its own, known from the analyses given and from ``markings`` (the store's, by id); a report known to neither is
    treated as unreadable. A clearance of red keeps everything as it is."""
    given = list(analyses)
    if clearance == RED:
        return Kept(given)
    # Every cited report's markings, looked up once (a cited id is 12 or more hex digits of a document id).
    known: list[tuple[str, str]] = [(str((a.get("document") or {}).get("sha256") or ""), marking(a)) for a in given]
    wanted = set().union(*(cited_ids(a) for a in given))
    if markings is not None and wanted:
        known += markings(wanted)
    by_prefix: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for doc, level in known:
        if doc:
            by_prefix[doc[:12]].append((doc, level))

    def cited(ids: set[str]) -> list[tuple[str, str]]:
        return [pair for i in ids for pair in by_prefix.get(i[:12], ())]

    kept = Kept([])
    for analysis in given:
        if not may_read(clearance, marking(analysis, tlp)):
            kept.withheld += 1
            continue
        seen, hidden = withhold(analysis, clearance, cited)
        kept.citing += bool(hidden)
        kept.analyses.append(seen)
    return kept


def check_clearance(tlp: str | None, clearance: Level) -> None:
    """Refuse a ``--tlp`` that would mark every briefing above the clearance (the site would be empty)."""
    if tlp is not None and not may_read(clearance, parse_option(tlp)):
        raise InputError(f"marks every briefing above --clearance {clearance}: nothing could be published",
                         where=f"--tlp {tlp}")


def cites_stored(analyses: Iterable[dict[str, Any]]) -> bool:
    """Whether any analysis cites a stored report (the store's markings are then needed to publish it below red)."""
    return any(cited_ids(a) for a in analyses)


def _briefs(items: Iterable[Brief | dict[str, Any]], kb: KnowledgeBase | None, tlp: str | None) -> list[Brief]:
    out = []
    for item in items:
        out.append(item if isinstance(item, Brief) else build_brief(item, kb, tlp=tlp))
    return out


def summary(result: dict[str, Any]) -> str:
    """One line on what markings a site holds and what its clearance kept out."""
    counts: dict[str, int] = result["markings"]
    held = ", ".join(f"{counts[level]} {label(level)}" for level in LEVELS if counts.get(level)) or "none"
    line = f"markings in the site: {held}"
    clearance: Level = result["clearance"]
    if clearance != RED:
        line += f"; kept out, as above {label(clearance)}: {_count(result['withheld'], 'analysis', 'analyses')}"
        if result["citing"]:
            line += f" (and the evidence citing one, from {_count(result['citing'], 'other', 'others')})"
    return line


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _check_target(out: Path) -> None:
    """Refuse, before anything is written, a target the site can not (or must not) replace."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory; choose another --out", where=str(out))
    here = Path.cwd().resolve()
    target = out.resolve()
    if target == here or target in here.parents:
        # Replacing the folder we stand in would pull it from under the shell (and everything below it).
        raise InputError("is the current folder or contains it; run publish from outside it or choose another "
                         "--out", where=str(out))
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise InputError("exists, is not empty and is not a Threadline site; choose another --out", where=str(out))
    folder = next(p for p in target.parents if p.exists())     # where the new site (or its folders) is created
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"can not write the site: the folder {folder} is not writable", where=str(out))


def _write_error(out: Path, exc: OSError) -> InputError:
    reason = exc.strerror or exc.__class__.__name__
    return InputError(f"can not write the site ({reason}); nothing was changed", where=str(out))


def publish(items: Iterable[Brief | dict[str, Any]], out_dir: str | Path, kb: KnowledgeBase | None, *,
            tlp: str | None = None, clearance: Level = RED, markings: Markings | None = None) -> dict[str, Any]:
    """Write the site for briefings (or analyses, built into briefings) to ``out_dir``, replacing it atomically.

    ``clearance`` below red keeps out what a reader with that clearance may not read (:func:`within_clearance`,
    with ``markings`` the store's markings of cited reports); it takes analyses, not briefings already built (a
    briefing's evidence can no longer be checked). Every check that can fail comes before the first write; a write
    that fails anyway (a full disk, a read-only file system) is one line naming the folder, and leaves the old
    site, if any, as it was. The result says where, how many briefings and pages, and ``markings``: how many
    briefings carry each level."""
    out = Path(out_dir)
    _check_target(out)
    kept = Kept([])
    if clearance != RED:
        check_clearance(tlp, clearance)
        listed = list(items)
        if any(isinstance(item, Brief) for item in listed):
            raise TypeError("publish below red clearance takes analyses, not briefings")
        kept = within_clearance((item for item in listed if not isinstance(item, Brief)), clearance, tlp=tlp,
                                markings=markings)
        items = kept.analyses
    briefs = _briefs(items, kb, tlp)
    ids = Counter(b.id for b in briefs)
    if any(n > 1 for n in ids.values()):
        dup = sorted(i for i, n in ids.items() if n > 1)[0]
        raise InputError(f"two analyses of the same document (briefing {dup}); publish each document once",
                         where="publish")
    entries = sorted((_entry(b) for b in briefs), key=lambda e: (e.brief.title.lower(), e.brief.id))
    entries.sort(key=lambda e: e.when, reverse=True)   # stable: newest first, then by title; undated last
    target = out.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise _write_error(out, exc) from None
    try:
        writer = SiteWriter(tmp, kb)
        writer.index(entries)
        writer.briefings(entries)
        writer.actors(entries)
        counts = writer.techniques(entries)
        writer.matrix(counts, len(entries))
        (tmp / MARKER).write_text("Written by `threadline publish`; replaced as a whole on the next run.\n",
                                  encoding="utf-8")
        os.chmod(tmp, 0o755)   # mkdtemp makes it private; a published site is meant to be read
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.rename(old)
            try:
                tmp.rename(target)
            except OSError:
                old.rename(target)          # put the old site back before reporting
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(out, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "briefings": len(entries), "pages": writer.pages,
            "markings": dict(Counter(e.brief.tlp for e in entries)), "clearance": clearance,
            "withheld": kept.withheld, "citing": kept.citing}
