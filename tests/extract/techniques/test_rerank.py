"""The second-stage re-ranker (rerank.py) and the explicit-id rule it relies on (issue 14)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from threadline.extract.techniques import MODEL_DIR, TechniqueHit, extract_techniques, runtime_model
from threadline.extract.techniques.rerank import RERANK_FILE, Reranker, Signals, shipped_reranker, stated
from threadline.knowledge.base import KnowledgeBase

# A vendor blog's closing ATT&CK table, as in AnnoCTR's Zscaler reports: the splitter keeps the lines from the
# detections paragraph to the first sentence after the table as one block, and that sentence says "can be used".
TABLE_REPORT = """The loader contacts its server every ten minutes.
Detections
----------
Our platform detects indicators at various levels, as shown below:
Win32.Loader.Example
MITRE ATT&CK Table
------------------
| Tactic | Technique |
| T1053 | Scheduled Task/Job |
| T1090 | Proxy |
| T1497 | Virtualization/Sandbox Evasion |
Indicators of Compromise (IOCs)
-------------------------------
The following indicators can be used to detect the loader
"""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    from threadline.knowledge.index import load_kb

    return load_kb(progress=False)


def _text_ids(hits: list[TechniqueHit]) -> set[str]:
    return {h.id for h in hits if not h.inferred}


def test_ids_in_a_table_count_when_another_line_of_the_block_denies_something(kb: KnowledgeBase) -> None:
    # Before: "doesn't" on the first line silenced every id of the table (11 gold ids lost on AnnoCTR train).
    found = _text_ids(extract_techniques(TABLE_REPORT, kb=kb))
    assert {"T1053", "T1090", "T1497"} <= found


def test_an_id_on_a_denying_line_still_counts_for_nothing(kb: KnowledgeBase) -> None:
    text = "The sample is packed.\n| T1090 | Proxy | not observed in this campaign |\n| T1053 | Scheduled Task |\n"
    found = _text_ids(extract_techniques(text, kb=kb))
    assert "T1053" in found and "T1090" not in found


def test_the_shipped_reranker_loads_with_its_provenance() -> None:
    reranker = shipped_reranker(str(MODEL_DIR / RERANK_FILE))
    assert reranker is not None and runtime_model().reranker is not None
    assert reranker.info["reports"] == 68 and "AnnoCTR train" in reranker.info["trained_on"]
    assert 0.0 < reranker.keep < reranker.threshold < 1.0
    assert len(reranker.coef) == len(reranker.features) == len(reranker.mean)


def test_reranker_round_trips_through_json() -> None:
    reranker = shipped_reranker(str(MODEL_DIR / RERANK_FILE))
    assert reranker is not None
    again = Reranker.from_json(json.loads(json.dumps(reranker.to_json())))
    signals: list[Signals] = []
    model = dataclasses.replace(runtime_model(), reranker=None)
    from threadline.knowledge.index import load_kb

    extract_techniques("The actor sent spearphishing emails with ISO attachments and dumped LSASS memory with "
                       "Mimikatz to harvest credentials.", kb=load_kb(progress=False), model=model, signals=signals)
    rows = sorted(signals[0].candidates([]).items())
    assert rows
    assert np.array_equal(reranker.probability(rows), again.probability(rows))


def test_candidates_carry_their_family(kb: KnowledgeBase) -> None:
    signals: list[Signals] = []
    model = dataclasses.replace(runtime_model(), reranker=None)
    hits = extract_techniques("The implant runs PowerShell scripts and cmd.exe commands, and writes T1059.003 in its "
                              "own log.", kb=kb, model=model, signals=signals)
    rows = signals[0].candidates(_text_ids(hits))
    family = [tid for tid in rows if tid.split(".")[0] == "T1059"]
    assert "T1059.003" in family and rows["T1059.003"]["explicit"] == 1.0
    for tid in family:      # every member sees the family's written id
        assert rows[tid]["family_explicit"] == 1.0 and rows[tid]["family_size"] == len(family)


def test_stated_hits_stay_whatever_the_reranker_says(kb: KnowledgeBase) -> None:
    # The re-ranker leans on how common a technique is in training reports: a rare but plainly named one stays.
    text = "The ISO container lets the payload bypass the Mark-of-the-Web. The report cites T1027.006."
    hits = extract_techniques(text, kb=kb)
    assert {"T1553.005", "T1027.006"} <= _text_ids(hits)
    signals: list[Signals] = []
    extract_techniques(text, kb=kb, model=dataclasses.replace(runtime_model(), reranker=None), signals=signals)
    rows = signals[0].candidates({"T1553.005", "T1027.006"})
    assert stated(rows["T1553.005"]) and stated(rows["T1027.006"])


def test_the_reranker_decides_what_the_first_stage_gives(kb: KnowledgeBase) -> None:
    """Every text hit of the shipped extractor is a candidate the re-ranker accepted, with a sentence as evidence."""
    text = ("The actors gained initial access through exploitation of internet-facing VPN appliances. They then "
            "used built-in tools, such as netsh, wmic and ntdsutil. The ransomware encrypted files on every host "
            "and deleted volume shadow copies with vssadmin.")
    reranker = runtime_model().reranker
    assert reranker is not None
    signals: list[Signals] = []
    first = extract_techniques(text, kb=kb, model=dataclasses.replace(runtime_model(), reranker=None),
                               signals=signals)
    accepted = dict(reranker.accepted(sorted(signals[0].candidates(_text_ids(first)).items())))
    hits = [h for h in extract_techniques(text, kb=kb) if not h.inferred]
    assert hits and all(h.evidence for h in hits)
    assert {h.id for h in hits} <= set(accepted)


def test_row_weights_count_as_repeated_rows_and_zero_as_absent(kb: KnowledgeBase) -> None:
    # bench/techniques_joint.py weighs the rows of two corpora apart: a row of weight 2 must count as the row twice,
    # a row of weight 0 as no row at all (else the TRAM rows would leak into an "AnnoCTR alone" fit).
    from threadline.extract.techniques.rerank import fit_reranker

    signals: list[Signals] = []
    model = dataclasses.replace(runtime_model(), reranker=None)
    extract_techniques("The actor sent spearphishing emails with ISO attachments. The loader used PowerShell to "
                       "download a second stage and created a scheduled task for persistence. It dumped LSASS "
                       "memory with Mimikatz and moved laterally over RDP.", kb=kb, model=model, signals=signals)
    rows = sorted(signals[0].candidates([]).items())
    labels = [tid.split(".")[0] in {"T1566", "T1059", "T1053", "T1003", "T1021"} for tid, _ in rows]
    assert len(rows) >= 6 and any(labels) and not all(labels)
    prior = {"": -3.0}
    plain = fit_reranker(rows, labels, prior, 0.5, c=1.0)
    zero = fit_reranker(rows + rows[:3], labels + [not y for y in labels[:3]], prior, 0.5, c=1.0,
                        weights=[1.0] * len(rows) + [0.0] * 3)
    twice = fit_reranker(rows + rows, labels + labels, prior, 0.5, c=1.0)
    double = fit_reranker(rows, labels, prior, 0.5, c=1.0, weights=[2.0] * len(rows))
    # the standardisation counts every row it is given, so compare the decisions, not the coefficients
    assert np.allclose(plain.probability(rows), zero.probability(rows), atol=0.02)
    assert np.allclose(twice.probability(rows), double.probability(rows), atol=1e-3)
