"""System utilities named in a sentence (ntdsutil, vssadmin, wmic...): the technique ATT&CK's own examples use them for.

Reports often say only which built-in tool an actor ran ("used built-in tools, such as netsh, wmic and ntdsutil");
an analyst maps the tool to what it is used for (ntdsutil: T1003.003 NTDS, wmic: T1047 WMI). The table is not
hand-picked: it is mined from the ATT&CK data the knowledge base ships, by :func:`mine_tool_table`.

- Candidate names: every ``name.exe`` written in at least two ATT&CK texts, and the one-word names and aliases of
  ATT&CK software of type *tool* (``ntdsutil`` is no ATT&CK software, but its procedure examples name it).
- For each candidate, the ATT&CK texts naming it (procedure examples, i.e. ``uses`` relations with a description,
  and technique descriptions), counted by the technique they are labelled with.
- A name enters the table when one technique holds at least ``min_share`` of those texts and at least
  ``min_examples`` of them: ntdsutil 8 of 8 -> T1003.003, vssadmin 25 of 31 -> T1490, wmic 32 of 54 -> T1047.
  Names used for many things (netsh, certutil, psexec: none above half) and English words ("update", "code")
  are left out by the same rule.

The table ships as ``techniques-tools.json`` beside the models (``threadline train techniques`` writes it; a test
checks it equals what this code mines from the shipped ATT&CK bundle); a sentence naming a listed utility supports
its technique, with that sentence as evidence, unless it denies or imagines the use (the extractor's silent rows).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from threadline.knowledge.attack import plain_text
from threadline.knowledge.base import KnowledgeBase

TOOLS_FILE = "techniques-tools.json"
# Chosen on AnnoCTR train (bench/techniques_tools.py; never on dev): see the module docstring for what they mean.
MIN_EXAMPLES = 3
MIN_SHARE = 0.5
# A name written as a file ("rundll32.exe") in this many ATT&CK texts is a candidate utility.
MIN_EXE_TEXTS = 2

_EXE = re.compile(r"(?<![\w.-])([a-z][\w-]{1,30})\.exe(?![\w-])", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z][\w-]{1,30}(?:\.exe)?")
# Words of a text once hyphens are spaces; a name written as a file ("ntdsutil.exe", also at the end of a path) is
# the word "ntdsutil".
_SEPARATORS = re.compile(r"[-_/]+")
_WORDS = re.compile(r"(?<![\w.])([a-z0-9][\w]{0,30})(?:\.exe)?(?!\w)")
MIN_NAME_CHARS = 5
# A name cut at a function word is no phrase of its own ("pass the" of "Pass the Hash", "data from local").
_GLUE = frozenset({"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "via",
                   "with"})


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """A utility name and the technique most ATT&CK texts naming it are labelled with."""

    name: str                # lower case, without ".exe"
    technique: str
    examples: int            # ATT&CK texts naming the utility that have this technique
    texts: int               # ATT&CK texts naming the utility

    @property
    def share(self) -> float:
        return self.examples / self.texts


def attack_texts(kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(text, technique id) of every ATT&CK procedure example and technique description, links kept as their
    text ("[netsh](https://attack.mitre.org/software/S0108) can ..." reads "netsh can ..."). A link to a technique
    page is a text of its own, labelled with the linked technique: "[Spearphishing Attachment](.../T1566/001)" in
    the description of T1036.002 names T1566.001, not T1036.002."""
    out = []

    def add(raw: str, tid: str) -> None:
        for link in _TECHNIQUE_LINK.finditer(raw):
            linked = link.group(2) + (f".{link.group(3)}" if link.group(3) else "")
            out.append((link.group(1), kb.current_technique_id(linked)))
        out.append((plain_text(_TECHNIQUE_LINK.sub(" ", raw)), tid))

    for rel in kb.attack.relationships:
        tech = kb.attack.techniques.get(rel.target)
        if rel.type == "uses" and tech is not None and rel.description:
            add(rel.description, tech.attack_id)
    for tech in kb.attack.techniques.values():
        if tech.description:
            add(tech.description, tech.attack_id)
    return out


def technique_name_phrases(kb: KnowledgeBase) -> set[str]:
    """Technique names as phrases ("mark of the web bypass"), and each name of three words or more without its first
    or its last word ("mark of the web": reports write "bypass the Mark-of-the-Web"); sub-techniques by their own
    name."""
    out: set[str] = set()
    for tech in kb.attack.techniques.values():
        words = _WORDS.findall(_SEPARATORS.sub(" ", tech.name.lower()))
        # a cut name keeps two words at least: one left over ("relationship" of "Trust Relationship", "template")
        # is an ordinary word; a one-word name ("Keylogging", "Rootkit") is kept whole
        for part in (words, *([words[1:], words[:-1]] if len(words) > 2 else [])):
            if len(" ".join(part)) >= MIN_NAME_CHARS and part[0] not in _GLUE and part[-1] not in _GLUE:
                out.add(" ".join(part))
    return out


def mine_tool_table(kb: KnowledgeBase, *, min_examples: int = MIN_EXAMPLES,
                    min_share: float = MIN_SHARE, names: bool = True) -> list[ToolEntry]:
    """The utility -> technique table (sorted by name), derived from the knowledge base's ATT&CK data alone."""
    texts = attack_texts(kb)
    exe: Counter[str] = Counter()
    for text, _ in texts:
        exe.update({m.lower() for m in _EXE.findall(text)})
    candidates = {name for name, n in exe.items() if n >= MIN_EXE_TEXTS}
    for sw in kb.attack.software.values():
        if sw.kind == "tool":
            candidates.update(" ".join(_WORDS.findall(_SEPARATORS.sub(" ", n.lower())))
                              for n in [sw.name, *sw.aliases] if _NAME.fullmatch(n) and len(n) >= 3)
    if names:
        candidates |= technique_name_phrases(kb)
    by_first: dict[str, list[list[str]]] = {}
    for phrase in candidates:
        words = phrase.split(" ")
        by_first.setdefault(words[0], []).append(words)
    named: dict[str, Counter[str]] = {}
    for text, tid in texts:
        words = _WORDS.findall(_SEPARATORS.sub(" ", text.lower()))
        seen: set[str] = set()
        for i, word in enumerate(words):
            for parts in by_first.get(word, ()):
                if words[i:i + len(parts)] == parts:
                    seen.add(" ".join(parts))
        for name in seen:
            named.setdefault(name, Counter())[tid] += 1
    table = []
    for name, counts in sorted(named.items()):
        total = sum(counts.values())
        # most_common breaks ties by first insertion, which follows the bundle's order: sort for a stable choice
        tid, n = min(counts.items(), key=lambda item: (-item[1], item[0]))
        if n >= min_examples and n / total >= min_share:
            table.append(ToolEntry(name, tid, n, total))
    return table


def table_json(info: dict[str, Any], key: str, rows: list[dict[str, Any]]) -> str:
    """A shipped table as JSON with one row per line (reviewable in a diff), deterministic."""
    lines = ",\n".join(" " + json.dumps(r, ensure_ascii=False) for r in rows)
    return f'{{"info": {json.dumps(info, ensure_ascii=False, sort_keys=True)},\n"{key}": [\n{lines}\n]}}\n'


def save_tool_table(path: Path, table: list[ToolEntry], info: dict[str, Any]) -> None:
    rows = [{"name": e.name, "technique": e.technique, "examples": e.examples, "texts": e.texts} for e in table]
    path.write_text(table_json(info, "tools", rows), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class ToolMention:
    entry: ToolEntry
    start: int
    end: int


_TOKEN = re.compile(r"[^\W_]+")
_SPLIT = re.compile(r"([^\W_]+)")       # _TOKEN, kept by re.split
_TECHNIQUE_LINK = re.compile(r"\[([^\]]+)\]\(https?://attack\.mitre\.org/techniques/(T\d{4})(?:/(\d{3}))?/?\)")
_GAP = re.compile(r"[\s\-_]+")
_EXE_TAIL = re.compile(r"\.exe", re.IGNORECASE)


class NameIndex:
    """Finds normalised names ("mark of the web", "wmic") in text: whole words in any case, any run of spaces,
    hyphens or underscores between words, an optional plural on the last word, and ``.exe`` after a one-word name.
    Names are indexed by their first word, so a 5,000-word report is one pass over its words (one big regex
    alternation of a few hundred names was ten times slower than the models)."""

    def __init__(self, names: list[str], *, after_dot: bool) -> None:
        self._first: dict[str, list[list[str]]] = {}
        for name in sorted(names, key=lambda n: (-len(n.split(" ")), -len(n), n)):   # longest first
            words = name.split(" ")
            self._first.setdefault(words[0], []).append(words)
        self._known = set(names)
        self._after_dot = after_dot      # ".NET" holds the phrase "net"; "x.wmic" is no utility
        # words that can start a name: a first word, or its plural ("s", "es"): what _stems takes back to it
        self._starts = frozenset(self._first) | {f"{w}{e}" for w in self._first for e in ("s", "es")}
        # per first word, its names (longest first) with the forms each word may take (itself or a plural), and
        # per form of a second word the names that may go on with it (the one-word names kept, in their place):
        # "system" starts 40 technique names, and the next word rules out all but one or two of them
        self._forms: dict[str, list[_Name]] = {}
        self._by_next: dict[str, dict[str, list[_Name]]] = {}
        for first, group in self._first.items():
            forms: list[_Name] = [(parts, [(w, w + "s", w + "es") for w in parts]) for parts in group]
            seconds = {form for parts, each in forms if len(parts) > 1 for form in each[1]}
            self._by_next[first] = {second: [(parts, each) for parts, each in forms
                                              if len(parts) == 1 or second in each[1]] for second in seconds}
            self._forms[first] = [(parts, each) for parts, each in forms if len(parts) == 1]

    def find(self, text: str) -> Iterator[tuple[str, int, int]]:
        words = _words(text)
        hits = self._starts.intersection(words.lowered)
        if not hits:
            return          # most texts hold few names: the words are looked at once, in one set operation
        after = 0
        for i in [i for i, word in enumerate(words.lowered) if word in hits]:
            if i < after:
                continue    # inside the name found last
            found = self._match(text, words, i)
            if found is not None:
                name, used, end = found
                yield name, words.starts[i], end
                after = i + used

    def _match(self, text: str, words: _Words, i: int) -> tuple[str, int, int] | None:
        start = words.starts[i]
        before = text[start - 1] if start else " "
        if before.isalnum() or before in "-_" or (before == "." and not self._after_dot):
            return None
        lowered, starts, ends = words.lowered, words.starts, words.ends
        following = lowered[i + 1] if i + 1 < len(lowered) else ""
        for stem in _stems(lowered[i]):
            if stem not in self._forms:
                continue
            for name, forms in self._by_next[stem].get(following, self._forms[stem]):
                size = len(name)
                if i + size > len(lowered):
                    continue
                # the words first (a dictionary-cheap test that rules out most names), then what lies between them
                if size > 1 and not (all(lowered[i + k] in forms[k] for k in range(1, size))
                                     and all(_GAP.fullmatch(text, ends[i + k - 1], starts[i + k])
                                             for k in range(1, size))):
                    continue
                last = i + size - 1
                if lowered[last] not in forms[-1]:
                    continue
                end = ends[last]
                if size == 1 and (tail := _EXE_TAIL.match(text, end)) is not None:
                    end = tail.end()
                after = text[end] if end < len(text) else " "
                if not (after.isalnum() or after in "-_"):
                    return " ".join(name), size, end
        return None


_Name = tuple[list[str], list[tuple[str, str, str]]]     # a name's words, and the forms each may take


@dataclass(frozen=True, slots=True)
class _Words:
    """A text's words (:data:`_TOKEN`), lower-cased, with where each starts and ends."""

    text: str
    lowered: list[str]
    starts: list[int]
    ends: list[int]


_last_words: list[_Words] = []     # the last text's words: the tool and the phrase tables read the same text


def _words(text: str) -> _Words:
    """The words of ``text``, split once in C (one split, one lower-casing, one running sum of the pieces'
    lengths: a Python step per word was most of the look-up of both tables)."""
    last = _last_words[0] if _last_words else None
    if last is not None and last.text is text:
        return last
    pieces = _SPLIT.split(text)                 # separator, word, separator, word, ..., separator
    bounds = list(accumulate(map(len, pieces)))
    found = _Words(text, list(map(str.lower, pieces[1::2])), bounds[0:-1:2], bounds[1::2])
    _last_words[:] = [found]
    return found


def _stems(word: str) -> list[str]:
    """The word, and what it is the plural of ("ransomwares", "boxes")."""
    return [word] + [word[:-n] for n in (1, 2) if word.endswith("es"[2 - n:]) and len(word) > n + 2]


class ToolMatcher:
    """Finds the table's names in text (:class:`NameIndex`): a utility with or without ".exe", a technique name."""

    def __init__(self, table: list[ToolEntry]) -> None:
        self._by_name = {e.name: e for e in table}
        self._index = NameIndex(list(self._by_name), after_dot=False)

    def __len__(self) -> int:
        return len(self._by_name)

    def find(self, text: str) -> Iterator[ToolMention]:
        for name, start, end in self._index.find(text):
            yield ToolMention(self._by_name[name], start, end)


def load_tool_table(path: Path) -> list[ToolEntry]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [ToolEntry(str(r["name"]), str(r["technique"]), int(r["examples"]), int(r["texts"])) for r in raw["tools"]]


@lru_cache(maxsize=4)
def shipped_tools(path: str) -> ToolMatcher:
    """The matcher of a shipped table (empty when the file is absent: an older model directory)."""
    file = Path(path)
    return ToolMatcher(load_tool_table(file) if file.is_file() else [])
