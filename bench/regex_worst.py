"""Worst case of every regular expression in Threadline on adversarial inputs (catastrophic backtracking,
quadratic scans).

The patterns are found by walking every module of the package for compiled patterns (module attributes, and
tuples, lists and dicts of them); patterns built at run time from the knowledge base are compiled through it
first (places). For each pattern, adversarial inputs are built from the pattern itself: runs of each character
it names, of each literal it contains ("HKLM\\", "hxxp://"), of pairs of them ("a."), and a seeded random mix, each
ended by a character that makes a match fail at the last moment. Every pattern scans each input with
``finditer`` at 8 KB and 64 KB (growth 8x means linear, 64x quadratic; a scan is stopped at 0.5 s); the worst
inputs then run at 1 MB, first as that one scan and then as a document through every stage that reads text, each
under a 10 s limit. The stages are what counts: many patterns are written to be used anchored at a position
(``DOTTED.match(text, start)``), where they are linear, and are quadratic under a bare ``finditer``. Target: no
input up to 1 MB over 10 s in any stage; the figures are wall times on this machine, and the peak memory of the
whole run (exit status 1 past 10 s or 1 GB).

    .venv/bin/python bench/regex_worst.py [--top 30] [--size-mb 1] [--only NAME_PART]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import pkgutil
import random
import re
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the stdlib's own parser of patterns
from typing import Any

import threadline
from threadline.errors import LimitError
from threadline.limits import stage

KB = 1024
_GENERIC = " a1.-_/\\@:\n\t[]()Z"
_FAIL = "\x00!"


@dataclass(slots=True)
class Case:
    name: str
    pattern: re.Pattern[Any]
    input: str
    small: float = 0.0
    large: float = 0.0
    full: float | None = None     # seconds at --size-mb, None when not run; inf when stopped at 10 s

    @property
    def growth(self) -> float:
        return self.large / self.small if self.small > 0 else 0.0


def _patterns_in(value: Any, name: str) -> Iterator[tuple[str, re.Pattern[Any]]]:
    if isinstance(value, re.Pattern):
        yield name, value
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value[:200]):
            if isinstance(item, re.Pattern | tuple | list):
                yield from _patterns_in(item, f"{name}[{i}]")
    elif isinstance(value, dict):
        for key, item in list(value.items())[:200]:
            if isinstance(item, re.Pattern):
                yield f"{name}[{key!r}]", item


def discover() -> dict[str, re.Pattern[Any]]:
    """Every compiled pattern reachable from a module of the package, by ``module.ATTRIBUTE``."""
    found: dict[str, re.Pattern[Any]] = {}
    for info in pkgutil.walk_packages(threadline.__path__, "threadline."):
        if info.name.endswith("migrations.env"):
            continue     # an Alembic script, run by Alembic only
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            for name, pattern in _patterns_in(value, f"{info.name.removeprefix('threadline.')}.{attribute}"):
                if all(pattern is not seen for seen in found.values()):
                    found[name] = pattern
    found.update(_runtime_patterns())
    return found


def _runtime_patterns() -> dict[str, re.Pattern[Any]]:
    """Patterns compiled from the knowledge base on first use (country and region names)."""
    from threadline.extract.entities import places
    from threadline.knowledge import load_kb

    _, pattern = places._names(load_kb())
    return {"extract.entities.places._names(kb)": pattern}


def _pieces(pattern: re.Pattern[Any]) -> tuple[list[str], list[str]]:
    """Characters the pattern names (literals and small classes) and its literal runs of 2+ characters."""
    chars: list[str] = []
    runs: list[str] = []
    source = pattern.pattern if isinstance(pattern.pattern, str) else pattern.pattern.decode("latin-1")

    def walk(items: Any) -> None:
        current: list[str] = []
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                current.append(chr(arg))
                chars.append(chr(arg))
                continue
            if len(current) >= 2:
                runs.append("".join(current))
            current = []
            if name == "IN":
                for kind, value in arg[:12]:
                    if str(kind) == "LITERAL":
                        chars.append(chr(value))
                    elif str(kind) == "RANGE":
                        chars.append(chr(value[0]))
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                walk(arg[2])
            elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
                walk(arg[-1])
            elif name == "BRANCH":
                for branch in arg[1][:40]:
                    walk(branch)
            elif name in ("ASSERT", "ASSERT_NOT"):
                walk(arg[1])
        if len(current) >= 2:
            runs.append("".join(current))

    with contextlib.suppress(re.error, RecursionError, TypeError, ValueError):   # an odd pattern: generic inputs
        walk(sre_parse.parse(source, pattern.flags))
    return list(dict.fromkeys(chars))[:24], sorted(set(runs), key=len, reverse=True)[:12]


def adversarial(pattern: re.Pattern[Any], size: int) -> dict[str, str]:
    """Named inputs of about ``size`` characters built from what the pattern looks for."""
    chars, runs = _pieces(pattern)
    units = {f"{c!r}*": c for c in dict.fromkeys([*chars, *_GENERIC])}
    units.update({f"{r!r}*": r for r in runs})
    for a, b in list(itertools.pairwise(chars))[:12]:
        units[f"{a + b!r}*"] = a + b
    for a in chars[:6]:
        units[f"{a + ' '!r}*"] = a + " "
        units[f"{a + '.'!r}*"] = a + "."
    out = {label: (unit * (size // len(unit) + 1))[:size - 1] + _FAIL[0] for label, unit in units.items()}
    rng = random.Random(18)
    alphabet = "".join(dict.fromkeys([*chars, *_GENERIC])) or _GENERIC
    out["random mix"] = "".join(rng.choice(alphabet) for _ in range(size))
    return out


def _scan(pattern: re.Pattern[Any], text: str) -> float:
    data: str | bytes = text if isinstance(pattern.pattern, str) else text.encode("latin-1", "replace")
    started = time.perf_counter()
    for _ in pattern.finditer(data):
        pass
    return time.perf_counter() - started


def measure(patterns: dict[str, re.Pattern[Any]], small: int, large: int) -> list[Case]:
    """The worst input of each pattern at the large size, with its time at the small size; a scan stopped at 2 s
    counts as infinite (the pattern is then looked at through the stages that use it, in :func:`through_stages`)."""
    worst: list[Case] = []
    for name, pattern in patterns.items():
        cases = []
        inputs_large = adversarial(pattern, large)
        for label, text in adversarial(pattern, small).items():
            case = Case(name, pattern, label)
            case.small = _scan(pattern, text)
            try:
                with stage("regex", name, seconds=0.5):
                    case.large = _scan(pattern, inputs_large[label])
            except LimitError:
                case.large = float("inf")
            cases.append(case)
        # The slowest at the large size, and the two next inputs that grow faster than linear.
        cases.sort(key=lambda c: -c.large)
        worst.append(cases[0])
        worst += [c for c in cases[1:] if c.growth > 20 and c.large > 0.01][:2]
    return worst


@dataclass(slots=True)
class StageRun:
    case: Case
    seconds: dict[str, float]
    stopped: str | None          # the one-line error of a stage past 10 s


def through_stages(case: Case, size: int) -> StageRun:
    """The case's input at ``size`` as a document through every stage that reads text: the text reader, the HTML
    reader (for the ingest patterns), then each analysis stage, each under a 10 s limit."""
    from threadline.extract.entities import extract_entities
    from threadline.extract.iocs import document_iocs
    from threadline.extract.sentences import split_sentences
    from threadline.extract.techniques import extract_techniques
    from threadline.ingest.html import html_document
    from threadline.ingest.pipeline import documents_from
    from threadline.ingest.source import Raw
    from threadline.knowledge import load_kb

    kb = load_kb()
    text = adversarial(case.pattern, size)[case.input]
    data = text.encode("utf-8")
    where = f"{case.name} {case.input}"
    seconds: dict[str, float] = {}

    def timed(name: str, work: Any) -> Any:
        started = time.perf_counter()
        try:
            with stage(name, where, seconds=10):
                return work()
        finally:
            seconds[name] = time.perf_counter() - started

    try:
        if case.name.startswith("ingest.html"):
            timed("read html", lambda: html_document(data, "page.html"))
        try:
            doc = timed("read text", lambda: documents_from(Raw(data, "hostile.txt"), "text")[0])
        except LimitError:
            raise
        except threadline.errors.ThreadlineError:
            doc = threadline.model.Document(text=text, source="hostile.txt")   # refused as binary: analyse as is
        sentences = timed("sentences", lambda: split_sentences(doc.text))
        timed("entities", lambda: extract_entities(doc.text, kb, sentences=sentences, document=doc))
        timed("techniques", lambda: extract_techniques(doc.text, sentences=sentences, kb=kb))
        timed("iocs", lambda: document_iocs(doc))
    except LimitError as exc:
        return StageRun(case, seconds, str(exc))
    return StageRun(case, seconds, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=30, help="cases run at the full size (default 30)")
    parser.add_argument("--size-mb", type=float, default=1.0, help="full input size in MB (default 1)")
    parser.add_argument("--only", default="", help="only patterns whose name contains this")
    args = parser.parse_args(argv)
    patterns = {n: p for n, p in discover().items() if args.only in n}
    started = time.perf_counter()
    cases = measure(patterns, 8 * KB, 64 * KB)
    cases.sort(key=lambda c: -c.large)
    full = int(args.size_mb * KB * KB)
    chosen = cases[:args.top]
    for case in chosen:
        if case.large == float("inf"):
            case.full = float("inf")     # already past 0.5 s at 64 KB: not worth 10 s more to say so
            continue
        text = adversarial(case.pattern, full)[case.input]
        try:
            with stage("regex", case.name, seconds=10):
                case.full = _scan(case.pattern, text)
        except LimitError:
            case.full = float("inf")
    print(f"{len(patterns)} patterns scanned with adversarial inputs in {time.perf_counter() - started:.0f} s; "
          f"the {len(chosen)} slowest at 64 KB, then at {args.size_mb:g} MB (finditer over the whole input):")
    print(f"{'pattern':<52} {'input':<20} {'8 KB s':>8} {'64 KB s':>9} {'growth':>6} {'full s':>7}")
    for case in chosen:
        print(f"{case.name[:52]:<52} {case.input[:20]:<20} {case.small:>8.4f} {_shown(case.large):>9} "
              f"{case.growth:>6.1f} {_shown(case.full):>7}")
    # What counts is the stages: a pattern may be slow under finditer yet used only where it is linear
    # (anchored at token starts, on one line, after a cheap pre-check).
    print(f"\nthe same inputs at {args.size_mb:g} MB through every stage that reads text (seconds):")
    runs = [through_stages(case, full) for case in chosen]
    names = list(dict.fromkeys(n for run in runs for n in run.seconds))
    print(f"{'pattern / input':<60} " + " ".join(f"{n:>10}" for n in names))
    for run in runs:
        label = f"{run.case.name} {run.case.input}"[:60]
        print(f"{label:<60} " + " ".join(f"{run.seconds[n]:>10.2f}" if n in run.seconds else f"{'':>10}"
                                         for n in names) + (f"  STOPPED: {run.stopped}" if run.stopped else ""))
    worst = max((t for run in runs for t in run.seconds.values()), default=0.0)
    stopped = [run for run in runs if run.stopped]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB
    print(f"worst stage at {args.size_mb:g} MB: {worst:.2f} s; {len(stopped)} stages over 10 s; "
          f"peak memory of the whole run {peak:.0f} MB")
    return 1 if stopped or peak > 1024 else 0


def _shown(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return "> limit" if seconds == float("inf") else f"{seconds:.3f}"


if __name__ == "__main__":
    sys.exit(main())
