"""A briefing reads as a briefing (issue 13): evidence shown as its text, ATT&CK prose as plain text cut at a real
sentence end, techniques known only from software kept apart from those observed, each dated event shown once,
the report's own date line not taken for activity, no repeated names, and a length in proportion to the report,
every list cut short saying how many it left out."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from threadline.publish.brief import MAX_INDICATORS, build_brief, render_brief
from threadline.publish.facts import MAX_CITES
from threadline.publish.render import Defanger
from threadline.publish.staysafe import attack_prose, first_sentence

from .conftest import DATA, DOCUMENTS, REPORT

Analyse = Callable[..., dict[str, Any]]
RAW_EVIDENCE = re.compile(r"\{'text'|&#39;text&#39;|'start':|&#39;start&#39;|\\\{'text")
ATTACK_MARKUP = re.compile(r"<code>|&lt;code&gt;|\\<code\\>|\(Citation:|\\\(Citation:|\]\(https?://|\\\]\\\(https?")


def _both(brief: Any) -> str:
    return render_brief(brief, "md") + render_brief(brief, "html")


@pytest.mark.parametrize("path", [REPORT, *DOCUMENTS], ids=lambda p: p.name)
def test_indicator_evidence_is_shown_as_its_text(path: Any, kb: Any, analyse: Analyse) -> None:
    """An indicator's sentence is an evidence object {text, start, end, page, document}: its text is quoted
    (defanged), never the object."""
    analysis = analyse(path)
    brief = build_brief(analysis, kb)
    assert not RAW_EVIDENCE.search(_both(brief))
    defang = Defanger(analysis["iocs"])
    quotes = {r.number: r.quote for r in brief.references}
    by_value = {defang(i["value"]): i for i in analysis["iocs"]}
    for shown in brief.indicators:
        sentence = (by_value.get(shown.defanged) or {}).get("sentence")
        if isinstance(sentence, dict) and shown.refs:
            assert quotes[shown.refs[0]] == defang(" ".join(sentence["text"].split()))


def test_older_analyses_with_string_sentences_still_work(kb: Any, analyse: Analyse) -> None:
    analysis = analyse(DATA / "ingest" / "lanternfish.md")
    for ioc in analysis["iocs"]:
        sentence = ioc.pop("sentence")
        ioc.update(sentence=sentence["text"], start=sentence["start"], end=sentence["end"])
    brief = build_brief(analysis, kb)
    assert not RAW_EVIDENCE.search(_both(brief))
    assert all(i.refs for i in brief.indicators)


def _attack_texts(kb: Any) -> list[str]:
    """Every ATT&CK text a briefing or page may show: descriptions and how each mitigation applies."""
    objects = [*kb.attack.mitigations.values(), *kb.attack.detection_strategies.values(),
               *kb.attack.techniques.values(), *(kb.group(g) for g in ("G0129", "G0096"))]
    texts = [o.description or "" for o in objects]
    for technique in kb.attack.techniques.values():
        texts += [r.description or "" for r in kb.related(technique.stix_id, "mitigates", reverse=True)]
    return [t for t in texts if t]


def test_attack_prose_is_plain_text(kb: Any) -> None:
    texts = _attack_texts(kb)
    assert sum("<code>" in t for t in texts) > 100 and sum("(Citation:" in t for t in texts) > 100
    for text in texts:
        plain = attack_prose(text)
        assert not ATTACK_MARKUP.search(plain), plain
        assert "</" not in plain and "<br>" not in plain
    wmi = attack_prose("Block execution of <code>wmic.exe</code> where not needed.(Citation: X)")
    assert wmi == "Block execution of wmic.exe where not needed."


def test_first_sentence_ends_at_a_real_sentence_end(kb: Any) -> None:
    """Never cut at "(e.g." or inside parentheses: a whole sentence, or one cut at a word with an ellipsis."""
    for text in _attack_texts(kb):
        plain = attack_prose(text)
        head = first_sentence(text)
        if plain.count("(") != plain.count(")"):
            continue                          # unbalanced in ATT&CK itself: nothing to keep balanced
        assert head.count("(") == head.count(")"), head
        assert not re.search(r"\b(e\.g|i\.e|vs|cf)\.?$", head), head
        assert head.endswith(("…", ".", "!", "?", ")", '"', ":")) or head == plain, head
    pam = kb.by_attack_id["M1026"]
    assert "(e.g., SYSTEM, root, or administrative accounts)." in first_sentence(pam.description)


def test_briefings_show_no_attack_markup(kb: Any, analyse: Analyse) -> None:
    """The example names no technique, so "Stay safe" covers Mustang Panda's: their advice quotes <code>."""
    brief = build_brief(analyse(DOCUMENTS[-1]), kb)
    assert brief.basis == "actor"
    assert not ATTACK_MARKUP.search(_both(brief))


def test_inferred_techniques_are_counted_and_labelled_apart(kb: Any, analyse: Analyse) -> None:
    analysis = analyse(DATA / "reports" / "vendor-blog-several-actors.md")    # names Cobalt Strike and Mimikatz
    analysis["techniques"] += [t for t in analyse(REPORT)["techniques"] if not t.get("inferred")]  # ours: two more
    observed = [t for t in analysis["techniques"] if not t.get("inferred")]
    assert observed and any(t.get("inferred") for t in analysis["techniques"])
    brief = build_brief(analysis, kb)
    for fact in brief.history_kb:
        found = re.search(r"of the (\d+) techniques observed here|None of the (\d+) techniques observed", fact.text)
        if found:
            assert int(found.group(1) or found.group(2)) == len({t["id"] for t in observed})
    # A report describing nothing itself: the software's known techniques are what "Stay safe" covers, said so.
    analysis["techniques"] = [t for t in analysis["techniques"] if t.get("inferred")]
    brief = build_brief(analysis, kb)
    assert not brief.techniques and brief.basis == "software" and brief.mitigations
    assert not any("observed here" in f.text for f in brief.history_kb)
    markdown = render_brief(brief, "md")
    assert "ranked by the software's known techniques" in markdown and "observed technique" not in markdown
    assert "no technique described" in dict(brief.glance)["What"]


def test_each_dated_event_is_shown_once(kb: Any, analyse: Analyse) -> None:
    analysis = analyse(DOCUMENTS[-1])
    brief = build_brief(analysis, kb)
    timeline, earlier = [f.text for f in brief.timeline], [f.text for f in brief.history_source]
    assert timeline and earlier and not set(timeline) & set(earlier)
    start = analysis["campaigns"][0]["first_seen"]
    assert all(f.date and f.date[:7] < start for f in brief.history_source)
    markdown = render_brief(brief, "md")
    for text in timeline + earlier:
        assert markdown.count(text.split(":")[0] + ":") == 1


def test_the_reports_own_date_line_is_not_activity(kb: Any, analyse: Analyse) -> None:
    analysis = analyse(DATA / "reports" / "gov-advisory.md")
    line = next(d for d in analysis["dates"] if d["evidence"][0]["text"].startswith("Date:"))
    brief = build_brief(analysis, kb)
    shown = [f.text for f in brief.timeline + brief.history_source]
    assert shown and not any(t.startswith(f"{line['text']}:") for t in shown)
    if not analysis["document"].get("published"):
        assert brief.published == line["date"]          # it dates the briefing instead
    assert f"published {brief.published}" in render_brief(brief, "md")


def test_names_are_stated_once(kb: Any, analyse: Analyse) -> None:
    analysis = analyse(REPORT)
    analysis["attribution"]["outcome"] = "assessed"   # as if its evidence sufficed: how a weighed ranking reads
    sector = analysis["sectors"][0]
    analysis["sectors"].append(dict(copy.deepcopy(sector), name=sector["name"].lower()))
    top = max(analysis["attribution"]["candidates"], key=lambda c: c["probability"])
    top["evidence"]["shared"] += copy.deepcopy(top["evidence"]["shared"][:2])
    brief = build_brief(analysis, kb)
    targeted = next(f.text for f in brief.campaign if f.text.startswith("Targeted sectors"))
    assert targeted.lower().count(sector["name"].lower()) == 1
    assert brief.sectors.count(sector["name"]) == 1 and sector["name"].lower() not in brief.sectors
    lead = next(f.text for f in brief.considered if f.text.startswith("Threadline's"))
    labels = re.split(r", | and ", lead.split("on shared ", 1)[1].rstrip("."))
    assert len(labels) == len(set(labels)), labels


def test_a_short_report_gets_a_short_briefing(kb: Any, analyse: Analyse) -> None:
    """The 2 KB example gave 325 lines; the 50-page PDF 872, citing one sentence 150 times."""
    example = render_brief(build_brief(analyse(DOCUMENTS[-1]), kb), "md")
    assert len(example.splitlines()) <= 160
    headings = re.findall(r"^#+ (.+)$", example, flags=re.M)
    assert len(headings) == len(set(headings)) and "Earlier and related" not in example
    pdf = build_brief(analyse(DATA / "ingest" / "fifty_pages.pdf"), kb)
    markdown = render_brief(pdf, "md")
    assert len(markdown.splitlines()) <= 220 and len(pdf.references) <= 80
    for section in (pdf.details, pdf.campaign, pdf.timeline, pdf.history_source, pdf.considered):
        for fact in section:
            assert len([n for n in fact.refs if pdf.references[n - 1].kind == "source"]) <= MAX_CITES
    assert re.search(r"\(\+\d+ more sentences\)", markdown)        # the sentences not cited are counted
    note = pdf.notes["timeline"]
    assert re.fullmatch(r"\+\d+ earlier dated events \(\d{4}-\d\d to \d{4}-\d\d\) not shown\.", note), note
    assert note.replace("(", "\\(").replace(")", "\\)") in markdown


def test_every_list_cut_short_says_how_many_it_left_out(kb: Any, analyse: Analyse) -> None:
    analysis = analyse(REPORT)
    analysis["attribution"]["outcome"] = "assessed"   # as if its evidence sufficed: how a weighed ranking reads
    extra = MAX_INDICATORS + 7
    template = analysis["iocs"][0]
    analysis["iocs"] += [dict(copy.deepcopy(template), type="domain", value=f"c2-{n}.example-bad.net",
                              defanged=f"c2-{n}.example-bad[.]net", flags=[], warninglists=[]) for n in range(extra)]
    analysis["lures"] += [dict(copy.deepcopy(analysis["lures"][0]), text=f"lure number {n}") for n in range(12)]
    brief = build_brief(analysis, kb)
    markdown = render_brief(brief, "md")
    html = render_brief(brief, "html")
    total = len(analysis["iocs"])
    assert len(brief.indicators) == MAX_INDICATORS
    for text in (markdown, html):
        assert f"+{total - MAX_INDICATORS} more indicators" in text
        lures = len({i["text"] for i in analysis["lures"]})
        assert f"+{lures - 10} more" in text
        candidates = len(analysis["attribution"]["candidates"])
        if candidates > 4:
            assert f"+{candidates - 4} more candidates" in text
        if brief.mitigations_more:
            assert f"+{brief.mitigations_more} more mitigations" in text
        if brief.detections_more:
            assert f"+{brief.detections_more} more detection strategies" in text


def test_at_a_glance_says_when_an_unknown_actor_is_the_best_hypothesis(kb: Any, analyse: Analyse) -> None:
    from threadline.publish.render import percent

    analysis = analyse(REPORT)
    analysis["attribution"]["outcome"] = "assessed"   # as if its evidence sufficed: how a weighed ranking reads
    attribution = analysis["attribution"]
    top = max(attribution["candidates"], key=lambda c: c["probability"])
    attribution["unknown_probability"] = max(0.6, top["probability"] + 0.1)
    who = dict(build_brief(analysis, kb).glance)["Who"]
    assert "actor not in its knowledge base more probable" in who
    assert percent(attribution["unknown_probability"]) in who and top["name"] in who
    attribution["unknown_probability"] = top["probability"] / 2
    who = dict(build_brief(analysis, kb).glance)["Who"]
    assert f"leads with {top['name']}" in who and "not in its knowledge base" not in who
