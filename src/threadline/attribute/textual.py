"""The text channel: a report's own words compared with each ATT&CK group's dossier (issue 15).

The structured channels (scoring.py) see only what the extractors turn into identifiers: techniques, software ATT&CK
names, countries, sectors. A report also says things no identifier carries: a loader's name that ATT&CK files under
no group, the ministries it went after, the lure's wording, the infrastructure's habits. Each group's *dossier* is the
text ATT&CK holds about it: its description, the procedure examples of its ``uses`` relationships (what it did with
each technique and tool, as the cited reports tell it), its campaigns' descriptions and procedure examples, and the
descriptions of the software it uses. A report is compared with every dossier by TF-IDF cosine (sublinear term
frequency; a term every dossier holds weighs nothing, so no stop list is needed).

Names never speak: every actor name and alias the knowledge base knows (ATT&CK's and MISP's, multi-word ones as
phrases) is masked in the dossiers and in the report, as the benchmark's masked run does, so the channel cannot echo
the report's claim; citation markers ("(Citation: ...)") are dropped with their vendor and group names.

A dossier keeps, per cited passage, the sources it rests on: when a report is ATT&CK's own source (``analyze``
excludes the document's sources), the passages resting only on it leave its group's dossier (the IDF stays that of
the whole bundle). The matrix (groups x terms, L2-normalised) is built once per knowledge base and cached in the
derived cache; a report then costs one tokenisation and one sparse product (bench: ~2 ms for a 40 KB report).

Fusion (engine.py): a group's similarity, standardised across groups (z-score, clipped at zero: only a dossier
clearly closer than the crowd adds), times one weight, is added to its score before calibration. The weight is chosen
by leave-one-report-out cross-fitting on the real reports (bench/attribution_real.py --text crossfit), among the
weights that keep ATT&CK's leave-one-out figures (bench/attribution_text_loo.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from threadline import settings
from threadline.attribute.profiles import source_key
from threadline.errors import InputError
from threadline.knowledge import KnowledgeBase, derived

if TYPE_CHECKING:   # SciPy is imported when the channel is used: `analyze` with it off never loads it (test_lazy.py)
    from scipy import sparse

# Off by default (setting text_weight, 0). Measured (BENCHMARKS.md, issue 15): at weight 1, the largest ATT&CK's
# leave-one-out cases tolerate (bench/attribution_text_loo.py: reports top-1 0.591, top-10 0.812; at 2 they fall to
# 0.565 / 0.791) and the one cross-fitting picks on the 42 real reports from {0, 0.5, 1}, top-3 moved by one case
# (0.67 -> 0.69), top-10 lost one, confident-wrong went 2 -> 1 and ECE 0.108 -> 0.079. One case is not a measured
# gain in top-3, so the channel stays opt-in (THREADLINE_TEXT_WEIGHT=1).
TERMS_SHOWN = 6
# Term weights are inverse *passage* frequencies (7,000 passages, not 170 dossiers: the large dossiers hold every
# common word, so a dossier-level IDF let "this" and "operation" carry the match towards the best-documented
# groups); a term in more than this share of the passages is common prose and leaves the vocabulary (no stop list).
MAX_SHARE = 0.05
MIN_TERM = 3                 # shorter tokens ("of", "cn") are noise or country codes the victimology channel reads
# English function words and report boilerplate: short single-sentence procedure examples rarely hold them, so the
# passage frequency alone would rate "this" or "were" as rare.
STOP = frozenset("""
a about above after again against all also although am among an and any are as at be because been before being
below between both but by can could did do does doing down during each either else ever every few for from further
had has have having he her here hers him his how however i if in into is it its itself just least less many may
me might more most much must my near neither no nor not now of off often on once only or other others our ours out
over own per rather same several shall she should since so some such than that the their theirs them then there
these they this those though through thus to too under until up upon us very via was we were what when where
whether which while who whom whose why will with within without would yet you your
according actor actors activity additionally already another around based called campaign campaigns currently
described different early first following group groups identified including known last late later like likely
new observed operation operations over previously recent recently related reported reports research researchers
same second several since threat third three title two used uses using various within year years
""".split())
# The vendors' naming-scheme words (CrowdStrike's animals, Microsoft's weather): part of names the alias index may not
# hold ("Goblin Panda"), and each says the actor's origin, so they never count either.
NAME_WORDS = frozenset("""
panda bear kitten chollima spider jackal tiger buffalo leopard ocelot typhoon blizzard sandstorm sleet tempest
tsunami cyclone hail flood dust
""".split())
_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*")
_CITATION = re.compile(r"\(Citation:[^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True, slots=True)
class Passage:
    """One piece of a group's dossier and the sources it rests on (empty: uncited, always kept)."""

    group: int
    text: str
    sources: tuple[frozenset[str], ...]     # per citation: its name and URL, compared as profiles.source_key does


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


class NameMask:
    """Every actor name and alias as a token sequence, removed from a token stream (longest match first)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for name in names:
            seq = tuple(_tokens(name))
            if seq and len("".join(seq)) >= 3:
                self.by_first.setdefault(seq[0], []).append(seq)
        for seqs in self.by_first.values():
            seqs.sort(key=len, reverse=True)

    def masked(self, tokens: list[str]) -> Counter[str]:
        """The tokens' counts without the names' tokens (one pass in C for the counts; Python only where a name may
        start)."""
        counts = Counter(tokens)
        first = self.by_first
        free = 0
        for i in [i for i, t in enumerate(tokens) if t in first]:
            if i < free:
                continue
            for seq in first[tokens[i]]:
                if tuple(tokens[i:i + len(seq)]) == seq:
                    counts.subtract(seq)
                    free = i + len(seq)
                    break
        return counts


def actor_names(kb: KnowledgeBase) -> list[str]:
    """Every name of every actor: ATT&CK groups' names and aliases, and the alias index (MISP synonyms)."""
    names = [n for g in kb.attack.groups.values() for n in (g.name, *g.aliases)]
    names += [a.name for key in kb.actors.all_keys() for a in kb.actors.assertions(key)]
    return names


def clean(text: str) -> str:
    """ATT&CK's markup out: citation markers (vendor and group names), links reduced to their words."""
    return _LINK.sub(r"\1", _CITATION.sub(" ", text))


def terms_of(text: str, mask: NameMask) -> dict[str, int]:
    return {t: c for t, c in mask.masked(_tokens(text)).items()
            if c > 0 and len(t) >= MIN_TERM and t not in STOP and t not in NAME_WORDS and not t[0].isdigit()}


def passages(kb: KnowledgeBase) -> tuple[list[str], list[Passage]]:
    """The groups (G-ids, in order) and the passages of their dossiers."""
    attack = kb.attack
    groups = sorted(attack.groups.values(), key=lambda g: g.attack_id)
    out: list[Passage] = []
    for i, group in enumerate(groups):
        out.append(Passage(i, group.description, ()))
        rels = list(kb.related(group.stix_id, "uses"))
        for rel in kb.related(group.stix_id, "attributed-to", reverse=True):
            campaign = attack.campaigns.get(rel.source)
            if campaign is not None:
                out.append(Passage(i, campaign.description, _sources(rel.citations)))
                rels.extend(kb.related(campaign.stix_id, "uses"))
        used: dict[str, None] = {}
        for rel in rels:
            if rel.description:
                out.append(Passage(i, rel.description, _sources(rel.citations)))
            if rel.target in attack.software:
                used[rel.target] = None
        for stix_id in used:
            out.append(Passage(i, attack.software[stix_id].description, ()))
    return [g.attack_id for g in groups], out


def _sources(citations: Iterable[object]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(source_key(str(v)) for v in (getattr(c, "source_name", None), getattr(c, "url", None))
                           if v) for c in citations)


@dataclass(slots=True)
class Dossiers:
    """Every group's dossier as TF-IDF rows, and what is needed to drop a report's own passages."""

    groups: list[str]
    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float64]
    counts: sparse.csr_matrix             # groups x terms, raw counts of the whole dossier
    cited: sparse.csr_matrix              # cited passages x terms, raw counts
    cited_group: npt.NDArray[np.int64]    # the group of each cited passage
    cited_sources: list[tuple[frozenset[str], ...]]
    by_source: dict[str, list[int]]       # source key -> the cited passages naming it
    matrix: sparse.csr_matrix             # groups x terms, sublinear TF-IDF, L2-normalised rows
    mask: NameMask
    terms: list[str]                      # column -> term


def _weigh(counts: sparse.csr_matrix, idf: npt.NDArray[np.float64]) -> sparse.csr_matrix:
    from scipy import sparse

    m = counts.astype(np.float64).tocsr(copy=True)
    m.data = (1.0 + np.log(np.maximum(m.data, 1.0)))
    m = (m @ sparse.diags(idf)).tocsr()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)


def build_dossiers(kb: KnowledgeBase) -> Dossiers:
    groups, pieces = passages(kb)
    mask = NameMask(actor_names(kb))
    vocabulary: dict[str, int] = {}
    rows: list[dict[int, int]] = [{} for _ in groups]
    cited_rows: list[dict[int, int]] = []
    cited_group: list[int] = []
    cited_sources: list[tuple[frozenset[str], ...]] = []
    df: dict[int, int] = {}          # passages holding each term
    for piece in pieces:
        counts = terms_of(clean(piece.text), mask)
        row = rows[piece.group]
        indexed = {vocabulary.setdefault(t, len(vocabulary)): c for t, c in counts.items()}
        for j, c in indexed.items():
            row[j] = row.get(j, 0) + c
        if piece.sources:
            cited_rows.append(indexed)
            cited_group.append(piece.group)
            cited_sources.append(piece.sources)
        for j in indexed:
            df[j] = df.get(j, 0) + 1
    counts_m = _csr(rows, len(vocabulary))
    df_all = np.zeros(len(vocabulary))
    df_all[list(df)] = list(df.values())
    keep = np.flatnonzero(df_all <= MAX_SHARE * len(pieces))
    terms = list(vocabulary)
    counts_m, cited = counts_m[:, keep].tocsr(), _csr(cited_rows, len(vocabulary))[:, keep].tocsr()
    idf = np.log((1.0 + len(pieces)) / (1.0 + df_all[keep]))
    by_source: dict[str, list[int]] = {}
    for i, cites in enumerate(cited_sources):
        for key in set().union(*cites):
            by_source.setdefault(key, []).append(i)
    return Dossiers(groups, {terms[j]: i for i, j in enumerate(keep)}, idf, counts_m, cited,
                    np.asarray(cited_group, dtype=np.int64), cited_sources, by_source, _weigh(counts_m, idf), mask,
                    [terms[j] for j in keep])


def _csr(rows: list[dict[int, int]], width: int) -> sparse.csr_matrix:
    from scipy import sparse

    indptr = [0]
    indices: list[int] = []
    data: list[int] = []
    for row in rows:
        indices.extend(row)
        data.extend(row.values())
        indptr.append(len(indices))
    return sparse.csr_matrix((np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(rows), width))


_loaded: dict[int, tuple[KnowledgeBase, Dossiers]] = {}


def dossiers(kb: KnowledgeBase) -> Dossiers:
    """The dossiers of ``kb``: in memory, else from the derived cache, else built (a fraction of a second)."""
    held = _loaded.get(id(kb))
    if held is None or held[0] is not kb:
        held = _loaded[id(kb)] = (kb, derived.cached(kb, "text-dossiers", Dossiers, lambda: build_dossiers(kb)))
    return held[1]


def without(d: Dossiers, excluded: Iterable[str], strict: bool = False) -> sparse.csr_matrix:
    """The dossier matrix with the passages whose every citation is an ``excluded`` source left out (by its name or
    its URL, as profiles.build_profiles drops a relationship; ``strict``: every passage citing one at all); only the
    touched groups' rows are weighed again."""
    from scipy import sparse

    keys = frozenset(source_key(s) for s in excluded if s.strip())
    near = sorted({i for k in keys for i in d.by_source.get(k, ())})
    drop = near if strict else [i for i in near if all(c & keys for c in d.cited_sources[i])]
    if not drop:
        return d.matrix
    touched, inverse = np.unique(d.cited_group[drop], return_inverse=True)
    n, k = len(d.groups), len(touched)
    # the dropped passages' counts summed per touched group, taken from those groups' whole-dossier counts
    per_group = sparse.csr_matrix((np.ones(len(drop)), (inverse, np.arange(len(drop)))), shape=(k, len(drop)))
    left = sparse.csr_matrix(d.counts[touched] - per_group @ d.cited[drop])
    left.data = np.maximum(left.data, 0.0)
    left.eliminate_zeros()
    keep = np.ones(n)
    keep[touched] = 0.0
    place = sparse.csr_matrix((np.ones(k), (touched, np.arange(k))), shape=(n, k))
    return sparse.csr_matrix(sparse.diags(keep) @ d.matrix + place @ _weigh(left, d.idf))


def configured_weight() -> float:
    """The text channel's weight from the setting ``text_weight`` (THREADLINE_TEXT_WEIGHT): a number >= 0."""
    setting = next(s for s in settings.SETTINGS if s.name == "text_weight")
    raw = setting.value()
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"expected a number, got {raw!r}", where=setting.source()) from None
    if not 0 <= value < math.inf:
        raise InputError(f"must be a number >= 0, got {raw!r}", where=setting.source())
    return value


@dataclass(frozen=True, slots=True)
class TextMatch:
    """How close a group's dossier is to the report, and the terms that made it so."""

    similarity: float      # cosine
    z: float               # standardised across groups
    value: float           # what it adds to the group's score (weight x clipped z)
    terms: tuple[str, ...]

    @property
    def shown_terms(self) -> list[str]:
        """The terms as shown to people: a dotted term may be a host from the report, so every dot is defanged."""
        return [t.replace(".", "[.]") for t in self.terms]

    @property
    def why(self) -> str:
        words = ", ".join(self.shown_terms) or "no single term stands out"
        return (f"the report's words are closer to the group's ATT&CK dossier than to most groups' ({self.z:.1f} "
                f"standard deviations above the mean similarity, cosine {self.similarity:.2f}); terms shared: {words}")

    def to_dict(self) -> dict[str, object]:
        return {"similarity": round(self.similarity, 4), "z": round(self.z, 2), "weight": round(self.value, 3),
                "terms": self.shown_terms, "why": self.why}


def report_vector(text: str, d: Dossiers) -> sparse.csr_matrix:
    from scipy import sparse

    counts = terms_of(text, d.mask)
    cols = [(d.vocabulary[t], c) for t, c in counts.items() if t in d.vocabulary]
    width = len(d.vocabulary)
    if not cols:
        return sparse.csr_matrix((1, width))
    idx = np.fromiter((j for j, _ in cols), dtype=np.int64, count=len(cols))
    tf = 1.0 + np.log(np.fromiter((c for _, c in cols), dtype=np.float64, count=len(cols)))
    values = tf * d.idf[idx]
    norm = math.sqrt(float(values @ values)) or 1.0
    return sparse.csr_matrix((values / norm, idx, np.asarray([0, len(cols)])), shape=(1, width))


def text_matches(text: str, kb: KnowledgeBase, weight: float, excluded: Iterable[str] = (),
                 strict: bool = True) -> dict[str, TextMatch]:
    """G-id -> the group's text match, for the groups whose dossier stands out (z > 0); empty when the report has no
    word in common with any dossier or ``weight`` is zero.

    ``strict`` (the default): every passage citing an excluded source leaves the dossiers, even one another source
    also supports. A structured relationship another report supports is still evidence; a passage that paraphrases
    this very report is its own words (on ATT&CK's leave-one-out cases the lenient rule lifted top-1 from 0.59 to
    0.77 at weight 3, the strict one 0.53: bench/attribution_text_loo.py)."""
    if not weight or not text.strip():
        return {}
    from scipy import sparse

    d = dossiers(kb)
    matrix = without(d, excluded, strict)
    vec = report_vector(text, d)
    if not vec.nnz:
        return {}
    sims = np.asarray((matrix @ vec.T).todense()).ravel()
    sd = float(sims.std())
    if sd <= 0:
        return {}
    z = (sims - float(sims.mean())) / sd
    chosen = np.flatnonzero(z > 0)
    # What each term adds to the cosine, for the chosen groups at once: the report's and the dossier's weights.
    shared = sparse.csr_matrix(matrix[chosen].multiply(vec))
    out: dict[str, TextMatch] = {}
    for row, g in enumerate(chosen):
        lo, hi = shared.indptr[row], shared.indptr[row + 1]
        top = lo + np.argsort(-shared.data[lo:hi])[:TERMS_SHOWN]
        out[d.groups[int(g)]] = TextMatch(float(sims[g]), float(z[g]), weight * float(z[g]),
                                          tuple(d.terms[int(shared.indices[k])] for k in top))
    return out
