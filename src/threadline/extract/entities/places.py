"""Victimology in report text: targeted sectors (MISP sector galaxy), countries (ISO 3166) and regions (UN M49).

Reports name sectors by their people and firms ("telecom companies", "two Hong Kong universities"), countries by
name, abbreviation ("the U.S.") or demonym ("the Myanmar government", "Chinese APT groups") and regions the way
analysts do ("Southeast Asia"). A demonym counts only next to a target noun (a victim country) or an actor noun
(where the actor is said to come from); a country or a bare sector word is "targeted" only after a targeting verb
in its sentence ("intrusions against the Myanmar government", not "the U.S. government warns that ..."); a sector
phrase that names a collective ("telecom companies", "the energy sector") always counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from threadline.extract.sentences import sentence_at
from threadline.knowledge import KnowledgeBase
from threadline.limits import check
from threadline.model import Sentence

# (display name, MISP sector value or None, word pattern). The display name is the analysts' usual name.
_SECTORS: tuple[tuple[str, str | None, str], ...] = (
    ("Telecommunications", "Telecoms", r"telecoms?|telecommunications?|telcos?|mobile (?:network )?operators"),
    ("Government", "Government, Administration",
     r"governments?|government (?:agenc(?:y|ies)|entities|bodies|departments)|ministr(?:y|ies)|public sector"),
    ("Diplomacy", "Diplomacy", r"embass(?:y|ies)|diplomat(?:s|ic)|foreign affairs"),
    ("Defense", "Defense", r"defen[cs]e (?:contractors?|industry|industrial base|sector|companies|firms)"),
    ("Military", "Military", r"military|armed forces"),
    ("Higher education", "Academia - University", r"universit(?:y|ies)|academi[ac]|academic institutions"),
    ("Education", "Education", r"schools|education(?:al)? (?:sector|institutions)"),
    ("Research", "Research - Innovation", r"research (?:institutes?|institutions|centers|centres|organi[sz]ations)"),
    ("Think tanks", "Think Tanks", r"think[- ]tanks?"),
    ("Finance", "Finance", r"banks|banking|financial (?:sector|institutions|services|organi[sz]ations)|fintech"),
    ("Healthcare", "Health", r"healthcare|health ?care|hospitals|medical (?:sector|organi[sz]ations)"),
    ("Pharmaceutical", "Pharmacy", r"pharmaceuticals?"),
    ("Energy", "Energy", r"energy|electric (?:utilities|grid)|power (?:grid|utilities)|utility companies"),
    ("Oil and gas", "Oil", r"oil and gas|petroleum"),
    ("Water", "Water", r"water (?:utilities|treatment|sector|systems|facilities)|wastewater"),
    ("Manufacturing", "Manufacturing", r"manufactur(?:ing|ers)"),
    ("Aerospace", "Aerospace", r"aerospace"),
    ("Aviation", "Civil Aviation", r"aviation|airlines?|airports?"),
    ("Transportation", "Transport", r"transportation|transport sector|railways?"),
    ("Logistics", "Logistic", r"logistics"),
    ("Maritime", "Maritime", r"maritime|shipping companies"),
    ("Media", "News - Media", r"media (?:outlets|organi[sz]ations|companies)|news (?:outlets|organi[sz]ations)"),
    ("Journalists", "Journalist", r"journalists"),
    ("NGOs", "NGO", r"NGOs?|non-governmental organi[sz]ations"),
    ("Non-profit", "Non-profit organisation", r"non-?profits?|charities"),
    ("Technology", "Technology",
     r"technology (?:companies|firms|sector)|tech companies|software (?:companies|vendors)"),
    ("IT services", "Managed Services Provider", r"managed service providers?|MSPs|IT service providers?"),
    ("Critical infrastructure", "Infrastructure", r"critical infrastructure"),
    ("Legal", "Legal", r"law firms|legal sector"),
    ("Hospitality", "Hospitality", r"hospitality|hotels"),
    ("Retail", "Retail", r"retail(?:ers)?"),
    ("Semiconductors", "Semi-conductors", r"semiconductors?"),
    ("Insurance", "Insurance", r"insurance"),
    ("Chemical", "Chemical", r"chemical (?:sector|industry|companies)"),
    ("Automotive", "Automotive", r"automotive"),
    ("Mining", "Mining", r"mining (?:companies|sector|industry)"),
    ("Political parties", "Political party", r"political parties"),
    ("Activists", "Activists", r"activists"),
    ("Dissidents", "Dissidents", r"dissidents"),
    ("Religious organisations", None, r"religious (?:organi[sz]ations|groups|institutions|leaders)|churches"),
    ("Cryptocurrency", None, r"cryptocurrency (?:exchanges|companies|firms)"),
)
_COLLECTIVE = r"(?:\s+(?:companies|firms|sector|sectors|industry|industries|organi[sz]ations|providers|operators|" \
              r"institutions|entities|agencies|employees|networks))?"
# Sectors the MISP sector galaxy has no value for: attribution adds their names to its matching vocabulary.
SECTORS_OUTSIDE_MISP = tuple(name for name, misp, _ in _SECTORS if misp is None)
_SECTOR_RE = re.compile("|".join(f"(?P<s{i}>\\b(?:{p}){_COLLECTIVE}\\b)" for i, (_, _, p) in enumerate(_SECTORS)),
                        re.IGNORECASE)
TARGETING = re.compile(r"\b(?:target\w*|attack\w*|against|victim\w*|compromis\w*|breach\w*|intru\w*|infect\w*|"
                       r"lur\w*|spy\w*|espionage|focus\w*|aimed|hit|struck|affect\w*|impact\w*|infiltrat\w*|"
                       r"campaign\w*|phish\w*|went after|go(?:es|ing)? after|broke into|break into)\b", re.IGNORECASE)

# Regions as analysts write them -> (display name, UN M49 code or None).
_REGIONS: dict[str, tuple[str, str | None]] = {
    "Southeast Asia": ("Southeast Asia", "035"), "South-East Asia": ("Southeast Asia", "035"),
    "South East Asia": ("Southeast Asia", "035"), "South-eastern Asia": ("Southeast Asia", "035"),
    "East Asia": ("Eastern Asia", "030"), "South Asia": ("Southern Asia", "034"),
    "West Asia": ("Western Asia", "145"), "Middle East": ("Middle East", None),
    "North America": ("North America", "003"), "Latin America": ("Latin America and the Caribbean", "419"),
    "Central Europe": ("Central Europe", None), "Asia-Pacific": ("Asia-Pacific", None), "APAC": ("Asia-Pacific", None),
    "Asia Pacific": ("Asia-Pacific", None), "EMEA": ("EMEA", None), "Nordics": ("Nordic countries", None),
    "Scandinavia": ("Nordic countries", None), "Balkans": ("Balkans", None), "Baltics": ("Baltic states", None),
    "Baltic states": ("Baltic states", None), "Gulf states": ("Gulf states", None),
    "North Africa": ("Northern Africa", "015"), "West Africa": ("Western Africa", "011"),
    "East Africa": ("Eastern Africa", "014"), "Central America": ("Central America", "013"),
}
_COUNTRY_EXTRA: dict[str, str] = {
    "U.S.": "US", "U.S.A.": "US", "USA": "US", "United States": "US", "America": "US", "U.K.": "GB", "UK": "GB",
    "Britain": "GB", "Great Britain": "GB", "England": "GB", "DPRK": "KP", "Republic of Korea": "KR",
    "Russian Federation": "RU", "Czech Republic": "CZ", "Czechia": "CZ", "UAE": "AE", "Türkiye": "TR",
    "Holy See": "VA", "Vatican City": "VA", "Burma": "MM", "PRC": "CN", "Mainland China": "CN",
}
# Demonyms -> ISO code: only used next to a target or an actor noun.
DEMONYMS: dict[str, str] = {
    "American": "US", "British": "GB", "Chinese": "CN", "Russian": "RU", "Iranian": "IR", "North Korean": "KP",
    "South Korean": "KR", "Korean": "KR", "Japanese": "JP", "Taiwanese": "TW", "Vietnamese": "VN", "Indian": "IN",
    "Pakistani": "PK", "Israeli": "IL", "Ukrainian": "UA", "Belarusian": "BY", "German": "DE", "French": "FR",
    "Italian": "IT", "Spanish": "ES", "Polish": "PL", "Dutch": "NL", "Turkish": "TR", "Saudi": "SA",
    "Emirati": "AE", "Egyptian": "EG", "Lebanese": "LB", "Syrian": "SY", "Iraqi": "IQ", "Afghan": "AF",
    "Kazakh": "KZ", "Mongolian": "MN", "Thai": "TH", "Malaysian": "MY", "Indonesian": "ID", "Filipino": "PH",
    "Singaporean": "SG", "Australian": "AU", "Canadian": "CA", "Mexican": "MX", "Brazilian": "BR",
    "Colombian": "CO", "Georgian": "GE", "Armenian": "AM", "Azerbaijani": "AZ", "Tibetan": "CN", "Myanmar": "MM",
    "Burmese": "MM", "Cambodian": "KH", "Laotian": "LA", "Nepalese": "NP", "Bangladeshi": "BD", "Sri Lankan": "LK",
    "Kuwaiti": "KW", "Qatari": "QA", "Jordanian": "JO", "Palestinian": "PS", "Czech": "CZ", "Swedish": "SE",
    "Norwegian": "NO", "Finnish": "FI", "Danish": "DK", "Estonian": "EE", "Latvian": "LV", "Lithuanian": "LT",
    "Romanian": "RO", "Hungarian": "HU", "Serbian": "RS", "Greek": "GR", "Nigerian": "NG", "Kenyan": "KE",
    "South African": "ZA", "Hong Kong": "HK", "Austrian": "AT", "Bahraini": "BH", "Belgian": "BE",
    "Bulgarian": "BG", "Ethiopian": "ET", "Irish": "IE", "Kyrgyz": "KG", "Libyan": "LY", "Moldovan": "MD",
    "Moroccan": "MA", "Omani": "OM", "Portuguese": "PT", "Slovak": "SK", "Swiss": "CH", "Tajik": "TJ",
    "Turkmen": "TM", "Uyghur": "CN", "Uzbek": "UZ", "Venezuelan": "VE", "Yemeni": "YE",
}
_TARGET_NOUNS = r"government|ministr(?:y|ies)|military|army|navy|embass(?:y|ies)|companies|firms|organi[sz]ations|" \
                r"entities|users|citizens|victims|targets|banks|universities|officials|dissidents|journalists|" \
                r"activists|telecoms?|agencies|institutions|diplomats|networks|businesses|critical infrastructure"
_ACTOR_NOUNS = r"APTs?|threat actors?|state[- ]sponsored|hackers|(?:threat |hacking |APT )?groups?|nation[- ]state|" \
               r"government[- ]backed|intelligence services|cyber ?espionage|operators|actors"
_DEMONYM_RE = re.compile(
    r"\b(?P<dem>" + "|".join(sorted(map(re.escape, DEMONYMS), key=len, reverse=True)) + r")\s+"
    r"(?:(?P<actor>" + _ACTOR_NOUNS + r")|(?P<target>" + _TARGET_NOUNS + r"))\b")
# Country names that are also everyday words, people or US states: they count only as a target or an origin.
_AMBIGUOUS_COUNTRIES = frozenset({"Chad", "Jordan", "Georgia", "Jersey", "Turkey", "Guinea", "Niger", "Dominica"})
_ORIGIN_SUFFIX = re.compile(r"-(?:nexus|linked|sponsored|backed|based|aligned|affiliated)\b", re.IGNORECASE)
# A country a sentence names after one of these (and after its last targeting word) is not a victim: the lure
# impersonated it ("impersonated the German embassy"), the report quotes it ("according to the US government"),
# or it is where a vendor is ("researchers at a Czech security company"). "Targeted" then becomes "mentioned".
_MENTION_CUE = re.compile(r"\b(?:impersonat\w*|spoof\w*|masquerad\w*|pos(?:ed|es|ing) as|pretend\w*|purport\w*|"
                          r"mimic\w*|disguised as|posing|according to|reported by|published by|said|says|told|warned|"
                          r"researchers? (?:at|from)|on behalf of)\b", re.IGNORECASE)
# ... or the name is followed by what a vendor is ("Israel-based security firm", "a Slovak cybersecurity company").
_VENDOR_AFTER = re.compile(r"(?:-based)?\s+(?:(?:cyber)?security|antivirus|anti-virus|threat intelligence|infosec|"
                           r"cyber)\s+(?:firm|company|companies|vendors?|researchers?|provider|outfit)\b",
                           re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PlaceHit:
    """A sector, country or region mention: what it is and where."""

    kind: str            # "sector" | "country" | "region"
    name: str
    code: str | None     # ISO 3166 alpha-2, UN M49 code, or the MISP sector value
    start: int
    end: int
    role: str = "mentioned"   # countries: "targeted" | "origin" | "mentioned"


def _place_pattern(names: Iterable[str]) -> re.Pattern[str]:
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # "China-nexus" names a country; "Korea-Japan" or "US-CERT" does not.
    return re.compile(rf"(?<![\w.-])(?:{alternation})(?!\w)(?!-(?!(?:nexus|linked|sponsored|backed|based|aligned|"
                      rf"affiliated)\b))")


def _place_names(kb: KnowledgeBase) -> dict[str, tuple[str, str, str]]:
    """Spelling -> (kind, display name, code) for countries and regions."""
    out: dict[str, tuple[str, str, str]] = {}
    by_code = {c.code: c.value for c in kb.galaxies.countries if c.code}
    for country in kb.galaxies.countries:
        if country.code:
            for name in (country.value, *country.synonyms):
                if len(name) > 3 and name[0].isupper():
                    out[name] = ("country", country.value, country.code)
    for spelling, code in _COUNTRY_EXTRA.items():
        out[spelling] = ("country", by_code.get(code, spelling), code)
    for region in kb.galaxies.regions:
        if region.code and region.value not in ("World", "Antarctica"):
            out[region.value] = ("region", region.value, region.code)
    for spelling, (label, m49) in _REGIONS.items():
        out[spelling] = ("region", label, m49 or "")
    return out


_names_cache: dict[int, tuple[KnowledgeBase, dict[str, tuple[str, str, str]], re.Pattern[str]]] = {}


def _names(kb: KnowledgeBase) -> tuple[dict[str, tuple[str, str, str]], re.Pattern[str]]:
    cached = _names_cache.get(id(kb))
    if cached is None or cached[0] is not kb:
        names = _place_names(kb)
        cached = (kb, names, _place_pattern(names))
        _names_cache[id(kb)] = cached
    return cached[1], cached[2]


def _top_level_alternatives(pattern: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in pattern:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


# Lower-case word beginnings that can start a sector phrase: the big alternation is only tried where one starts.
def _stem(alternative: str) -> str:
    """The literal letters an alternative starts with, less one made optional ("telecoms?" -> "telecom")."""
    letters = re.match(r"[A-Za-z]*", alternative).group(0)    # type: ignore[union-attr]  # [..]* always matches
    if alternative[len(letters):len(letters) + 1] in ("?", "*", "{"):
        letters = letters[:-1]
    return letters.lower()


_SECTOR_STEMS = tuple(sorted({_stem(alt) for _, _, p in _SECTORS for alt in _top_level_alternatives(p)} - {""}))


def _automaton(words: Iterable[str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for word in words:
        automaton.add_word(word, len(word))
    automaton.make_automaton()
    return automaton


def _candidates(text: str, automaton: ahocorasick.Automaton) -> list[int]:
    """Offsets where a word of the automaton starts a token (the full patterns are then tried there only)."""
    out = []
    for end, length in automaton.iter(text):
        start = end - length + 1
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            out.append(start)
    return sorted(set(out))


_first_cache: dict[int, ahocorasick.Automaton] = {}
_DEMONYM_FIRST = _automaton({d.split()[0] for d in DEMONYMS})
_SECTOR_FIRST = _automaton(set(_SECTOR_STEMS))


def targeting_before(sentence: Sentence, local: int, seen: dict[int, bool]) -> bool:
    """``TARGETING.search(sentence.text, 0, local)`` for a name starting a word at ``local``.

    Every TARGETING word ends with a letter, so a match before ``local`` (a non-word character) is also a match in
    the whole sentence: a sentence without one anywhere (``seen`` remembers, by sentence start) has none before any
    of its names. Without that, each name searched the sentence up to itself: in a 2,000-character list of
    countries, 150 searches of 1,000 characters.
    """
    anywhere = seen.get(sentence.start)
    if anywhere is None:
        anywhere = seen[sentence.start] = TARGETING.search(sentence.text) is not None
    return anywhere and TARGETING.search(sentence.text, 0, local) is not None


def only_mentioned(text: str, sentence: Sentence, start: int, end: int) -> bool:
    """Whether the country named at ``start:end`` is impersonated, quoted or a vendor's home rather than a target
    or an origin: a mention cue after the sentence's last targeting word before it, or a vendor noun after it."""
    if _VENDOR_AFTER.match(text, end):
        return True
    local = start - sentence.start
    last = 0
    for m in TARGETING.finditer(sentence.text, 0, local):
        last = m.end()
    return _MENTION_CUE.search(sentence.text, last, local) is not None


def find_places(text: str, kb: KnowledgeBase, sentences: list[Sentence]) -> list[tuple[PlaceHit, Sentence]]:
    """Countries and regions, each with its sentence and, for countries, the role the sentence gives it."""
    names, pattern = _names(kb)
    first = _first_cache.get(id(kb))
    if first is None:
        first = _first_cache[id(kb)] = _automaton({n.split()[0] for n in names})
    by_code = {v[2]: v[1] for v in names.values() if v[0] == "country"}
    seen: dict[int, bool] = {}
    out: list[tuple[PlaceHit, Sentence]] = []
    taken: set[int] = set()
    for pos in _candidates(text, _DEMONYM_FIRST):
        check()      # bounded work per document in any thread (threadline.limits)
        m = _DEMONYM_RE.match(text, pos)
        sentence = sentence_at(sentences, pos) if m else None
        if m is None or sentence is None or m.end() > sentence.end:
            continue
        code = DEMONYMS[m.group("dem")]
        role = "targeted" if m.group("target") else "origin"
        if role == "targeted" and only_mentioned(text, sentence, m.start(), m.end("dem")):
            role = "mentioned"     # "impersonated the German embassy"
        out.append((PlaceHit("country", by_code.get(code, m.group("dem")), code, m.start(), m.end("dem"), role),
                    sentence))
        taken.add(m.start())
    for pos in _candidates(text, first):
        check()      # bounded work per document in any thread (threadline.limits)
        m = pattern.match(text, pos)
        sentence = sentence_at(sentences, pos) if m else None
        if m is None or sentence is None or pos in taken or m.end() > sentence.end:
            continue
        kind, name, code = names[m.group(0)]
        local = pos - sentence.start
        if m.group(0) == "US" and sentence.text.isupper():
            continue     # "CONTACT US" in a shouting heading
        if text[max(0, pos - 4):pos] == "New ":
            continue     # "New Jersey", "New Mexico", "New Caledonia" are not the country after "New"
        role = "mentioned"
        if kind == "country":
            if _VENDOR_AFTER.match(text, m.end()):
                role = "mentioned"     # "Israel-based security firm": where a vendor is, not the actor's origin
            elif _ORIGIN_SUFFIX.match(text, m.end()):
                role = "origin"
            elif targeting_before(sentence, local, seen):     # the targeting verb comes before its object
                role = "mentioned" if only_mentioned(text, sentence, pos, m.end()) else "targeted"
            elif m.group(0) in _AMBIGUOUS_COUNTRIES:
                continue
        out.append((PlaceHit(kind, name, code or None, m.start(), m.end(), role), sentence))
    return out


def find_sectors(text: str, sentences: list[Sentence]) -> list[tuple[PlaceHit, Sentence]]:
    """Sector mentions: a collective noun phrase, or any sector word after a targeting verb."""
    out: list[tuple[PlaceHit, Sentence]] = []
    seen: dict[int, bool] = {}
    for start in _candidates(text.lower(), _SECTOR_FIRST):
        check()      # bounded work per document in any thread (threadline.limits)
        m = _SECTOR_RE.match(text, start)
        sentence = sentence_at(sentences, start) if m else None
        if m is None or sentence is None:
            continue
        index = int(next(k for k, v in m.groupdict().items() if v is not None)[1:])
        name, misp, _ = _SECTORS[index]
        collective = " " in m.group(0).strip()     # "telecom companies", "financial institutions"
        # A bare sector word counts only after a targeting verb: "attacks against the Myanmar government", not
        # "the U.S. government warns that ...".
        if collective or targeting_before(sentence, m.start() - sentence.start, seen):
            out.append((PlaceHit("sector", name, misp, m.start(), m.end()), sentence))
    return out
