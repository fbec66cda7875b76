"""Find knowledge-base names (actors, software, ATT&CK campaigns) in report text, precisely.

One Aho–Corasick automaton over every alias of the knowledge base, built once per knowledge base. Alias lists
are full of ordinary words ("Play", "Mask", "Tick", "Net", "Responder"), so each alias gets a *tier* that says how
much the text must look like a name before a hit counts:

- ``name``: not an English word ("Carbanak", "TA416"): any casing with at least one capital, or an exact spelling;
- ``word``: made of English words ("Mustang Panda", "Sandworm"): the text's casing must equal a known spelling;
- ``common``: a short or everyday English word, or one ATT&CK's own prose uses in lower case ("Play", "Mask",
  "RTM"), and any name only a MISP galaxy knows: exact casing *and* a cue right next to it ("Play ransomware",
  "a backdoor called Soldier").
Everyday-word names are also refused as the first word of a longer proper noun ("Equation Editor") or as a part of
something else ("the Watchdog module"). Generic words (``GENERIC``: "will", "victim", "Python", "August", vendor
names) never match, whatever a galaxy lists.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import ahocorasick

from threadline.knowledge import KnowledgeBase, derived

# Words that galaxies list as names but that reports use generically: never a named actor or software.
GENERIC = frozenset("""
apt threat actor threat actors actor actors hacker hackers hacking group unknown other unnamed actor victim victims
will threat intelligence ransomware stealer stealers infostealer backdoor loader rat trojan botnet wiper dropper
downloader keylogger webshell spyware rootkit exploit malware tool tools implant payload agent client server
admin update installer scanner miner cryptominer worm virus phishing spam bot bots proxy shell crypter locker
python php java javascript powershell vbscript golang perl ruby lua nim delphi windows linux android macos office
alibaba microsoft google apple amazon huawei cisco mcafee norton kaspersky defender wildfire quickheal symantec
one two three four five first second third final last next new old this that these those all any some none
january february march april may june july august september october november december monday tuesday wednesday
thursday friday saturday sunday desktop mailto extractor
""".split())
_GENERIC_PHRASES = frozenset({"threat intelligence", "info stealer", "information stealer", "remote access trojan",
                              "web shell", "unnamed actor", "unknown actor", "threat actor"})

# Words near a name that say it is software when a spelling is both an actor's and a tool's (``choose_kind``).
SOFTWARE_CUES = frozenset("""malware ransomware backdoor trojan rat loader stealer implant payload payloads tool
toolkit variant variants family sample samples dropper downloader wiper botnet rootkit webshell worm keylogger
spyware beacon binary module framework infostealer""".split())
# Cues a ``common`` name needs right next to it: "Play ransomware", "the Mask group", "a backdoor called Soldier".
STRONG_CUES = {
    "actor": frozenset("group groups actor actors apt team gang crew operators collective hackers".split()),
    "software": frozenset("""malware ransomware backdoor backdoors trojan rat loader stealer implant wiper botnet
rootkit worm spyware keylogger dropper downloader infostealer webshell""".split()),
    "campaign": frozenset("campaign operation activity intrusions".split()),
}
_NAMING = frozenset("called named dubbed as".split())
# Nouns after an everyday word that make it a feature of something else: the "Watchdog" module, a Ping command.
_PART_OF = frozenset("""module modules feature features function functions option options command commands component
plugin plugins method class mode setting settings parameter field key value file folder directory process service
thread routine""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_NEXT_CAPITALISED = re.compile(r"[ \t]+([A-Z][\w'’-]*)")


@dataclass(frozen=True, slots=True)
class Entry:
    """One alias spelling in the automaton."""

    kind: str                   # "actor" | "software" | "campaign"
    name: str                   # the alias as the knowledge base spells it
    tier: str                   # "name" | "word" | "common"
    key: str                    # entity key: G-id, S-id, C-id or "misp:<uuid>" / "misp-software:<uuid>"
    software_kind: str | None = None

    def __reduce__(self) -> tuple[type[Entry], tuple[str, str, str, str, str | None]]:
        # Unpickled through __init__: the frozen dataclasses' own __setstate__ walks fields() for each of the
        # lexicon's ~10,000 entries (15 ms of a cold start; this way 9 ms).
        return Entry, (self.kind, self.name, self.tier, self.key, self.software_kind)


@dataclass(frozen=True, slots=True)
class Hit:
    """A name found in the text, after the casing and cue checks."""

    start: int
    end: int
    text: str
    kind: str
    entries: tuple[Entry, ...]


@dataclass(slots=True)
class Lexicon:
    automaton: ahocorasick.Automaton
    entries: dict[str, list[Entry]] = field(default_factory=dict)   # folded key -> entries


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """English words (Webster's and GCIDE lists shipped by the ``english-words`` package), cached on disk: the
    pickled set loads in about half the time the package takes to read its lists."""
    return derived.cached(None, "english-words", frozenset, _read_english_words)


def _read_english_words() -> frozenset[str]:
    from english_words import get_english_words_set  # type: ignore[import-untyped]

    return frozenset(get_english_words_set(["web2", "gcide"], lower=True, alpha=True))


class WordList:
    """A sorted word list kept as one string and an array of offsets, searched by bisection. Its pickle is two
    flat buffers: a cold process reads it in about 2 ms, where the same words as a frozenset take 40 ms to
    unpickle for the few look-ups a report makes (:func:`is_english_word`)."""

    def __init__(self, words: frozenset[str]) -> None:
        ordered = sorted(w for w in words if "\n" not in w)
        self.text = "\n".join(ordered)
        self.starts = array("I")      # where each word starts in text; the next start (or the end) bounds it
        position = 0
        for word in ordered:
            self.starts.append(position)
            position += len(word) + 1

    def __len__(self) -> int:
        return len(self.starts)

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        starts, text = self.starts, self.text
        low, high = 0, len(starts)
        while low < high:
            middle = (low + high) // 2
            end = starts[middle + 1] - 1 if middle + 1 < len(starts) else len(text)
            found = text[starts[middle]:end]
            if found < word:
                low = middle + 1
            elif found > word:
                high = middle
            else:
                return True
        return False


@lru_cache(maxsize=1)
def english_word_list() -> WordList:
    """:func:`english_words` for look-ups at analysis time (the lexicon's build needs the set itself)."""
    return derived.cached(None, "english-word-list", WordList, lambda: WordList(english_words()))


def is_english_word(word: str) -> bool:
    """Whether a lower-case word is in the English word lists (Webster's and GCIDE)."""
    return word in english_word_list()


_SPACES = str.maketrans({"\n": " ", "\t": " ", "\r": " ", "\u00a0": " "})


def fold(text: str) -> str:
    """Lower-case and strip diacritics character by character, so that offsets are preserved."""
    # "Cobalt\nStrike" is "Cobalt Strike": _SPACES as four replacements, each a fast scan (a translation table
    # looked every character up in a dictionary: most of the folding of a report)
    text = text.replace("\n", " ").replace("\t", " ").replace("\r", " ").replace("\u00a0", " ")
    if text.isascii():
        return text.lower()
    table: dict[int, str] = {}
    for ch in set(text):
        low = ch.lower()
        if len(low) != 1:
            low = ch        # "İ" lower-cases to two characters: keep it, offsets must hold
        if not low.isascii():
            low = unicodedata.normalize("NFKD", low)[0]
        table[ord(ch)] = low
    return text.translate(table)


def _prose_vocabulary(kb: KnowledgeBase) -> frozenset[str]:
    """Lower-case words ATT&CK's own descriptions use: a name spelled like one of them is an everyday word here."""
    words: set[str] = set()
    for table in (kb.attack.techniques, kb.attack.groups, kb.attack.software, kb.attack.mitigations):
        for obj in table.values():
            words.update(re.findall(r"(?<![\w./\\-])[a-z]{2,}(?![\w./\\-])", obj.description))
    return frozenset(words)


def tier_of(name: str, vocabulary: frozenset[str]) -> str | None:
    """How strictly a name must be matched; None when it must never match."""
    low = name.lower().strip()
    if low in GENERIC or low in _GENERIC_PHRASES or len(re.sub(r"[^0-9a-z]", "", low)) < 2:
        return None
    tokens = _WORD.findall(name)
    has_other = bool(re.search(r"[0-9]", name))
    english = english_words()
    if not tokens or has_other:
        return "name" if len(low) >= 3 else None
    if all(t.lower() in GENERIC for t in tokens):
        return None
    is_word = all(t.lower() in english for t in tokens)
    if len(tokens) == 1:
        tok = tokens[0].lower()
        if len(tok) <= 3 or (is_word and (len(tok) <= 5 or tok in vocabulary)):
            return "common"
    return "word" if is_word else "name"


def _variants(name: str) -> set[str]:
    """Spellings of one alias as reports write them: "APT 28" / "APT-28" / "APT28"."""
    out = {name}
    m = re.fullmatch(r"([A-Za-z]+)[ -]?(\d+)", name)
    if m:
        out |= {f"{m.group(1)}{m.group(2)}", f"{m.group(1)} {m.group(2)}", f"{m.group(1)}-{m.group(2)}"}
    return out


_lexicons: dict[int, tuple[KnowledgeBase, Lexicon]] = {}


def lexicon(kb: KnowledgeBase) -> Lexicon:
    """The automaton for a knowledge base (built once, 1–2 s, then cached for the process and on disk beside the
    knowledge-base index: the automaton pickles whole)."""
    cached = _lexicons.get(id(kb))
    if cached is not None and cached[0] is kb:
        return cached[1]
    lex = derived.cached(kb, "lexicon", Lexicon, lambda: _build(kb))
    _lexicons[id(kb)] = (kb, lex)
    return lex


def _build(kb: KnowledgeBase) -> Lexicon:
    vocabulary = _prose_vocabulary(kb)
    entries: dict[str, list[Entry]] = defaultdict(list)

    tiers: dict[str, str | None] = {}

    def add(kind: str, name: str, key: str, software_kind: str | None = None, *, strict: bool = False) -> None:
        if name not in tiers:
            tiers[name] = tier_of(name, vocabulary)
        tier = tiers[name]
        if tier is None or "(" in name:
            return
        if strict:
            tier = "common"      # a name only a MISP galaxy knows (vendors and products too): ask for a cue
        for variant in _variants(name):
            entry = Entry(kind, variant, tier, key, software_kind)
            bucket = entries[fold(variant)]
            if entry not in bucket:
                bucket.append(entry)

    actor_keys = [g.attack_id for g in kb.attack.groups.values()]
    actor_keys += [k for k in map(kb.entity_of_misp, kb.galaxies.threat_actors) if k and k not in actor_keys]
    for entity in dict.fromkeys(actor_keys):
        for assertion in kb.actors.for_entity(entity):
            add("actor", assertion.name, entity)
    for software in kb.attack.software.values():
        for assertion in kb.software_names.for_entity(software.attack_id):
            add("software", assertion.name, software.attack_id, software.kind)
    known = {fold(e.name) for bucket in entries.values() for e in bucket}     # ATT&CK and actor names win
    for named in kb.galaxies.software:
        if named.code and named.code in kb.by_attack_id:
            continue
        if fold(named.value) in known or named.value.lower().startswith("unidentified"):
            continue
        kind = "tool" if named.galaxy in ("tool", "mitre-tool") else "malware"
        add("software", named.value, f"misp-software:{named.uuid}", kind, strict=True)
    for campaign in kb.attack.campaigns.values():
        for alias in campaign.aliases:
            if not re.fullmatch(r"C\d{4}", alias):
                add("campaign", alias, campaign.attack_id)

    automaton = ahocorasick.Automaton()
    for key in entries:
        automaton.add_word(key, key)
    automaton.make_automaton()
    return Lexicon(automaton, dict(entries))


def _bounded(text: str, start: int, end: int) -> bool:
    """A whole word, not part of a longer token, a domain, a path or an e-mail address."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_./\\@"):
        return False
    if end < len(text) and (text[end].isalnum() or text[end] in "_\\@"):
        return False
    return not (end + 1 < len(text) and text[end] in "./" and text[end + 1].isalnum())


def _neighbours(text: str, start: int, end: int, span: int = 3) -> set[str]:
    before = _WORD.findall(text[max(0, start - 40):start])[-span:]
    after = _WORD.findall(text[end:end + 40])[:span]
    return {w.lower().strip("'’") for w in (*before, *after)}


def _looks_like_a_name(text: str, start: int, end: int, entry: Entry) -> bool:
    """Context checks for everyday-word names: not the first word of a longer proper noun ("Equation Editor",
    "Cobalt Illusion"), and, for the ``common`` tier, a cue right next to it."""
    if entry.tier == "name":
        return True
    single = " " not in entry.name
    following = _NEXT_CAPITALISED.match(text, end)
    cues = STRONG_CUES.get(entry.kind, frozenset())
    if single and following and following.group(1).lower() not in cues:
        return False
    after = _WORD.findall(text[end:end + 30])[:1]
    if after and after[0].lower() in _PART_OF:
        return False
    if entry.tier == "word" and not (entry.kind == "software" and single and _opens_sentence(text, start)
                                     and not _a_name_elsewhere(text, start, end)):
        return True
    # The common tier, and a software name that is an everyday word opening a sentence with no other use as a
    # name in the text ("Soldier accounts were phished" is not SysUpdate's alias): its capital is the sentence's,
    # so it needs a cue. Group names are left alone: CTI prose opens sentences with them as subjects all the time.
    before = [w.lower() for w in _WORD.findall(text[max(0, start - 30):start])[-2:]]
    if before and (before[-1] in _NAMING or before[-1] in cues):
        return True         # "a backdoor called Soldier", "the threat group Tick"
    return bool(after and after[0].lower() in cues)


_OPENERS = " \t\r\"'“‘«([*•·-–—#>|"


def _opens_sentence(text: str, start: int) -> bool:
    """Whether a word starts its text, a line (a heading, a bullet, a table cell) or a sentence."""
    i = start - 1
    while i >= 0 and text[i] in _OPENERS:
        i -= 1
    return i < 0 or text[i] in ".!?:;\n\u2029"


def _a_name_elsewhere(text: str, start: int, end: int) -> bool:
    """Whether the same capitalised spelling occurs in the text where only a name would be capitalised."""
    found = text[start:end]
    at = text.find(found)
    while at >= 0:
        if at != start and _bounded(text, at, at + len(found)) and not _opens_sentence(text, at):
            return True
        at = text.find(found, at + 1)
    return False


def _casing_ok(found: str, entry: Entry) -> bool:
    if entry.tier == "name":
        return found == entry.name or any(ch.isupper() for ch in found)
    return found == entry.name and any(ch.isupper() for ch in found)


def find_names(text: str, kb: KnowledgeBase) -> list[Hit]:
    """Non-overlapping name hits (longest first), each with every entry its spelling matched."""
    lex = lexicon(kb)
    folded = fold(text)
    candidates: list[Hit] = []
    for end_index, key in lex.automaton.iter(folded):
        end = end_index + 1
        start = end - len(key)
        if not _bounded(text, start, end):
            continue
        found = text[start:end]
        # the casing check compares the spelling with its line breaks and no-break spaces made plain, as the
        # automaton matched it: "Cobalt\u00a0Strike" is the tool, not the actor alias "Cobalt" beside a word
        spelled = found.translate(_SPACES)
        ok = [e for e in lex.entries[key] if _casing_ok(spelled, e) and _looks_like_a_name(text, start, end, e)]
        if ok:
            candidates.append(Hit(start, end, found, ok[0].kind, tuple(ok)))
    candidates.sort(key=lambda h: (h.start, -(h.end - h.start)))
    out: list[Hit] = []
    last_end = -1
    for hit in candidates:
        if hit.start >= last_end:
            out.append(hit)
            last_end = hit.end
    return out


def choose_kind(text: str, hit: Hit, kb: KnowledgeBase | None = None) -> str:
    """Actor, software or campaign for a spelling several kinds share: the kind whose ATT&CK object has it as its
    main name ("Cobalt Strike" is software, though MISP lists it as a name of the Cobalt Group), else the words
    next to it."""
    kinds = {e.kind for e in hit.entries}
    if len(kinds) == 1:
        return next(iter(kinds))
    if kb is not None:
        key = fold(hit.text)
        main = {e.kind for e in hit.entries
                if (obj := kb.by_attack_id.get(e.key)) is not None and fold(obj.name) == key}
        if len(main) == 1:
            return next(iter(main))
        # ATT&CK gives some names to a group and to its malware alike ("AppleJeus"): the words next to it decide
    near = _neighbours(text, hit.start, hit.end, span=2)
    if "software" in kinds and near & SOFTWARE_CUES:
        return "software"
    if "actor" in kinds:
        return "actor"
    return "campaign" if "campaign" in kinds else "software"
