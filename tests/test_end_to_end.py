"""Every report through every output, each output checked by the program that reads it.

Every document in ``examples/`` and ``tests/data/`` that a user would hand to ``analyze`` (text, Markdown, HTML,
PDF, RSS/Atom feeds; not the encrypted PDFs, which are refused on purpose, and not JSON, which is an analysis or
knowledge rather than a report), plus the shared seed brief when ``../shared`` is present, goes through

    analyze --json  ->  brief (md, html)  ->  export (stix, misp, navigator, csv, sigma)  ->  publish

in one fresh database, with the CLI run in-process (one knowledge base for the whole run). The Markdown briefing
is asked for by the document's path (read, analysed and stored again, as ``brief report.pdf`` is typed); the HTML
briefing and the exports by the stored id ``analyze`` gave (as ``export ID`` is typed), so both ways are covered.
Each output is then read by its consumer, installed as a dev dependency:

- STIX 2.1: the OASIS ``stix2-validator`` (no errors);
- MISP: ``pymisp`` loads the event; every attribute's type/category pair is one pymisp's describeTypes table
  allows; every ``misp-galaxy:`` tag names a cluster of the galaxies ``pymispgalaxies`` ships;
- ATT&CK Navigator: ``mitreattack-python`` loads the layer with all its techniques and renders it with ``to_svg``
  and ``to_xlsx`` (offline, from the ATT&CK bundle the package ships);
- Sigma: ``pySigma`` parses every rule without errors and converts them with the Splunk and Lucene
  (Elasticsearch) backends;
- CSV: the ``csv`` module reads rows as wide as the header, and no cell is one a spreadsheet would run as a formula;
- every text output (and stderr): no traceback, no Python dict repr (``{'text': ...``), no 1970-01-01;
- the date a document states for itself (front matter, a "Date:" line, feed, page or PDF metadata) is the STIX
  report's ``published``, the MISP event's ``date`` and the CSV's ``first_seen``.

Tests are parametrized by document and output, so a failure names both. A document that fails to analyse fails its
``analyze`` test and skips its later outputs (their failure would say nothing new).
"""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, REPO, SHARED
from tests.inprocess import Result, run_threadline

REPORTS = {".md", ".txt", ".html", ".htm", ".pdf"}
FEEDS = {".rss", ".atom"}
EXPORTS = {"stix": "json", "misp": "json", "navigator": "json", "csv": "csv", "sigma": "yml"}
SEED = SHARED / "seed" / "000_4c9c98578d722c68.txt"   # the brief ../shared/tools/e2e.py also runs


def _documents() -> list[Path]:
    """The selection ../shared/tools/e2e.py makes, plus feeds: what a user would give `analyze`."""
    found = sorted(p for base in (REPO / "examples", DATA) for p in base.rglob("*")
                   if p.is_file() and p.suffix.lower() in REPORTS | FEEDS
                   and "password" not in p.name and "encrypted" not in p.name and p.stat().st_size < 2_000_000)
    return ([SEED] if SEED.is_file() else []) + found


DOCUMENTS = _documents()


def _name(path: Path) -> str:
    return "shared-seed" if path == SEED else str(path.relative_to(REPO))


# ---------------------------------------------------------------- running the pipeline once per document

@dataclass
class Output:
    """One output of one analysis: the command's result and the file it wrote."""

    analysis: str
    result: Result
    path: Path

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.is_file() else ""


@dataclass
class Run:
    """A document through the pipeline: its analyze result, the analyses it stood for, and every output."""

    analyze: Result
    analyses: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, list[Output]] = field(default_factory=dict)


class Pipeline:
    """Runs documents through the CLI into one fresh database, each document once, on first request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {"THREADLINE_DB": str(root / "e2e.db")}
        self.runs: dict[Path, Run] = {}

    def cli(self, *args: str) -> Result:
        return run_threadline(*args, env=self.env, cwd=self.root)

    def run(self, doc: Path) -> Run:
        if doc not in self.runs:
            self.runs[doc] = self._run(doc)
        return self.runs[doc]

    def _run(self, doc: Path) -> Run:
        run = Run(self.cli("analyze", str(doc), "--json"))
        if run.analyze.code != 0:
            return run
        run.analyses = json.loads(run.analyze.out)
        folder = self.root / f"doc{len(self.runs):02d}"
        folder.mkdir()
        run.outputs["brief-md"] = self._brief_by_path(doc, run.analyses, folder)
        for analysis in run.analyses:
            # By stored id, as the README's `export ID` does: this carries every analysis through the store.
            sha = analysis["document"]["sha256"]
            out = folder / f"{sha[:12]}.brief.html"
            run.outputs.setdefault("brief-html", []).append(
                Output(sha, self.cli("brief", sha, "--format", "html", "--out", str(out)), out))
            for fmt, ext in EXPORTS.items():
                out = folder / f"{sha[:12]}.{fmt}.{ext}"
                result = self.cli("export", sha, "--format", fmt, "--out", str(out))
                run.outputs.setdefault(fmt, []).append(Output(sha, result, out))
        return run

    def _brief_by_path(self, doc: Path, analyses: list[dict[str, Any]], folder: Path) -> list[Output]:
        """The Markdown briefing by the document's path, as `brief report.pdf` is typed: the document is read,
        analysed and stored again (into a store that already holds it). A feed of several entries gives one file
        each in a folder."""
        if len(analyses) == 1:
            out = folder / "by-path.brief.md"
            result = self.cli("brief", str(doc), "--format", "md", "--out", str(out))
            return [Output(analyses[0]["document"]["sha256"], result, out)]
        out = folder / "by-path"
        result = self.cli("brief", str(doc), "--format", "md", "--out", str(out))
        written = sorted(out.glob("*.md"))
        if len(written) != len(analyses):   # the missing file fails the test, naming the command
            written.append(out / f"{len(analyses)} briefings expected, {len(written)} written.md")
        return [Output(path.stem, result, path) for path in written]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp("e2e"))


def _outputs(pipeline: Pipeline, doc: Path, name: str) -> list[Output]:
    run = pipeline.run(doc)
    if run.analyze.code != 0:
        pytest.skip(f"{_name(doc)} did not analyse (its analyze test fails): {run.analyze.describe()}")
    outputs = run.outputs.get(name, [])
    assert outputs, f"{_name(doc)}: analyze stood for no analysis, so there is no {name} output"
    for output in outputs:
        assert output.result.code == 0, output.result.describe()
        text_problems(output.result.err, f"{name} stderr")
        assert output.path.is_file(), f"`threadline {' '.join(output.result.args)}` wrote no file"
        text_problems(output.text(), name)
    return outputs


# ---------------------------------------------------------------- checks every text output gets

_DICT_REPR = re.compile(r"\{'(?:text|start|end|page|sentence)': ")


def text_problems(text: str, where: str) -> None:
    """What a reader would trip on in any text Threadline writes."""
    assert "Traceback (most recent call last)" not in text, f"{where}: a traceback\n{text[-2000:]}"
    found = _DICT_REPR.search(text)
    assert found is None, f"{where}: a Python dict printed as text: {text[found.start():found.start() + 120]!r}"
    assert "1970-01-01" not in text, f"{where}: the epoch 1970-01-01 stands in for an unknown date"


# ---------------------------------------------------------------- the tests

@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_analyze(pipeline: Pipeline, doc: Path) -> None:
    run = pipeline.run(doc)
    assert run.analyze.code == 0, run.analyze.describe()
    text_problems(run.analyze.err, "analyze stderr")
    text_problems(run.analyze.out, "analyze --json")
    assert run.analyses, "analyze --json listed no analysis"
    for analysis in run.analyses:
        assert re.fullmatch(r"[0-9a-f]{64}", analysis["document"]["sha256"])


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_brief(pipeline: Pipeline, doc: Path, fmt: str) -> None:
    for output in _outputs(pipeline, doc, f"brief-{fmt}"):
        text = output.text()
        assert text.strip(), "empty briefing"
        if fmt == "html":   # ATT&CK's own markup is rendered, not shown as escaped tags
            assert "&lt;code&gt;" not in text, "ATT&CK markup shown literally (&lt;code&gt;)"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_stix_is_valid_for_the_oasis_validator(pipeline: Pipeline, doc: Path) -> None:
    from stix2validator import ValidationOptions, validate_file

    for output in _outputs(pipeline, doc, "stix"):
        results = validate_file(str(output.path), ValidationOptions(version="2.1"))
        errors = [f"{o.object_id}: {e}" for o in results.object_results for e in o.errors]
        assert results.is_valid and not errors, "; ".join(errors)[:2000] or "stix2-validator: not valid"


@cache
def _misp_tables() -> tuple[dict[str, Any], Any]:
    from pymisp import MISPAttribute
    from pymispgalaxies import Clusters  # type: ignore[attr-defined]

    return MISPAttribute().describe_types, Clusters()


def _galaxy_tags(node: object) -> Iterator[str]:
    """Every galaxy tag name in a MISP event's JSON, wherever it is attached (event, attribute, galaxy cluster)."""
    if isinstance(node, dict):
        for key in ("name", "tag_name"):
            value = node.get(key)
            if isinstance(value, str) and value.startswith("misp-galaxy:"):
                yield value
        for value in node.values():
            yield from _galaxy_tags(value)
    elif isinstance(node, list):
        for value in node:
            yield from _galaxy_tags(value)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_misp_loads_in_pymisp_with_valid_types_and_galaxy_clusters(pipeline: Pipeline, doc: Path) -> None:
    from pymisp import MISPEvent

    describe, clusters = _misp_tables()
    for output in _outputs(pipeline, doc, "misp"):
        event = MISPEvent()
        event.load(output.text())
        attributes = list(event.attributes) + [a for o in event.objects for a in o.attributes]
        for attribute in attributes:
            pair = f"{attribute.type}/{attribute.category}"
            assert attribute.type in describe["types"], f"{pair}: type unknown to MISP ({attribute.value!r})"
            assert attribute.type in describe["category_type_mappings"].get(attribute.category, []), \
                f"{pair}: MISP does not allow this type in this category ({attribute.value!r})"
        missing = []
        for tag in set(_galaxy_tags(json.loads(output.text()))):
            match = re.fullmatch(r'misp-galaxy:([\w-]+)="(.+)"', tag)
            assert match, f"malformed galaxy tag {tag!r}"
            kind, value = match.groups()
            if kind not in clusters or value.lower() not in clusters[kind].cluster_values:
                missing.append(tag)
        assert not missing, f"galaxy tags naming clusters the pinned MISP galaxies lack: {sorted(missing)}"


@pytest.fixture(scope="module")
def attack_matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ATT&CK matrix mitreattack-python renders layers on, from the bundle the package ships (offline).

    Its exporters read only the matrix, tactics and techniques (``MatrixGen``); keeping just those objects of the
    shipped bundle makes loading take half a second instead of about 16.
    """
    from importlib.resources import files

    source = files("threadline") / "data" / "attack" / "enterprise-attack-18.1.json.gz"
    with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        bundle = json.load(handle)
    keep = {"x-mitre-matrix", "x-mitre-tactic", "attack-pattern"}
    bundle["objects"] = [o for o in bundle["objects"] if o["type"] in keep]
    path = tmp_path_factory.mktemp("attack") / "enterprise-attack-matrix.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def _navlayers() -> Any:
    """MITRE's Navigator layer library (untyped: imported by name so mypy --strict needs no override for it)."""
    return importlib.import_module("mitreattack.navlayers")


@pytest.fixture(scope="module")
def layer_renderers(attack_matrix: Path) -> tuple[Any, Any]:
    navlayers = _navlayers()
    return (navlayers.ToSvg(domain="enterprise", source="local", resource=str(attack_matrix)),
            navlayers.ToExcel(domain="enterprise", source="local", resource=str(attack_matrix)))


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_navigator_layer_loads_and_renders_in_mitreattack_python(pipeline: Pipeline, doc: Path,
                                                                 layer_renderers: tuple[Any, Any]) -> None:
    to_svg, to_xlsx = layer_renderers
    for output in _outputs(pipeline, doc, "navigator"):
        data = json.loads(output.text())
        layer = _navlayers().Layer()
        layer.from_dict(data)
        assert not isinstance(layer.layer, str), "mitreattack-python could not load the layer (see its log above)"
        loaded = [t.techniqueID for t in (layer.layer.techniques or [])]
        assert loaded == [t["techniqueID"] for t in data.get("techniques", [])], "techniques lost on loading"
        svg, xlsx = output.path.with_suffix(".svg"), output.path.with_suffix(".xlsx")
        to_svg.to_svg(layer, filepath=str(svg))
        to_xlsx.to_xlsx(layer, filepath=str(xlsx))
        assert svg.is_file() and svg.stat().st_size > 0, "to_svg wrote nothing"
        assert xlsx.is_file() and xlsx.stat().st_size > 0, "to_xlsx wrote nothing"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_sigma_parses_and_converts_with_two_backends(pipeline: Pipeline, doc: Path) -> None:
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
    from sigma.backends.splunk.splunk import SplunkBackend
    from sigma.collection import SigmaCollection

    for output in _outputs(pipeline, doc, "sigma"):
        collection = SigmaCollection.from_yaml(output.text())
        errors = [str(e) for e in collection.errors] + [f"{r.title}: {e}" for r in collection.rules for e in r.errors]
        assert not errors, "; ".join(errors)[:2000]
        for backend in (SplunkBackend(), LuceneBackend()):
            queries = backend.convert(collection)
            if collection.rules:
                assert queries, f"{type(backend).__name__} made no query from {len(collection.rules)} rules"


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_name)
def test_csv_reads_back_with_no_formula_cells(pipeline: Pipeline, doc: Path) -> None:
    for output in _outputs(pipeline, doc, "csv"):
        rows = list(csv.reader(io.StringIO(output.text(), newline="")))
        assert rows, "no header row"
        width = len(rows[0])
        for number, row in enumerate(rows, 1):
            assert len(row) == width, f"row {number} has {len(row)} cells, the header {width}"
            for cell in row:
                runs = cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell)
                assert not runs, f"row {number}: a spreadsheet would run this cell as a formula: {cell[:60]!r}"


# The date each document states for itself, where it states one: front matter, a "Date:" line, feed or page or
# PDF metadata. Unlisted documents state none (or only a generator's timestamp), and are not checked here.
STATED_DATES = {
    "examples/operation-dianxun.md": "2021-03-18",             # front matter `published:`
    "tests/data/e2e/front-matter.md": "2023-09-12",            # front matter `published:`
    "tests/data/e2e/dated-bulletin.txt": "2024-03-18",         # a "Date: 2024-03-18" header line
    "tests/data/reports/gov-advisory.md": "2024-03-18",        # a "Date: 2024-03-18" line under the title
    "tests/data/e2e/advisory-table.html": "2024-05-02",        # article:published_time
    "tests/data/e2e/vendor-report.pdf": "2024-04-22",          # the PDF's CreationDate
    "tests/data/e2e/feed.rss": "2024-03-06",                   # the item's pubDate
}


@pytest.mark.parametrize("doc", [REPO / name for name in STATED_DATES], ids=list(STATED_DATES))
def test_the_date_a_document_states_reaches_its_exports(pipeline: Pipeline, doc: Path) -> None:
    expected = STATED_DATES[_name(doc)]
    stix = _outputs(pipeline, doc, "stix")
    misp = _outputs(pipeline, doc, "misp")
    for output in stix:
        reports = [o for o in json.loads(output.text())["objects"] if o["type"] == "report"]
        assert reports and all(r["published"].startswith(expected) for r in reports), \
            f"STIX report published {[r['published'] for r in reports]}, the document says {expected}"
    for output in misp:
        date = json.loads(output.text())["Event"]["date"]
        assert date == expected, f"MISP event date {date}, the document says {expected}"
    for output in _outputs(pipeline, doc, "csv"):
        rows = list(csv.DictReader(io.StringIO(output.text(), newline="")))
        assert all(row["first_seen"].startswith(expected) for row in rows), \
            f"CSV first_seen {sorted({row['first_seen'] for row in rows})}, the document says {expected}"


def test_stix_objects_shared_by_reports_change_only_with_a_new_modified(pipeline: Pipeline) -> None:
    """STIX versioning, as OpenCTI or a TAXII server applies it: an object id with the same ``modified`` in two
    bundles is the same version, so its content must be identical; report-specific text belongs on objects the
    report owns. Checked across the bundles of every document that exported (the others fail their own test)."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    conflicts: set[str] = set()
    for doc in DOCUMENTS:
        for output in pipeline.run(doc).outputs.get("stix", []):
            if output.result.code != 0 or not output.path.is_file():
                continue
            for obj in json.loads(output.text()).get("objects", []):
                key = (obj["id"], str(obj.get("modified") or obj.get("created") or ""))
                content = json.dumps(obj, sort_keys=True)
                first = seen.setdefault(key, (content, _name(doc)))
                if first[0] != content:
                    conflicts.add(f"{obj['id']} (modified {key[1] or 'absent'}): {first[1]} and {_name(doc)}")
    assert not conflicts, "same id and modified, different content:\n" + "\n".join(sorted(conflicts)[:20])


def test_publish_builds_a_site_of_every_analysis(pipeline: Pipeline) -> None:
    """Last: the site of everything the documents above stored (each is run first if it has not been)."""
    stored: set[str] = set()
    for doc in DOCUMENTS:
        stored.update(a["document"]["sha256"] for a in pipeline.run(doc).analyses)
    site = pipeline.root / "site"
    result = pipeline.cli("publish", "--out", str(site))
    assert result.code == 0, result.describe()
    text_problems(result.err, "publish stderr")
    assert result.out.startswith(f"{len(stored)} briefings"), result.out
    pages = sorted(site.rglob("*.html"))
    assert site / "index.html" in pages
    for page in pages:
        text_problems(page.read_text(encoding="utf-8"), f"site/{page.relative_to(site)}")
