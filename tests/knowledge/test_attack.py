"""The ATT&CK snapshot is parsed completely: counts match the bundle, objects carry what analysts need."""

from __future__ import annotations

import gzip
import json
from collections import Counter

from threadline.knowledge.attack import plain_text
from threadline.knowledge.index import vendored_bundle


def _live_counts() -> Counter[str]:
    bundle = json.loads(gzip.decompress(vendored_bundle().read_bytes()))
    return Counter(o["type"] for o in bundle["objects"]
                   if not o.get("revoked") and not o.get("x_mitre_deprecated"))


def test_counts_match_the_snapshot(kb) -> None:  # type: ignore[no-untyped-def]
    raw = _live_counts()
    counts = kb.counts()
    assert counts["techniques"] + counts["subtechniques"] == raw["attack-pattern"] == 691
    assert counts["subtechniques"] == 475
    assert counts["groups"] == raw["intrusion-set"] == 172
    assert counts["campaigns"] == raw["campaign"] == 52
    assert counts["malware"] == raw["malware"] == 693
    assert counts["tools"] == raw["tool"] == 91
    assert counts["mitigations"] == raw["course-of-action"] == 44
    assert counts["detection_strategies"] == raw["x-mitre-detection-strategy"] == 691
    assert counts["tactics"] == 14
    assert counts["relationships"] == raw["relationship"] == 19906


def test_subtechnique_and_tactics(kb) -> None:  # type: ignore[no-untyped-def]
    spearphishing = kb.by_attack_id["T1566.001"]
    assert spearphishing.name == "Spearphishing Attachment"
    assert spearphishing.is_subtechnique and spearphishing.parent_id == "T1566"
    assert spearphishing.tactics == ("initial-access",)
    parents = kb.related(spearphishing.stix_id, "subtechnique-of")
    assert [kb.obj(r.target).attack_id for r in parents] == ["T1566"]


def test_procedure_examples_keep_their_citations(kb) -> None:  # type: ignore[no-untyped-def]
    group = kb.by_attack_id["G0129"]
    uses = kb.techniques_of(group.stix_id)
    assert len(uses) > 20
    cited = [rel for _, rel in uses if rel.citations]
    assert cited, "procedure examples must carry their citations"
    assert all(c.source_name for rel in cited for c in rel.citations)
    assert any(c.url and c.url.startswith("http") for rel in cited for c in rel.citations)


def test_campaigns_are_attributed_and_dated(kb) -> None:  # type: ignore[no-untyped-def]
    attributed = [r for r in kb.attack.relationships if r.type == "attributed-to"]
    assert len(attributed) == 25
    campaign = kb.attack.campaigns[attributed[0].source]
    assert campaign.attack_id.startswith("C") and campaign.first_seen


def test_mitigations_and_detections_link_to_techniques(kb) -> None:  # type: ignore[no-untyped-def]
    technique = kb.by_attack_id["T1566"]
    mitigations = kb.related(technique.stix_id, "mitigates", reverse=True)
    detections = kb.related(technique.stix_id, "detects", reverse=True)
    assert mitigations and detections


def test_plain_text_drops_markup() -> None:
    text = "[APT28](https://attack.mitre.org/groups/G0007) used X.(Citation: Vendor 2020)"
    assert plain_text(text) == "APT28 used X."
