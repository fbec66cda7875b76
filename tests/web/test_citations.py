"""Evidence citing a stored report the reader may not read is withheld by its id, whatever the rest of the string
says (a hostile title can quote another report's id), and nothing else of the analysis changes."""

from __future__ import annotations

import copy
from typing import Any

from tests.web.conftest import Site
from threadline.web.citations import withhold_citations
from threadline.web.tlp import ANONYMOUS, Principal


def _analysis(raised: str, clear: str) -> dict[str, Any]:
    def item(feature: str, *sources: str) -> dict[str, Any]:
        return {"kind": "technique", "id": feature, "via": "store", "source": list(sources)}

    return {"document": {"title": "a report", "sha256": clear},
            "attribution": {"candidates": [{"attack_id": "G0096", "evidence": {"shared": [
                item("T1", f"stored analysis: SILENT HERON ({raised[:12]})"),
                item("T2", f"stored analysis: SILENT HERON ({raised[:12]})", "ATT&CK"),
                item("T3", f"stored analysis: Operation ({clear[:12]})"),
                # a title quoting a readable report's id before the hidden report's own
                item("T4", f"stored analysis: see ({clear[:12]}) SILENT HERON ({raised[:12]})"),
                item("T5", "stored analysis: a citation without an id"),
                {"kind": "note", "text": f"stored analysis: SILENT HERON ({raised[:12]})", "source": ["ATT&CK"]},
                {"kind": "technique", "id": "T6", "source": "ATT&CK"},
            ]}}]},
            "techniques": [{"id": "T1566", "evidence": [{"text": "They sent a lure."}]}]}


def test_withheld_by_id_and_the_rest_kept(site: Site) -> None:
    raised, clear = site.ids["raised"], site.ids["clear"]
    analysis = _analysis(raised, clear)
    before = copy.deepcopy(analysis)
    seen, withheld = withhold_citations(site.store, ANONYMOUS, analysis)
    assert analysis == before                                   # the stored analysis is not changed in place
    assert withheld == {raised[:12]}
    shared = seen["attribution"]["candidates"][0]["evidence"]["shared"]
    assert [s.get("id") for s in shared] == ["T2", "T3", "T6"]
    assert shared[0]["source"] == ["ATT&CK"]
    assert "SILENT HERON" not in repr(seen) and "without an id" not in repr(seen)
    assert seen["techniques"] == before["techniques"] and seen["document"] == before["document"]


def test_an_administrator_and_a_reader_with_clearance_see_the_citation(site: Site) -> None:
    analysis = _analysis(site.ids["raised"], site.ids["clear"])
    assert withhold_citations(site.store, Principal("admin", "admin"), analysis) == (analysis, set())
    # a citation of a report the reader may read stays (the amber report, read by an analyst)
    amber = {"source": [f"stored analysis: x ({site.ids['amber'][:12]})"]}
    data = {"attribution": {"shared": [amber]}}
    assert withhold_citations(site.store, Principal("analyst", "analyst"), data)[0] == data
    assert withhold_citations(site.store, Principal("viewer", "viewer"), data)[0] == {"attribution": {"shared": []}}


def test_a_citation_of_a_report_no_longer_stored_is_withheld(site: Site) -> None:
    data = {"shared": [{"source": ["stored analysis: gone (0123456789ab)"]}, {"source": ["ATT&CK"]}]}
    assert withhold_citations(site.store, ANONYMOUS, data)[0] == {"shared": [{"source": ["ATT&CK"]}]}
