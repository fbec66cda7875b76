"""Dates and periods: ISO normalisation, the event a date dates, and things that only look like dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.extract.dates import REPORT_DATE, REPORT_PERIOD, find_dates, report_date
from threadline.extract.sentences import split_sentences


def dates(text: str) -> list[tuple[str, str]]:
    return [(hit.date, hit.text) for hit, _ in find_dates(text, split_sentences(text))]


@pytest.mark.parametrize(("text", "iso", "written"), [
    ("The first activity was observed in August 2020.", "2020-08", "August 2020"),
    ("Samples were compiled on 2021-03-04 and uploaded later.", "2021-03-04", "2021-03-04"),
    ("The domain was registered on 14 August 2020 by the actor.", "2020-08-14", "14 August 2020"),
    ("The loader was first seen on March 3, 2021 in Japan.", "2021-03-03", "March 3, 2021"),
    ("Activity resumed in early May 2020 against churches.", "2020-05", "early May 2020"),
    ("The group has been active since 2014.", "2014", "2014"),
    ("Operations ran from 2019–2021 without pause.", "2019/2021", "from 2019–2021"),
    ("Hosts were hit in 2019–2021.", "2019/2021", "2019–2021"),
    ("Between 2019 and 2021 it hit banks.", "2019/2021", "Between 2019 and 2021"),
    ("Activity peaked in Q3 2020.", "2020-07/2020-09", "Q3 2020"),
    ("Activity peaked in the third quarter of 2020.", "2020-07/2020-09", "the third quarter of 2020"),
    ("Intrusions happened between March and May 2023.", "2023-03/2023-05", "between March and May 2023"),
    ("It was active from March 2021 to June 2022.", "2021-03/2022-06", "from March 2021 to June 2022"),
    ("Expect more in late 2021.", "2021", "late 2021"),
])
def test_normalises_to_iso(text: str, iso: str, written: str) -> None:
    assert (iso, written) in dates(text)


@pytest.mark.parametrize("text", [
    "The exploit for CVE-2021-44228 was used.",
    "Hosts ran Windows Server 2019 and Office 2016.",
    "The actor may 2 times retry the download.",
    "Build 2020.1.4 shipped with the implant.",
    "The file was 2048 bytes long and had 1999 strings.",
])
def test_things_that_are_not_dates(text: str) -> None:
    assert dates(text) == []


def test_event_is_the_clause_without_the_date() -> None:
    text = "The first activity was observed in August 2020 and the campaign has been attributed to RedDelta."
    ((hit, sentence),) = find_dates(text, split_sentences(text))
    assert hit.event == "first activity observed"
    assert text[hit.start:hit.end] == "August 2020"
    assert sentence.text == text


def test_leading_date_dates_the_clause_after_it() -> None:
    text = "In September 2020, the group moved to using decoy documents about Tibet."
    ((hit, _),) = find_dates(text, split_sentences(text))
    assert hit.date == "2020-09"
    assert hit.event.startswith("the group moved to using decoy documents")


def test_a_sentence_dated_by_the_one_before_gets_an_open_interval() -> None:
    text = ("In September 2020, the group switched lures. This was followed by intrusions against two Hong Kong "
            "universities.")
    found = [hit for hit, _ in find_dates(text, split_sentences(text))]
    assert [h.date for h in found] == ["2020-09", "2020-09/.."]
    assert found[1].relative_to == "September 2020"
    assert "Hong Kong universities" in found[1].event


def test_relative_date_needs_a_recent_explicit_date() -> None:
    text = "This was followed by intrusions against universities."
    assert dates(text) == []


def test_a_date_in_a_heading_or_the_title_dates_the_report() -> None:
    text = ("# Three clusters, one quarter: what our sensors saw in Q2 2023\n\n"
            "In April 2023 we observed the operators deploying a loader.")
    events = {hit.text: hit.event for hit, _ in find_dates(text, split_sentences(text))}
    assert events == {"Q2 2023": REPORT_PERIOD, "April 2023": "we observed the operators deploying a loader"}
    plain = "Intrusions at water utilities, 2022-11-03\n\nThe actor was active in 2023 in Canada."
    hits = find_dates(plain, split_sentences(plain), title="Intrusions at water utilities, 2022-11-03")
    assert (hits[0][0].date, hits[0][0].event) == ("2022-11-03", REPORT_DATE)
    assert hits[1][0].event != REPORT_PERIOD


ADVISORY = Path(__file__).resolve().parents[1] / "data" / "reports" / "cert-advisory-dated.txt"


def test_a_date_line_at_the_top_dates_the_report_not_the_activity() -> None:
    # "Date: 2024-03-18" used to be listed as an event called "date" among the actor's activity.
    text = ADVISORY.read_text(encoding="utf-8")
    events = {hit.text: hit.event for hit, _ in find_dates(text, split_sentences(text))}
    assert events["2024-03-18"] == REPORT_DATE and events["2024-03-21"] == REPORT_DATE   # Date:, Last revised:
    assert events["6 February 2024"] == "first confirmed compromise happened"
    # The quoted lure's "Date:" is far below the header, after the prose began: an event of the campaign.
    assert events["12 February 2024"] != REPORT_DATE
    assert report_date(text) == "2024-03-18"       # the publication date, not the revision


@pytest.mark.parametrize(("head", "day"), [
    ("Date: 2024-03-18", "2024-03-18"),
    ("# Kestrel returns\n\nPublished: March 18, 2024", "2024-03-18"),
    ("Kestrel returns\n**Posted on** Monday, March 18, 2024 by the research team", "2024-03-18"),
    ("Date: Mon, 18 Mar 2024 10:00:00 +0000", "2024-03-18"),
    ("Release date: 18 March 2024", "2024-03-18"),
    ("Datum | 18.03.2024\nDate | 18.03.2024", "2024-03-18"),
    ("Published: 2024-03-18T10:00:00Z", "2024-03-18"),
    ("Last updated: 2024-04-01\nPublished: 2024-03-18", "2024-03-18"),   # publication wins over update
    ("Last updated: 2024-04-01", "2024-04-01"),
    ("Date: 03/04/2024", None),             # day or month first? not guessed
    ("Date: March 2024", None),             # not a day
    ("Date: 2024-02-30", None),             # no such day
    ("The operators were active.\nDate: 2024-03-18", "2024-03-18"),
    ("Kestrel returns\nThe operators have been active against logistics firms in Germany since early March.\n"
     "Date: 2024-03-18", None),             # below the first line of prose: part of the report, not its date
])
def test_report_date_from_a_labelled_line_near_the_top(head: str, day: str | None) -> None:
    assert report_date(head + "\n\nThe loader was seen in 2023.") == day
