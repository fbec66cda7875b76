"""The static site: pages exist, every relative link resolves, no external assets, report text escaped,
accessibility basics, newest first, deterministic, written atomically."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from threadline.errors import InputError
from threadline.publish import site as site_module
from threadline.publish.render import script_hash
from threadline.publish.site import FILTER_SCRIPT, TACTIC_ORDER, publish

from .conftest import DOCUMENTS, HOSTILE, REPORT


class Page(HTMLParser):
    """What the tests need from one page: tags with attributes, ids, headings, labels, inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.headings: list[int] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    @property
    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def analyses(analyse: Any) -> list[dict[str, Any]]:
    """Our report's analysis, a hostile variant, an older one marked amber, and the project's other documents."""
    base = analyse(REPORT)
    base["document"]["published"] = "2021-03-12"
    hostile = copy.deepcopy(base)
    hostile["document"].update(title=HOSTILE["title"], sha256="1" * 64, published="2023-05-02")
    hostile["campaigns"][0]["name"] = HOSTILE["title"]
    hostile["actors"][0].update(name=HOSTILE["actor"], attack_id=None, entity=None, mentions=[])
    hostile["sectors"][0]["name"] = "<svg onload=alert(3)>|x"
    hostile["techniques"][0]["name"] = "<script>alert(6)</script>"
    hostile["iocs"][0]["sentence"]["text"] = HOSTILE["sentence"]
    older = copy.deepcopy(base)
    older["document"].update(title="An older note", sha256="2" * 64, published="2019-11-30")
    older["campaigns"] = []
    older["tlp"] = "amber"
    return [base, hostile, older, *(analyse(p) for p in DOCUMENTS)]


@pytest.fixture(scope="module")
def corpus(analyse: Any) -> list[dict[str, Any]]:
    return analyses(analyse)


@pytest.fixture
def one(analyse: Any) -> dict[str, Any]:
    fresh: dict[str, Any] = analyse(REPORT)
    return fresh


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, kb: Any, corpus: list[dict[str, Any]]) -> Path:
    out = tmp_path_factory.mktemp("site") / "public"
    result = publish(copy.deepcopy(corpus), out, kb)
    assert result["briefings"] == len(corpus)
    return out


def html_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def _observed(corpus: list[dict[str, Any]]) -> list[str]:
    return sorted({t["id"] for a in corpus for t in a["techniques"] if not t.get("inferred")})


def test_pages_exist(built: Path, corpus: list[dict[str, Any]]) -> None:
    observed = _observed(corpus)
    assert any("." in t for t in observed)
    parents = {t.split(".")[0] for t in observed}
    for rel in ("index.html", "matrix.html", "actors.html", "techniques.html", "actors/G0129.html",
                *(f"techniques/{t}.html" for t in [*observed, *parents])):
        assert (built / rel).is_file(), rel
    assert len(list((built / "briefings").glob("*.html"))) == len(corpus)


def test_every_link_resolves_and_no_external_assets(built: Path) -> None:
    ids = {path.resolve(): parse(path).ids for path in html_files(built)}
    for path in html_files(built):
        page = parse(path)
        for tag, attrs in page.tags:
            for attr in ("href", "src"):
                url = attrs.get(attr)
                if url is None:
                    continue
                if re.match(r"^[a-z][a-z0-9+.-]*:", url, flags=re.I):
                    assert tag == "a" and attr == "href" and url.startswith("https://"), (path, tag, url)
                    continue
                target, _, fragment = url.partition("#")
                dest = (path.parent / target).resolve() if target else path
                assert dest.is_file(), f"{path.relative_to(built)}: broken link {url}"
                assert built.resolve() in dest.resolve().parents or dest == path
                if fragment:
                    assert fragment in ids[dest.resolve()], f"{path.relative_to(built)}: no #{fragment} in {target}"
        assert not any(t in ("img", "link", "iframe", "object", "embed") for t, _ in page.tags), path
        assert not any(t == "script" and "src" in a for t, a in page.tags), path


def test_accessibility_basics(built: Path) -> None:
    for path in html_files(built):
        page = parse(path)
        html_tag = next(a for t, a in page.tags if t == "html")
        assert html_tag.get("lang") == "en", path
        assert page.headings.count(1) == 1, f"{path}: one h1"
        assert page.headings[0] == 1
        for before, after in zip(page.headings, page.headings[1:], strict=False):
            assert after <= before + 1, f"{path}: heading jumps from h{before} to h{after}"
        first_link = next(a for t, a in page.tags if t == "a")
        assert first_link.get("href") == "#main" and "main" in page.ids, path
        labelled = {a.get("for") for t, a in page.tags if t == "label"}
        for tag, attrs in page.tags:
            if tag in ("select", "input", "textarea"):
                assert attrs.get("id") in labelled, f"{path}: unlabelled {tag}"


def test_report_text_is_escaped_everywhere(built: Path) -> None:
    for path in html_files(built):
        page = parse(path)
        assert not any(t in ("svg", "b") for t, _ in page.tags), path
        for _, attrs in page.tags:
            assert not any(k.startswith("on") for k in attrs), (path, attrs)
            assert not any(v.lower().startswith("javascript:") for v in attrs.values()), (path, attrs)
        scripts = [a for t, a in page.tags if t == "script"]
        assert len(scripts) == (1 if path.name == "index.html" else 0), path
    index = (built / "index.html").read_text(encoding="utf-8")
    assert "&lt;svg onload=alert(3)&gt;/x" in index                  # "|" can not split a filter value


def test_listing_is_newest_first_and_filterable(built: Path, corpus: list[dict[str, Any]]) -> None:
    page = parse(built / "index.html")
    items = [a for t, a in page.tags if t == "li" and "data-tlp" in a]
    assert len(items) == len(corpus)
    links = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith("briefings/")]
    dates = []
    for href in dict.fromkeys(links):
        text = (built / href).read_text(encoding="utf-8")
        # an undated report is listed by the day it was received (its date_basis is "ingested")
        found = re.search(r"(?:published|received) (\d{4}-\d{2}-\d{2})", text)
        dates.append(found.group(1) if found else "")
    assert dates == sorted(dates, reverse=True)
    assert any("amber" in a["data-tlp"].split("|") for a in items)
    assert any("Mustang Panda" in a["data-actor"].split("|") for a in items)
    technique = corpus[0]["techniques"][0]["id"]
    assert any(technique in a["data-technique"].split("|") for a in items)
    form = next(a for t, a in page.tags if t == "form")
    assert "hidden" in form                                           # shown only when the script runs
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv"))
    assert script_hash(FILTER_SCRIPT) in csp and page.scripts == [FILTER_SCRIPT]
    for key in ("actor", "sector", "country", "technique", "tlp"):
        assert f"filter-{key}" in page.ids


def test_actor_page(built: Path, corpus: list[dict[str, Any]]) -> None:
    text = (built / "actors" / "G0129.html").read_text(encoding="utf-8")
    assert "TA416" in text and "MITRE ATT&amp;CK G0129" in text and "Proofpoint TA416" in text   # alias sources
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', text, flags=re.S)
    assert timeline is not None
    entries = re.findall(r"<strong>([^<]+)</strong>", timeline.group(1))
    assert "2020-08" in entries and any(e.startswith("2023-07-01") for e in entries)
    assert entries == sorted(entries)
    assert f"../techniques/{corpus[0]['techniques'][0]['id']}.html" in text


def test_matrix_heatmap(built: Path, kb: Any, corpus: list[dict[str, Any]]) -> None:
    page = parse(built / "matrix.html")
    text = (built / "matrix.html").read_text(encoding="utf-8")
    headers = re.findall(r'<th scope="col">([^<]+)</th>', text)
    names = {t.shortname: t.name for t in kb.attack.tactics.values()}
    assert headers == [names[s] for s in TACTIC_ORDER]
    parent = corpus[0]["techniques"][0]["id"].split(".")[0]
    cell = re.search(rf'<td class="h(\d)"><a href="techniques/{parent}.html">', text)
    assert cell is not None and int(cell.group(1)) >= 1
    assert re.search(r'<td class="h0"><span>T1001 ', text)            # unobserved techniques are shown, uncoloured
    assert sum(1 for t, a in page.tags if t == "a" and a.get("href", "").startswith("techniques/")) >= 5


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic(built: Path, tmp_path: Path, kb: Any, corpus: list[dict[str, Any]]) -> None:
    again = tmp_path / "again"
    publish(copy.deepcopy(corpus), again, kb)
    assert tree(again) == tree(built)


def test_atomic_replace_and_failure(tmp_path: Path, kb: Any, monkeypatch: pytest.MonkeyPatch, one: dict[str, Any],
                                    corpus: list[dict[str, Any]]) -> None:
    out = tmp_path / "site"
    publish([one], out, kb)
    (out / "stale.html").write_text("old", encoding="utf-8")
    publish([one], out, kb)
    assert not (out / "stale.html").exists()
    before = tree(out)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(site_module.SiteWriter, "matrix", boom)
    with pytest.raises(RuntimeError):
        publish(copy.deepcopy(corpus), out, kb)
    assert tree(out) == before                                        # the old site is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]     # and no temporary folder is left


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path, kb: Any, one: dict[str, Any]) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="not a Threadline site"):
        publish([one], tmp_path, kb)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_duplicate_documents_rejected(tmp_path: Path, kb: Any, one: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="same document"):
        publish([one, copy.deepcopy(one)], tmp_path / "s", kb)


def _luminance(hex_colour: str) -> float:
    if len(hex_colour) == 4:   # #abc is #aabbcc
        hex_colour = "#" + "".join(c * 2 for c in hex_colour[1:])
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_heatmap_colours_have_sufficient_contrast(built: Path) -> None:
    css = (built / "matrix.html").read_text(encoding="utf-8")
    pairs = re.findall(r"\.h(\d) \{ background: (#[0-9a-f]{3,6}); color: (#[0-9a-f]{3,6}); \}", css)
    assert len(pairs) == 6
    for level, background, colour in pairs:
        light, dark = sorted((_luminance(background), _luminance(colour)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, f"heat level {level}: {background} on {colour}"


def test_site_without_knowledge_base(tmp_path: Path, one: dict[str, Any]) -> None:
    out = tmp_path / "site"
    result = publish([one], out, None)
    assert result["briefings"] == 1
    assert "No knowledge base was used" in (out / "matrix.html").read_text(encoding="utf-8")
    actor = (out / "actors" / "G0129.html").read_text(encoding="utf-8")
    assert "no entry for this actor" in actor and "RedDelta" in actor   # names the source used


def test_pages_parse_without_html5_errors(built: Path) -> None:
    html5lib = pytest.importorskip("html5lib", reason="html5lib not installed: HTML5 parse check skipped")
    for path in html_files(built):
        parser = html5lib.HTMLParser(strict=False)
        parser.parse(path.read_text(encoding="utf-8"))
        assert not parser.errors, (path, parser.errors[:3])


def test_report_ids_never_become_paths(tmp_path: Path, kb: Any, one: dict[str, Any]) -> None:
    a = one
    a["actors"][0].update(attack_id="../../../escape", entity=None, name="../../x", mentions=[])
    out = tmp_path / "site"
    for knowledge in (kb, None):
        publish([a], out, knowledge)
        files = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
        assert all(re.fullmatch(r"[\w.-]+(/[\w.-]+)?", f) and ".." not in f for f in files), files
        assert not list(tmp_path.glob("escape*")) and "actors/name-x.html" in files


NODE_HARNESS = """
const items = JSON.parse(process.argv[1]).map(d => ({hidden: false, getAttribute: k => d[k.slice(5)] ?? null}));
const handlers = {};
const fields = {actor: {value: ""}, sector: {value: ""}, country: {value: ""}, technique: {value: ""},
                tlp: {value: ""}};
const form = {hidden: true, elements: fields, addEventListener: (type, fn) => { handlers[type] = fn; }};
const status = {textContent: ""};
globalThis.document = {getElementById: id => ({filters: form, briefings: {children: items}, shown: status})[id]};
globalThis.window = {setTimeout: fn => fn()};
const runs = [];
const record = () => runs.push({shown: items.map(i => !i.hidden), status: status.textContent, form: !form.hidden});
eval(process.argv[2]);
record();
fields.actor.value = "B"; handlers.change(); record();
fields.tlp.value = "amber"; handlers.change(); record();
fields.actor.value = ""; fields.tlp.value = ""; fields.technique.value = "T1"; handlers.change(); record();
handlers.reset(); fields.technique.value = ""; handlers.change(); record();
console.log(JSON.stringify(runs));
"""


def test_filter_script_filters() -> None:
    """The listing's inline script, run in Node with a minimal DOM: it reveals the form and filters by facets."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: the filter script is not executed")
    items = [{"actor": "A|B", "sector": "X", "country": "", "technique": "T1|T2", "tlp": "clear"},
             {"actor": "B", "sector": "", "country": "Y", "technique": "T2", "tlp": "amber"},
             {"actor": "C", "sector": "X", "country": "Y", "technique": "T1", "tlp": "amber"}]
    done = subprocess.run([node, "-e", NODE_HARNESS, json.dumps(items), FILTER_SCRIPT], capture_output=True,
                          text=True, timeout=30, check=True)
    runs = json.loads(done.stdout)
    assert runs[0] == {"shown": [True, True, True], "status": "3 of 3 briefings shown", "form": True}
    assert runs[1]["shown"] == [True, True, False]
    assert runs[2]["shown"] == [False, True, False] and runs[2]["status"] == "1 of 3 briefings shown"
    assert runs[3]["shown"] == [True, False, True]
    assert runs[4]["shown"] == [True, True, True]


def test_pages_show_evidence_and_attack_prose_as_text(built: Path, corpus: list[dict[str, Any]]) -> None:
    """Indicators' evidence objects and ATT&CK markup (<code>, Markdown links, citation markers) never reach a page."""
    from .test_readable import ATTACK_MARKUP, RAW_EVIDENCE

    assert any(i.get("sentence") for a in corpus for i in a["iocs"])
    for path in html_files(built):
        text = path.read_text(encoding="utf-8")
        assert not RAW_EVIDENCE.search(text), path
        assert not ATTACK_MARKUP.search(text), path
