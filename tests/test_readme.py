"""The README's command lines, run as a new user would type them, in order, in a temporary folder.

Every line of the README's ```sh blocks is a test. A line runs in one folder shared by all of them (after the lines
above it, as a reader types them), with ``THREADLINE_DB``, ``THREADLINE_CACHE`` and ``THREADLINE_DATA`` pointing
into that folder, the repository's ``examples/`` copied in, and the CLI run in-process. It must exit 0 (the
README's "0 success"), print no traceback, and write the file or folder its ``--out`` names.

The README names files a reader brings (``report.pdf``, ``feed.xml``...). Those are the sample documents in the
table :data:`SAMPLES`, copied into the folder under the README's name so that the line runs exactly as printed.
Arguments that cannot be a file in the folder (a URL, which needs the network) are replaced as :data:`REPLACED`
says. ``make`` lines are not run (:data:`NOT_RUN`). In the README, ``A | B`` where ``B`` is not a program is
notation for two sub-commands (``kb stats | kb update``), and each is run.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DATA, REPO
from tests.inprocess import Result, run_threadline

README = REPO / "README.md"
ATTACK = REPO / "src" / "threadline" / "data" / "attack" / "enterprise-attack-18.1.json.gz"

# README placeholder -> the sample document that stands for it (copied into the folder under the README's name).
SAMPLES = {
    "report.pdf": DATA / "e2e" / "vendor-report.pdf",
    "reports.jsonl": DATA / "e2e" / "reports.jsonl",
    "observations.json": DATA / "e2e" / "observations.json",
    "feed.xml": DATA / "ingest" / "harbour.rss",
    "bundle.json": DATA / "ingest" / "lanternfish-stix.json",
    "misp-event.json": DATA / "ingest" / "lanternfish-misp.json",
}
# README argument -> (what replaces it in the line, why it cannot run as printed).
REPLACED = {
    "https://vendor.example/blog/post": (str(DATA / "ingest" / "advisory.html"),
                                         "a URL needs the network: the saved HTML of a vendor blog post stands in"),
    "FILE_OR_URL": (str(ATTACK), "a placeholder: the ATT&CK bundle the package ships is a file kb update accepts"),
}
# Lines not run, by their first words, with the reason.
NOT_RUN = {
    "make": "make targets create .venv and run the whole suite (this test runs inside `make test`)",
}


@dataclass(frozen=True)
class Line:
    """One command line of a ```sh block: where it is, and the threadline commands it stands for."""

    number: int
    text: str
    commands: tuple[tuple[str, ...], ...]
    skip: str | None

    @property
    def id(self) -> str:
        return f"README.md:{self.number} {self.text[:60]}"


def _commands(tokens: list[str]) -> tuple[tuple[str, ...], ...]:
    """``threadline kb stats | kb update ...`` -> the two commands; a real pipe into another program is refused."""
    parts: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            parts.append([])
        else:
            parts[-1].append(token)
    program = parts[0][0]
    out = []
    for part in parts:
        if part[0] != program:
            part = [program, *part]   # README notation: "| kb update" is another sub-command of the same program
        out.append(tuple(part))
    return tuple(out)


def readme_lines() -> list[Line]:
    lines: list[Line] = []
    fence: str | None = None   # the language of the code block we are in, "" for a plain one
    for number, raw in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip() if fence is None else None
            continue
        if fence != "sh" or not stripped or stripped.startswith("#"):
            continue
        tokens = shlex.split(stripped, comments=True)
        skip = NOT_RUN.get(tokens[0])
        lines.append(Line(number, re.sub(r"\s+#.*$", "", stripped), _commands(tokens), skip))
    return lines


LINES = readme_lines()


class Session:
    """The reader's folder: lines run once each, in README order, the first time a test needs one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {"THREADLINE_DB": str(root / "threadline.db"), "THREADLINE_CACHE": str(root / "cache"),
                    "THREADLINE_DATA": str(root / "data")}
        shutil.copytree(REPO / "examples", root / "examples")
        for name, sample in SAMPLES.items():
            shutil.copyfile(sample, root / name)
        self.results: dict[int, list[Result]] = {}

    def results_of(self, line: Line) -> list[Result]:
        for earlier in LINES:
            if earlier.number > line.number:
                break
            if earlier.number not in self.results and earlier.skip is None:
                self.results[earlier.number] = [self._run(c) for c in earlier.commands]
        return self.results[line.number]

    def _run(self, command: tuple[str, ...]) -> Result:
        assert command[0] == "threadline", f"only threadline commands can run here, not {command[0]!r}"
        args = [REPLACED[a][0] if a in REPLACED else a for a in command[1:]]
        return run_threadline(*args, env=self.env, cwd=self.root)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tmp_path_factory.mktemp("readme"))


def test_the_readme_has_command_lines_to_run() -> None:
    runnable = [line for line in LINES if line.skip is None]
    assert len(runnable) >= 10, [line.text for line in LINES]


def test_every_sample_and_replacement_still_stands_for_a_readme_argument() -> None:
    """A stale table would hide a README line the test no longer matches."""
    used = {token for line in LINES for command in line.commands for token in command}
    stale = sorted(set(SAMPLES) - used) + sorted(set(REPLACED) - used)
    assert not stale, f"not in the README any more: {stale}"


@pytest.mark.parametrize("line", LINES, ids=lambda line: line.id)
def test_a_readme_line_runs_as_documented(session: Session, line: Line) -> None:
    if line.skip is not None:
        pytest.skip(line.skip)
    for command, result in zip(line.commands, session.results_of(line), strict=True):
        assert "Traceback (most recent call last)" not in result.err, result.err[-2000:]
        assert result.code == 0, f"README.md:{line.number}: {result.describe()}"
        if "--out" in command:
            target = session.root / command[command.index("--out") + 1]
            assert target.exists(), f"README.md:{line.number}: --out {target.name} was not written"
