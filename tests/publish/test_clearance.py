"""`threadline publish --clearance LEVEL`: a site read by whoever can open its folder keeps out every analysis
marked above LEVEL, and every piece of evidence citing one, as the web app does for a reader with that clearance;
by default every analysis goes in, as before, and the command says what markings the site holds.

The store is made as `threadline analyze` makes it, by the current code: SILENT HERON is analysed as TLP:CLEAR, so
that the reports analysed after it cite it as attribution evidence ("stored analysis: SILENT HERON ... (ID)");
then a TLP:CLEAR bulletin (whose briefing shows that citation) and a TLP:AMBER report; then SILENT HERON is
analysed again at TLP:RED.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA
from threadline.publish.site import publish, within_clearance

HERON = DATA / "reports" / "silent-heron.html"
BULLETIN = DATA / "e2e" / "dated-bulletin.txt"
AMBER = DATA / "web" / "amber-report.md"
# What only the red report holds: its title (as its own briefing and the citations give it).
HERON_TITLE = "SILENT HERON"


@dataclass
class Stored:
    db: str
    ids: dict[str, str]          # "red", "clear", "amber" -> document id
    analyses: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def stored(kb: Any) -> Iterator[Stored]:
    from threadline.analysis import analyze_document
    from threadline.attribute.known import known_links
    from threadline.ingest import ingest_into
    from threadline.store import open_store
    from threadline.store.analyses import get_analysis, save_analysis

    db = str(Path(tempfile.mkdtemp(prefix="threadline-clearance-")) / "store.db")
    ids: dict[str, str] = {}
    with open_store(db) as store:
        def analyse(path: Path, tlp: str | None) -> str:
            """As `threadline analyze --tlp` does: the store's earlier analyses are attribution evidence."""
            doc = ingest_into(store, str(path), tlp=tlp).documents[0]
            save_analysis(store, analyze_document(doc, kb, known=known_links(kb, store)))
            return doc.sha256

        analyse(HERON, None)
        ids["clear"] = analyse(BULLETIN, None)
        ids["amber"] = analyse(AMBER, None)
        ids["red"] = analyse(HERON, "red")
        analyses = {key: get_analysis(store, doc) for key, doc in ids.items()}
    yield Stored(db, ids, analyses)


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file()}


def _holding(root: Path, *needles: str) -> list[str]:
    return [name for name, text in _files(root).items() if any(n.lower() in text.lower() for n in needles)]


def test_the_data_is_what_the_tests_need(stored: Stored) -> None:
    """The clear bulletin and the amber report cite the red report by title and id (else the tests below would
    prove nothing about the citations)."""
    red = stored.ids["red"]
    assert stored.analyses["red"]["document"]["tlp"] == "red"
    assert stored.analyses["clear"]["document"].get("tlp", "clear") == "clear"
    assert stored.analyses["amber"]["document"]["tlp"] == "amber"
    for key in ("clear", "amber"):
        assert HERON_TITLE in repr(stored.analyses[key]) and f"({red[:12]})" in repr(stored.analyses[key])


def test_clearance_clear_keeps_out_the_red_briefing_and_its_title(stored: Stored, run_cli: Any,
                                                                   tmp_path: Path) -> None:
    red = stored.ids["red"]
    canaries = (HERON_TITLE, red[:12], "aimed at European energy")
    everything = tmp_path / "everything"
    code, out, err = run_cli("publish", "--db", stored.db, "--out", str(everything), "--no-kb")
    assert code == 0, err
    # Without a clearance the red briefing is there, and the clear bulletin's briefing cites it by title.
    assert len(list((everything / "briefings").glob("*.html"))) == 3
    bulletin = next(name for name, text in _files(everything).items()
                    if name.startswith("briefings/") and "TB-2024-011" in text)
    assert bulletin in _holding(everything, f"stored analysis: {HERON_TITLE}")

    public = tmp_path / "public"
    code, out, err = run_cli("publish", "--db", stored.db, "--out", str(public), "--no-kb", "--clearance", "clear")
    assert code == 0, err
    assert _holding(public, *canaries) == []
    # The bulletin is published, without the evidence citing the red report; the amber report is kept out too.
    assert (public / bulletin).is_file() and "TB-2024-011" in (public / bulletin).read_text(encoding="utf-8")
    assert len(list((public / "briefings").glob("*.html"))) == 1
    assert _holding(public, "Amber Tide") == []
    assert out.splitlines()[1] == ("markings in the site: 1 TLP:CLEAR; kept out, as above TLP:CLEAR: 2 analyses "
                                   "(and the evidence citing one, from 1 other)")
    assert err == ""


def test_clearance_amber_keeps_the_amber_report_without_the_red_citation(stored: Stored, run_cli: Any,
                                                                          tmp_path: Path) -> None:
    site = tmp_path / "site"
    code, out, err = run_cli("publish", "--db", stored.db, "--out", str(site), "--no-kb", "--clearance",
                             "TLP:AMBER")
    assert code == 0, err
    assert _holding(site, HERON_TITLE, stored.ids["red"][:12]) == []
    assert _holding(site, "Amber Tide")
    assert "1 TLP:CLEAR, 1 TLP:AMBER; kept out, as above TLP:AMBER: 1 analysis (and the evidence citing one, " \
           "from 2 others)" in out


def test_by_default_everything_is_published_and_the_markings_said(stored: Stored, run_cli: Any,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    code, out, err = run_cli("publish", "--db", stored.db, "--out", str(site), "--no-kb")
    assert code == 0, err
    assert out.splitlines()[1] == "markings in the site: 1 TLP:CLEAR, 1 TLP:AMBER, 1 TLP:RED"
    # Nobody chose what the site may hold, and it holds more than TLP:CLEAR: one line says so.
    assert err.startswith("threadline: warning: the site holds TLP:AMBER, TLP:RED briefings")
    assert "--clearance clear" in err and len(err.strip().splitlines()) == 1
    # Chosen (the option or the setting's environment variable, red included): no warning.
    code, out, err = run_cli("publish", "--db", stored.db, "--out", str(site), "--no-kb", "--clearance", "red")
    assert (code, err) == (0, "") and "1 TLP:RED" in out
    monkeypatch.setenv("THREADLINE_PUBLISH_CLEARANCE", "green")
    code, out, err = run_cli("publish", "--db", stored.db, "--out", str(site), "--no-kb")
    assert (code, err) == (0, "")
    assert _holding(site, HERON_TITLE, "Amber Tide") == []


def test_a_clear_only_site_says_so_without_a_warning(stored: Stored, run_cli: Any, tmp_path: Path) -> None:
    site = tmp_path / "site"
    code, out, err = run_cli("publish", stored.ids["clear"], "--db", stored.db, "--out", str(site), "--no-kb")
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == "markings in the site: 1 TLP:CLEAR"


@pytest.mark.parametrize(("args", "says"), [
    (["--clearance", "purple"], "unknown TLP level"),
    (["--clearance", "green", "--tlp", "amber"], "above --clearance green"),
])
def test_a_clearance_that_can_not_be_kept_is_one_line(stored: Stored, run_cli: Any, tmp_path: Path,
                                                      args: list[str], says: str) -> None:
    site = tmp_path / "site"
    code, _, err = run_cli("publish", "--db", stored.db, "--out", str(site), "--no-kb", *args)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not site.exists()


def test_a_bad_setting_is_one_line(stored: Stored, run_cli: Any, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_PUBLISH_CLEARANCE", "secret")
    code, _, err = run_cli("publish", "--db", stored.db, "--out", str(tmp_path / "site"), "--no-kb")
    assert code == 2 and "THREADLINE_PUBLISH_CLEARANCE" in err and "unknown TLP level" in err


def test_within_clearance_without_the_store(stored: Stored) -> None:
    """Without the store's markings, a cited report the site does not hold cannot be checked: withheld. With the
    red report among the analyses given, its own marking is what withholds it."""
    clear = stored.analyses["clear"]
    alone = within_clearance([clear], "clear")
    assert (alone.withheld, alone.citing) == (0, 1)
    assert HERON_TITLE not in repr(alone.analyses) and alone.analyses[0]["document"] == clear["document"]
    both = within_clearance([stored.analyses["red"], clear], "clear")
    assert (both.withheld, both.citing, len(both.analyses)) == (1, 1, 1)
    assert HERON_TITLE not in repr(both.analyses)
    # Cleared for red: everything as it is; --tlp raises a briefing above the clearance.
    assert within_clearance([clear], "red").analyses == [clear]
    assert within_clearance([clear], "green", tlp="amber").withheld == 1
    assert clear == stored.analyses["clear"]          # the analyses given are not changed in place


def test_briefings_already_built_are_refused_below_red(stored: Stored, tmp_path: Path) -> None:
    from threadline.publish.brief import build_brief

    brief = build_brief(stored.analyses["clear"], None)
    with pytest.raises(TypeError):
        publish([brief], tmp_path / "site", None, clearance="clear")
    assert publish([brief], tmp_path / "site", None)["markings"] == {"clear": 1}


# `threadline brief` and `threadline export`: an output marked LEVEL (the stricter of --tlp and the analysis's own
# marking) holds no evidence citing a report above LEVEL, and says how many pieces it left out.
WITHHELD = re.compile(r"(\d+) pieces? of evidence (?:was|were) withheld: (?:it cites|they cite) reports above "
                      r"(TLP:[A-Z+]+)")


def test_brief_withholds_evidence_citing_a_report_above_its_marking(stored: Stored, run_cli: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_DB", stored.db)
    red = stored.ids["red"]
    for fmt in ("md", "html"):
        code, out, err = run_cli("brief", stored.ids["clear"], "--no-kb", "--format", fmt)
        assert code == 0, err
        assert "TLP:CLEAR" in out and "TB-2024-011" in out
        assert HERON_TITLE not in out and red[:12] not in out
        [(count, level)] = WITHHELD.findall(out)
        assert int(count) >= 1 and level == "TLP:CLEAR"
    # Marked amber by --tlp: the red report is still above it; the amber report's own briefing likewise.
    for ref, tlp in ((stored.ids["clear"], "amber"), (stored.ids["amber"], "clear")):
        code, out, err = run_cli("brief", ref, "--no-kb", "--tlp", tlp)
        assert code == 0, err
        assert HERON_TITLE not in out and red[:12] not in out and "TLP:AMBER" in out
        assert [level for _, level in WITHHELD.findall(out)] == ["TLP:AMBER"]
    # Marked red, the briefing holds the evidence (its readers may read the red report) and says nothing.
    code, out, err = run_cli("brief", stored.ids["clear"], "--no-kb", "--tlp", "red")
    assert code == 0, err
    assert f"stored analysis: {HERON_TITLE}" in out and not WITHHELD.findall(out)


def test_export_withholds_evidence_citing_a_report_above_its_marking(stored: Stored, run_cli: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_DB", stored.db)
    red = stored.ids["red"]
    carrying = set()
    for fmt in ("stix", "misp", "navigator", "sigma", "csv"):
        code, full, err = run_cli("export", stored.ids["clear"], "--format", fmt, "--tlp", "red", "--no-kb")
        assert code == 0, err
        if HERON_TITLE in full:
            carrying.add(fmt)
        code, out, err = run_cli("export", stored.ids["clear"], "--format", fmt, "--no-kb")
        assert code == 0, err
        assert HERON_TITLE not in out and red[:12] not in out, fmt
        # Machine formats: the count goes to stderr, one line naming the input.
        [line] = err.strip().splitlines()
        assert stored.ids["clear"] in line and WITHHELD.search(line) and "TLP:CLEAR" in line, line
    # STIX carries the attribution evidence as text (x_threadline_* properties); MISP, the Navigator, Sigma and
    # CSV never held it, and are made from the analysis as withheld all the same.
    assert carrying == {"stix"}, carrying
