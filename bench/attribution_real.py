"""The attribution engine on real reports, analysed end to end as a user's file (issue 15, item 1).

ATT&CK's leave-one-out cases (bench/attribution.py) hold curated observations; a real document yields what the
extractors find in it. Cases, each with an actor known from a label the engine never sees as evidence:
- the TRAM2 reports (../shared/data/tram: vendor blogs and government advisories, 2019-2023) whose attribution
  claims, as Threadline's claim extractor reads them on the unmasked text, name exactly one ATT&CK group;
- the AnnoCTR train and dev reports (../shared/data/annoctr: vendor reports annotated by a domain expert) whose
  expert GROUP annotations link exactly one ATT&CK group (AnnoCTR's ids mapped to the current ones).
Each report goes through ``analyze_document`` exactly as `threadline analyze FILE` runs it (the sources ATT&CK
cites that are this very document are excluded), twice: as is, and with the labelled actor's names and aliases
(ATT&CK, MISP, and the annotated mentions) replaced by "the group", so that only the evidence speaks.

Leaks, stated rather than hidden: the shipped technique models were trained on all TRAM2 reports and on the
sentences of AnnoCTR's train split. ``--predictions FILE`` (``bench/techniques.py --predictions FILE``: each TRAM
report's techniques from the fold that did not train on it) replaces the TRAM reports' techniques by out-of-fold
ones; AnnoCTR's dev reports are clean either way; the figures are printed per source so they can be read apart.

    .venv/bin/python bench/techniques.py --folds 5 --jobs 1 --predictions /tmp/tram-oof.jsonl
    .venv/bin/python bench/attribution_real.py --predictions /tmp/tram-oof.jsonl [--list] [--rows rows.jsonl]

What is known beyond ATT&CK (``--known``, attribute/known.py): ``galaxy`` adds the MISP/Tidal galaxies' links,
``store`` the other reports of the benchmark as a user's store would hold them, cross-fitted: a case (as is or
masked) is attributed with the as-is analyses of every other report, never its own nor a near-duplicate's (8-word
shingles, Jaccard >= 0.3), each counting for the one group its own claims name as the claim extractor reads them
(not the benchmark's label). ``--analyses FILE`` caches the extracted analyses, so that variants re-attribute the
same evidence in seconds.

    .venv/bin/python bench/attribution_real.py --predictions /tmp/tram-oof.jsonl --analyses /tmp/real.jsonl.gz \
        --known store [--list]

Figures: top-1, top-3, top-10, the confident-wrong rate (top candidate wrong at 45% or more, ICD-203 "roughly
even chance" or stronger), ECE and a reliability table of the top candidate's probability, how often the engine
said the evidence is too thin, and how the report's own claim was judged. Results: bench/results/attribution-real.md.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.analysis import analyze_document
from threadline.attribute import attribute, observations_from_analysis
from threadline.attribute.calibration import FitCase, expected_calibration_error, fit
from threadline.attribute.known import Known, galaxy_known, store_known
from threadline.attribute.observations import Observations
from threadline.attribute.profiles import build_profiles
from threadline.attribute.ranker import load_ranker
from threadline.attribute.scoring import score_groups
from threadline.extract.entities import extract_entities
from threadline.extract.sentences import split_sentences
from threadline.ingest.text import text_document
from threadline.knowledge import KnowledgeBase
from threadline.knowledge.index import load_kb

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CLAIMING = ("attributed", "suspected")
CONFIDENT = 0.45          # ICD-203 "roughly even chance" starts here
MASK = "the group"


@dataclass
class Case:
    source: str                    # tram | annoctr-train | annoctr-dev
    id: str
    title: str
    text: str
    url: str
    answer: str                    # G-id (current)
    spans: list[tuple[int, int]] = field(default_factory=list)   # annotated mentions of the actor (AnnoCTR)


@dataclass
class Outcome:
    case: Case
    masked: bool
    rank: int | None
    top: str | None
    top_name: str
    probability: float             # the top candidate's
    unknown: float
    outcome: str                   # attribution outcome (assessed / insufficient_evidence / ...)
    verdict: str | None            # the claim test's verdict for the labelled actor, when the report claims it
    n_techniques: int
    n_software: int


def label_of(claims: list[dict[str, Any]]) -> str | None:
    """The one ATT&CK group the report attributes its activity to, if exactly one."""
    groups = {c["attack_id"] for c in claims if c.get("attack_id") and c.get("strength") in CLAIMING}
    return next(iter(groups)) if len(groups) == 1 else None


def tram_cases(kb: KnowledgeBase, path: Path) -> list[Case]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            found = extract_entities(row["text"], kb, sentences=split_sentences(row["text"]))
            answer = label_of([c.to_dict() for c in found.claims])
            if answer:
                out.append(Case("tram", str(row["id"]), str(row.get("title") or row["id"]), row["text"],
                                str(row.get("url") or row["id"]), answer))
    return out


def current_group(kb: KnowledgeBase, gid: str) -> str | None:
    """AnnoCTR's ATT&CK snapshot is older (about v10): a group id this bundle no longer has is left out."""
    return gid if gid in kb.by_attack_id else None


def annoctr_cases(kb: KnowledgeBase, folder: Path) -> list[Case]:
    out = []
    for split in ("train", "dev"):
        path = folder / f"annoctr-{split}.jsonl.gz"
        if not path.is_file():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                groups = [e for e in row["entities"] if e["label"] == "GROUP" and str(e.get("link") or "")[:1] == "G"]
                linked = {current_group(kb, str(e["link"])) for e in groups} - {None}
                if len(linked) != 1:
                    continue
                answer = str(next(iter(linked)))
                spans = [(int(e["start"]), int(e["end"])) for e in groups]
                name = str(row["id"])
                out.append(Case(f"annoctr-{split}", name, name.split("_", 2)[-1].replace("-", " "), row["text"],
                                f"https://annoctr.invalid/{name}", answer, spans))
    return out


def mask(case: Case, kb: KnowledgeBase) -> str:
    """The text with the labelled actor's names and aliases (and its annotated mentions) replaced by MASK."""
    text = case.text
    for start, end in sorted(case.spans, reverse=True):
        text = text[:start] + MASK + text[end:]
    names = {a.name for a in kb.actors.for_entity(case.answer) if len(a.name) >= 3}
    obj = kb.by_attack_id.get(case.answer)
    names |= set(getattr(obj, "aliases", ()) or ())
    for name in sorted(names, key=len, reverse=True):
        # case-sensitive for short or all-lowercase-looking names ("Tick"), case-insensitive for the rest
        flags = 0 if len(name) <= 5 else re.IGNORECASE
        text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", MASK, text, flags=flags)
    return text


@dataclass
class Seen:
    """What the engine saw for one case and variant, to re-attribute it under another calibration."""

    case: Case
    masked: bool
    analysis: dict[str, Any]
    fit: FitCase


def fit_case(observations: Observations, kb: KnowledgeBase, excluded: list[str], answer: str) -> FitCase:
    """The case as the calibration sees it: every group's score (best first), the answer's index, the size."""
    scores = score_groups(observations, build_profiles(kb, excluded), None, load_ranker())
    order = [s.attack_id for s in scores]
    return FitCase(tuple(s.score for s in scores), order.index(answer) if answer in order else None,
                   len(observations.techniques) + len(observations.software))


def crossfitted(seen: list[Seen], kb: KnowledgeBase) -> list[Outcome]:
    """Each case attributed with a calibration fitted on the other reports' text evidence only (leave one report
    out: a report's masked twin is left out with it), never on itself."""
    out = []
    for item in seen:
        train = [s.fit for s in seen if s.case.id != item.case.id and not s.masked]
        cal = fit(train, f"real text without {item.case.id}")
        analysis = dict(item.analysis)
        analysis["attribution"] = attribute(observations_from_analysis(analysis, kb), kb, calibration=cal,
                                            exclude_sources=analysis["attribution"]["excluded_sources"]).to_dict()
        out.append(outcome_of(item.case, analysis, item.masked))
    return out


def analyse(case: Case, kb: KnowledgeBase, text: str, techniques: list[str] | None) -> dict[str, Any]:
    """``analyze`` on the text as a user's file; ``techniques`` (out-of-fold) replace the extracted ones."""
    doc = text_document(text.encode("utf-8"), case.url, media_type="text/plain")
    doc.title = case.title
    analysis = analyze_document(doc, kb)
    if techniques is not None:
        analysis["techniques"] = [{"id": t} for t in techniques]
        excluded = analysis["attribution"]["excluded_sources"]
        analysis["attribution"] = attribute(observations_from_analysis(analysis, kb), kb,
                                            exclude_sources=excluded).to_dict()
    return analysis


def outcome_of(case: Case, analysis: dict[str, Any], masked: bool) -> Outcome:
    att = analysis["attribution"]
    order = [c["attack_id"] for c in att["candidates"]]
    top = att["candidates"][0] if att["candidates"] else None
    verdict = next((str(t.get("verdict")) for t in att.get("claim_tests") or []
                    if t.get("attack_id") == case.answer), None)
    return Outcome(case, masked, order.index(case.answer) + 1 if case.answer in order else None,
                   top["attack_id"] if top else None, str(top["name"]) if top else "none",
                   float(top["probability"]) if top else 0.0, float(att["unknown_probability"]),
                   str(att.get("outcome") or "assessed"), verdict,
                   sum(1 for t in analysis.get("techniques") or [] if not t.get("inferred")),
                   sum(1 for s in analysis.get("software") or [] if s.get("attack_id")))


def reliability(outcomes: list[Outcome], edges: tuple[float, ...] = (0.0, 0.05, 0.2, 0.45, 0.55, 0.8, 1.01)
                ) -> list[str]:
    """The top candidate's probability in ICD-203 bands: cases, mean probability, share correct."""
    lines = [f"    {'band':>11} {'cases':>5} {'meanP':>6} {'correct':>7}"]
    for lo, hi in itertools.pairwise(edges):
        inside = [o for o in outcomes if lo <= o.probability < hi]
        if inside:
            mean = sum(o.probability for o in inside) / len(inside)
            right = sum(o.rank == 1 for o in inside) / len(inside)
            lines.append(f"    {lo:>5.2f}-{min(hi, 1):4.2f} {len(inside):>5} {mean:6.3f} {right:7.3f}")
    return lines


def figures(outcomes: list[Outcome]) -> dict[str, float]:
    n = max(len(outcomes), 1)
    ranked = [o.rank if o.rank is not None else math.inf for o in outcomes]
    return {
        "cases": float(len(outcomes)),
        "top1": sum(r == 1 for r in ranked) / n, "top3": sum(r <= 3 for r in ranked) / n,
        "top10": sum(r <= 10 for r in ranked) / n, "mrr": sum(1 / r for r in ranked) / n,
        "confident_wrong": sum(o.probability >= CONFIDENT and o.rank != 1 for o in outcomes) / n,
        "mean_top_p": sum(o.probability for o in outcomes) / n,
        "ece": expected_calibration_error([o.probability for o in outcomes], [o.rank == 1 for o in outcomes]),
        "too_thin": sum(o.outcome == "insufficient_evidence" for o in outcomes) / n,
    }


def table(outcomes: list[Outcome]) -> list[str]:
    lines = [f"{'set':24} {'cases':>5} {'top1':>5} {'top3':>5} {'top10':>5} {'MRR':>5} {'conf-wrong':>10} "
             f"{'meanP':>5} {'ECE':>5} {'thin':>5}"]
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        variant = "masked" if o.masked else "as is"
        for key in (f"all, {variant}", f"{o.case.source}, {variant}"):
            groups.setdefault(key, []).append(o)
    for key in sorted(groups, key=lambda k: (not k.startswith("all"), k.split(", ")[1], k)):
        f = figures(groups[key])
        lines.append(f"{key:24} {int(f['cases']):>5} {f['top1']:5.2f} {f['top3']:5.2f} {f['top10']:5.2f} "
                     f"{f['mrr']:5.2f} {f['confident_wrong']:10.2f} {f['mean_top_p']:5.2f} {f['ece']:5.3f} "
                     f"{f['too_thin']:5.2f}")
    return lines


def ece_floor(probabilities: list[float], draws: int = 200) -> float:
    """The ECE of probabilities that are exactly right, on as many cases: outcomes drawn with the stated
    probabilities (seeded). An ECE near it is noise, not miscalibration."""
    rng = random.Random(5)
    return sum(expected_calibration_error(probabilities, [rng.random() < p for p in probabilities])
               for _ in range(draws)) / draws


def assessed_line(outcomes: list[Outcome]) -> str:
    assessed = [o for o in outcomes if o.outcome != "insufficient_evidence"]
    f = figures(assessed)
    return f"{f['top1']:.2f} / {f['top3']:.2f} ({len(assessed)} of {len(outcomes)} cases)"


def verdicts(outcomes: Iterable[Outcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        if not o.masked:
            counts[o.verdict or "no claim read"] = counts.get(o.verdict or "no claim read", 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def load_predictions(path: Path | None) -> dict[str, list[str]] | None:
    """Report id -> out-of-fold technique ids, from ``bench/techniques.py --predictions``."""
    if path is None:
        return None
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {str(row["id"]): [str(t) for t in row["techniques"]] for row in rows}


def load_analyses(path: Path | None) -> dict[str, dict[str, Any]] | None:
    """The analyses of an earlier run (``--analyses``), by case key: extraction is most of the time, and the
    attribution can be run again on the same extracted evidence."""
    if path is None:
        return None
    if not path.is_file():
        return {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return {row["key"]: row["analysis"] for row in map(json.loads, handle)}


def save_analyses(path: Path, cached: dict[str, dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for key, analysis in cached.items():
            handle.write(json.dumps({"key": key, "analysis": analysis}) + "\n")


def reattribute(analysis: dict[str, Any], kb: KnowledgeBase, known: Known | None, text: str | None = None,
                text_weight: float | None = None) -> dict[str, Any]:
    """The analysis with its attribution made again on the same observations (and what else is known; the
    report's words at ``text_weight``, attribute/textual.py)."""
    out = dict(analysis)
    out["attribution"] = attribute(observations_from_analysis(analysis, kb), kb, known=known,
                                   exclude_sources=analysis["attribution"]["excluded_sources"], text=text,
                                   text_weight=text_weight).to_dict()
    return out


KNOWN = ("none", "galaxy", "galaxy-software", "store", "store-software", "galaxy+store")
STORE_KINDS = ("software", "technique", "country", "sector")


def near_duplicates(cases: list[Case], threshold: float = 0.3) -> dict[str, set[str]]:
    """Case id -> ids of the cases whose text shares at least ``threshold`` of its 8-word shingles (Jaccard): the
    same article in two datasets, or a report and its update, must not be each other's stored knowledge."""
    shingles = {}
    for case in cases:
        words = re.findall(r"\w+", case.text.casefold())
        shingles[case.id] = {" ".join(words[i:i + 8]) for i in range(max(len(words) - 7, 1))}
    out = {c.id: {c.id} for c in cases}
    for a, b in itertools.combinations(cases, 2):
        x, y = shingles[a.id], shingles[b.id]
        if x and y and len(x & y) / len(x | y) >= threshold:
            out[a.id].add(b.id)
            out[b.id].add(a.id)
    return out


def known_links(choice: str, kb: KnowledgeBase, cases: list[Case], cached: dict[str, dict[str, Any]],
                store_kinds: tuple[str, ...] = STORE_KINDS) -> Callable[[Case, bool], Known | None] | None:
    """What each case is attributed with beyond ATT&CK. The store, cross-fitted: for a case (as is or masked), the
    as-is analyses of every other report, never its own nor a near-duplicate's, as if the user had analysed and
    stored them before; a stored report counts for the group its own claims name (the claim extractor's reading,
    not the benchmark's label)."""
    if choice == "none":
        return None
    galaxy = galaxy_known(kb) if "galaxy" in choice else Known()
    if choice == "galaxy-software":
        galaxy = galaxy.only("software")
    twins = near_duplicates(cases)
    stored = {c.id: cached[f"{c.source}/{c.id}/as is"] for c in cases}

    def known(case: Case, masked: bool) -> Known | None:
        if "store" not in choice:
            return galaxy
        others = store_known([a for cid, a in stored.items() if cid not in twins[case.id]], kb)
        if choice == "store-software":
            others = others.only("software")
        return galaxy | others.only(*store_kinds)

    return known


def run(cases: list[Case], kb: KnowledgeBase, predictions: dict[str, list[str]] | None, show: bool,
        rows: Path | None, seen: list[Seen] | None = None, cached: dict[str, dict[str, Any]] | None = None,
        known: Callable[[Case, bool], Known | None] | None = None, text_weight: float | None = None
        ) -> list[Outcome]:
    outcomes = []
    dump = rows.open("w", encoding="utf-8") if rows else None
    for case in cases:
        oof = predictions.get(case.id) if predictions is not None and case.source == "tram" else None
        for masked in (False, True):
            key = f"{case.source}/{case.id}/{'masked' if masked else 'as is'}"
            analysis = cached.get(key) if cached is not None else None
            if analysis is None:
                analysis = analyse(case, kb, mask(case, kb) if masked else case.text, oof)
                if cached is not None:
                    cached[key] = analysis
            if known is not None or text_weight is not None:
                # attributed again with what is known beyond ATT&CK's own sets, and/or the report's own words
                analysis = reattribute(analysis, kb, known(case, masked) if known is not None else None,
                                       (mask(case, kb) if masked else case.text) if text_weight else None,
                                       text_weight)
            o = outcome_of(case, analysis, masked)
            outcomes.append(o)
            if seen is not None:
                seen.append(Seen(case, masked, analysis, fit_case(observations_from_analysis(analysis, kb), kb,
                                                                   analysis["attribution"]["excluded_sources"],
                                                                   case.answer)))
            if dump is not None:
                dump.write(json.dumps({"source": case.source, "id": case.id, "answer": case.answer, "masked": masked,
                                       "attribution": analysis["attribution"]}) + "\n")
            if show:
                name = kb.by_attack_id[case.answer].name
                print(f"{case.source[:9]:9} {case.title[:44]:44} {'M' if masked else ' '} | {name[:16]:16} | rank "
                      f"{o.rank or '-':>2} | top {o.top_name[:18]:18} {o.probability:4.0%} | {o.outcome[:12]:12} | "
                      f"{o.verdict or '-':12} | T{o.n_techniques} S{o.n_software}", flush=True)
    if dump is not None:
        dump.close()
    return outcomes


TEXT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def mrr(outcomes: Iterable[Outcome]) -> float:
    ranks = [1 / o.rank if o.rank else 0.0 for o in outcomes]
    return sum(ranks) / max(len(ranks), 1)


def text_crossfit(cases: list[Case], kb: KnowledgeBase, predictions: dict[str, list[str]] | None, show: bool,
                  cached: dict[str, dict[str, Any]], known: Callable[[Case, bool], Known | None] | None,
                  grid: tuple[float, ...] = TEXT_GRID) -> list[Outcome]:
    """The text channel's weight chosen by leave-one-report-out: each case (as is and masked) is attributed with
    the weight of TEXT_GRID that gives the best mean reciprocal rank on the other reports as is (its near-duplicates
    left out with it); no case tunes its own weight. Prints the in-sample curve and the weights chosen."""
    by_weight = {w: run(cases, kb, predictions, False, None, None, cached, known, w) for w in grid}
    twins = near_duplicates(cases)
    print("text channel, every case at one weight (in-sample: read the shape, not the level):")
    for w, outs in by_weight.items():
        f = figures([o for o in outs if not o.masked])
        g = figures([o for o in outs if o.masked])
        print(f"  weight {w:4.2f}: as is top1 {f['top1']:.2f} top3 {f['top3']:.2f} top10 {f['top10']:.2f} "
              f"MRR {f['mrr']:.3f} conf-wrong {f['confident_wrong']:.2f} ECE {f['ece']:.3f} "
              f"| masked top1 {g['top1']:.2f} top3 {g['top3']:.2f} "
              f"top10 {g['top10']:.2f}")
    chosen: list[Outcome] = []
    picks: dict[float, int] = {}
    for i, _ in enumerate(by_weight[grid[0]]):
        case = by_weight[grid[0]][i].case
        best = max(grid, key=lambda w: (mrr(o for o in by_weight[w] if not o.masked
                                                  and o.case.id not in twins[case.id]), -w))
        picks[best] = picks.get(best, 0) + 1
        o = by_weight[best][i]
        chosen.append(o)
        if show:
            name = kb.by_attack_id[case.answer].name
            print(f"{case.source[:9]:9} {case.title[:44]:44} {'M' if o.masked else ' '} | {name[:16]:16} "
                  f"| w {best:4.2f} | rank {o.rank or '-':>2} | top {o.top_name[:18]:18} {o.probability:4.0%} "
                  f"| {o.outcome[:12]:12}",
                  flush=True)
    print(f"text weights chosen (leave one report out): {', '.join(f'{w:g} x{n}' for w, n in sorted(picks.items()))}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding tram/ and annoctr/")
    ap.add_argument("--predictions", type=Path, default=None, help="out-of-fold TRAM techniques (bench/techniques.py)")
    ap.add_argument("--list", action="store_true", help="print every case: label, rank, top candidate, outcome")
    ap.add_argument("--rows", type=Path, default=None, help="write every case's attribution here (JSONL)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases of each source (a quick run)")
    ap.add_argument("--crossfit", action="store_true",
                    help="also: each case calibrated on the other reports' text evidence (leave one report out)")
    ap.add_argument("--analyses", type=Path, default=None,
                    help="cache of the extracted analyses (gzipped JSONL): read when present, else written")
    ap.add_argument("--known", choices=KNOWN, default="none",
                    help="also link evidence to groups from the MISP galaxies and/or the other reports (the store)")
    ap.add_argument("--text", default="off",
                    help="the text channel (attribute/textual.py): off, a weight, or 'crossfit' (each report with the "
                         "weight that ranks the other reports best, from TEXT_GRID)")
    ap.add_argument("--text-grid", default="",
                    help="the weights --text crossfit chooses from (comma-separated; default TEXT_GRID)")
    ap.add_argument("--store-kinds", default=",".join(STORE_KINDS),
                    help="which of a stored report's observations link to its group (comma-separated)")
    args = ap.parse_args(argv)
    tram = args.data / "tram" / "tram2-reports.jsonl.gz"
    if not tram.is_file():
        print(f"{tram}: not found (the TRAM data is in ../shared/data/tram)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    kb = load_kb(progress=False)
    sets = [tram_cases(kb, tram), annoctr_cases(kb, args.data / "annoctr")]
    cases = [c for s in sets for c in (s[:args.limit] if args.limit else s)]
    seen: list[Seen] | None = [] if args.crossfit else None
    predictions = load_predictions(args.predictions)
    cached = load_analyses(args.analyses)
    known = None
    if args.known != "none":
        cached = {} if cached is None else cached
        run(cases, kb, predictions, False, None, None, cached)     # every report analysed before any is attributed
        known = known_links(args.known, kb, cases, cached, tuple(args.store_kinds.split(",")))
        twins = sum(len(v) > 1 for v in near_duplicates(cases).values())
        print(f"known beyond ATT&CK: {args.known} (the store: the other reports' analyses, leave one report out; "
              f"{twins} cases have a near-duplicate, left out with them)")
    if args.text == "crossfit":
        cached = {} if cached is None else cached
        grid = tuple(float(w) for w in args.text_grid.split(",")) if args.text_grid else TEXT_GRID
        outcomes = text_crossfit(cases, kb, predictions, args.list, cached, known, grid)
    else:
        weight = None if args.text == "off" else float(args.text)
        outcomes = run(cases, kb, predictions, args.list, args.rows, seen, cached, known, weight)
    if args.analyses is not None and cached is not None and not args.analyses.is_file():
        save_analyses(args.analyses, cached)
    print(f"techniques: TRAM {'out-of-fold predictions' if args.predictions else 'shipped model (trained on them)'}; "
          f"AnnoCTR shipped model (its procedure model saw the train split's sentences, not dev's)")
    print(f"cases: {len(cases)} ({', '.join(f'{s[0].source.split(chr(45))[0]} {len(s)}' for s in sets if s)}), "
          "each as is and masked")
    print("\n".join(table(outcomes)))
    for masked in (False, True):
        print(f"reliability, all cases {'masked' if masked else 'as is'} (top candidate's probability):")
        print("\n".join(reliability([o for o in outcomes if o.masked == masked])))
    as_is = [o for o in outcomes if not o.masked]
    print(f"ECE that perfectly calibrated probabilities would show on as many cases (as is, mean of 200 draws): "
          f"{ece_floor([o.probability for o in as_is]):.3f}; top-1 and top-3 on the cases the engine assessed (not "
          f"too thin): {assessed_line(as_is)}")
    print(f"claim test of the labelled actor (as is): {verdicts(outcomes)}")
    if seen is not None:
        refit = crossfitted(seen, kb)
        print("calibration fitted on real text, leave one report out (the shipped ranker; scale, gamma, slope and "
              "offset refitted on the other reports as is):")
        print("\n".join(table(refit)))
        print("\n".join(reliability([o for o in refit if not o.masked])))
    print(f"time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
