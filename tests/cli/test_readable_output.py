"""What the human output says: lists say how many they leave out, nothing stops mid-sentence, no line twice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from threadline import settings
from threadline.cli.common import console, listing, shorten


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 5000)     # one line per paragraph, so assertions see whole lines


def test_every_truncated_list_of_a_technique_says_how_many_are_left_out(kb, run_cli, wide) -> None:  # type: ignore[no-untyped-def]
    # "groups using it (77)" listed 25 groups and did not say that 52 were left out.
    code, out, _ = run_cli("technique", "T1566.001", "--json")
    data = json.loads(out)
    code, out, err = run_cli("technique", "T1566.001")
    assert code == 0, err
    groups = next(line for line in out.splitlines() if line.startswith("groups using it"))
    assert groups.startswith(f"groups using it ({len(data['groups'])}): ")
    assert len(data["groups"]) > 25 and groups.endswith(f", +{len(data['groups']) - 25} more")
    assert groups.count(", G") == 24


def test_a_long_description_ends_at_a_sentence_with_an_ellipsis(kb, run_cli, wide) -> None:  # type: ignore[no-untyped-def]
    # It stopped at 800 characters, mid-sentence ("... Upon opening"), with no mark that text was left out.
    code, out, _ = run_cli("technique", "T1566.001", "--json")
    assert code == 0
    description = " ".join(json.loads(out)["description"].split())
    assert len(description) > 800
    _code, out, _ = run_cli("technique", "T1566.001")
    shown = next(line for line in out.splitlines() if line.startswith(description[:40]))
    assert shown.endswith(". …") and description.startswith(shown[:-2]) and len(shown) <= 803


def test_shorten_and_listing() -> None:
    text = "Use antivirus (e.g. Defender) to block it. Train users to spot lures and report them quickly."
    assert shorten(text, 60) == "Use antivirus (e.g. Defender) to block it. …"   # not cut at "(e.g."
    assert shorten(text, 200) == text
    assert shorten("word " * 30, 23) == "word word word word…"
    assert listing(["a", "b", "c", "d"], 2) == "a, b, +2 more" and listing(["a", "b"], 2) == "a, b"


def test_a_technique_name_shared_by_two_techniques_says_techniques(kb, run_cli, wide) -> None:  # type: ignore[no-untyped-def]
    # It said '"Spearphishing Attachment" names several actors'.
    code, out, _ = run_cli("technique", "Spearphishing Attachment")
    assert code == 0 and "names several techniques" in out and "actors" not in out
    assert "T1566.001" in out and "T1598.002" in out and "asserted by" not in out
    code, out, _ = run_cli("actor", "APT38")
    assert code == 0 and "names several actors" in out and "asserted by" in out


def test_settings_show_their_default(run_cli, wide, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # The README promises "every setting, its variable, default and value"; the table had no default column.
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "7")
    code, out, err = run_cli("settings")
    assert code == 0, err
    assert re.search(r"setting\s+┃\s+default\s+┃\s+value", out)
    timeout = next(line for line in out.splitlines() if "fetch_timeout" in line)
    assert re.search(r"fetch_timeout\s+│\s+20\s+│\s+7\s+│", timeout)
    budget = next(line for line in out.splitlines() if "fetch_max_bytes" in line)
    assert re.search(rf"│\s+{settings.get('fetch_max_bytes')}\s+│\s+\(default\)\s+│", budget)


def test_a_claim_the_report_repeats_is_one_line(kb, run_cli, wide, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "repeat.txt"
    report.write_text("Harbour campaign\n\nWe attribute this campaign to APT28. The operators sent spearphishing "
                      "attachments to ministries in 2024.\n\nThe activity is attributed to APT28. A second wave hit "
                      "telecom operators.\n", encoding="utf-8")
    code, out, _ = run_cli("analyze", str(report), "--json", "--no-store")
    assert len(json.loads(out)[0]["claims"]) == 2          # the report makes the claim twice
    code, out, err = run_cli("analyze", str(report), "--no-store")
    assert code == 0, err
    claims = [line for line in out.splitlines() if line.startswith("the report claims")]
    assert claims == ["the report claims: attributed to APT28 (2 sentences)"]
    disagreements = [line for line in out.splitlines() if line.startswith("disagreement")]
    assert len(disagreements) == len(set(disagreements))


def test_no_technique_found_says_so(kb, run_cli, wide, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # An empty table with no message.
    report = tmp_path / "weather.txt"
    report.write_text("The weather in Lisbon was mild and sunny all week.\n", encoding="utf-8")
    code, out, err = run_cli("techniques", str(report))
    assert code == 0 and "no ATT&CK technique found in the text" in out and "┃" not in out, err
    code, out, err = run_cli("techniques", str(report), "--json")
    assert code == 0 and json.loads(out)["techniques"] == [], err


@pytest.mark.parametrize(("command", "wrong", "choices"), [
    ("export", "xml", "'stix', 'misp', 'navigator', 'csv', 'sigma'"), ("brief", "pdf", "'md', 'html'")])
def test_a_wrong_format_is_a_usage_error_listing_the_choices(run_cli, tmp_path: Path, command: str,  # type: ignore[no-untyped-def]
                                                             wrong: str, choices: str) -> None:
    # --format was a free string: a wrong value was found only after the analysis was loaded (or made).
    code, out, err = run_cli(command, str(tmp_path / "never-read.md"), "--format", wrong)
    assert code == 2 and out == "" and "Usage: threadline" in err
    assert "Invalid value for '--format'" in err and choices in err and "never-read" not in err


@pytest.mark.parametrize("ref", ["ftp://example.com/report.txt", "file:///etc/hostname", "FTP://example.com/a"])
def test_an_unsupported_url_scheme_says_so(run_cli, ref: str) -> None:  # type: ignore[no-untyped-def]
    # brief and export said "no such file, folder, URL or stored analysis id".
    for args in (["brief", ref], ["export", ref, "--format", "csv"]):
        code, out, err = run_cli(*args)
        scheme = ref.split(":", 1)[0].lower()     # schemes are case-insensitive (RFC 3986): named in lower case
        assert code == 2 and out == ""
        assert err == f"threadline: {ref}: unsupported URL scheme '{scheme}' (only http and https are fetched)\n"
