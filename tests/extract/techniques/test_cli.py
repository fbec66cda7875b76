"""`threadline techniques` on a file and in --jsonl batch mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from threadline.cli import app

TEXT = ("The intruders sent spearphishing emails with a malicious attachment to the finance team. "
        "They created a scheduled task to run the implant at every logon. The operators never used RDP.")


def test_file_json(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = CliRunner().invoke(app, ["techniques", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ids = {t["id"] for t in out["techniques"]}
    assert any(i.startswith("T1566") for i in ids)
    assert all(t["evidence"] for t in out["techniques"] if not t["inferred"])


def test_jsonl_batch() -> None:
    lines = "\n".join(json.dumps({"id": f"r{i}", "text": TEXT}) for i in range(2)) + "\n"
    result = CliRunner().invoke(app, ["techniques", "--jsonl", "-"], input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["id"] for r in rows] == ["r0", "r1"]
    assert all(isinstance(r["techniques"], list) and r["techniques"] for r in rows)


def test_missing_file_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["techniques", "/nonexistent/report.txt"])
    assert result.exit_code != 0


def test_url_source_refused_on_loopback_unless_allowed(run_cli) -> None:  # type: ignore[no-untyped-def]
    """A URL goes through the SSRF-safe fetch: loopback only with --allow-private (server started here)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Report(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = TEXT.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Report)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/report.txt"
    try:
        refused = run_cli("techniques", url, "--json")
        allowed = run_cli("techniques", url, "--json", "--allow-private")
    finally:
        server.shutdown()
    assert refused[0] == 2 and "loopback" in refused[2] and not refused[1]
    assert allowed[0] == 0, allowed[2]
    assert any(t["id"].startswith("T1566") for t in json.loads(allowed[1])["techniques"])


def test_the_table_lists_what_the_text_says_and_sums_up_what_software_implies(tmp_path: Path) -> None:
    # Issue 14: inferred techniques (everything ATT&CK lists for Mimikatz) buried the two the sentence states.
    path = tmp_path / "brief.txt"
    path.write_text("APT28 used Mimikatz and spearphishing attachments.\n", encoding="utf-8")
    runner = CliRunner()

    def words(args: list[str]) -> str:      # the console may wrap lines at any width
        result = runner.invoke(app, ["techniques", str(path), *args])
        assert result.exit_code == 0, result.output
        return " ".join(result.stdout.split())

    out = json.loads(runner.invoke(app, ["techniques", str(path), "--json"]).stdout)
    inferred = [t["id"] for t in out["techniques"] if t["inferred"]]
    table, listed = words([]), words(["--inferred"])
    assert "T1566.001" in table and inferred
    assert f"{len(inferred)} more techniques inferred from named software, not from the text (S0002 Mimikatz)" in table
    def shown(tid: str, text: str) -> bool:
        return re.search(rf"(?<![\w.]){re.escape(tid)}(?![\w.])", text) is not None

    assert not any(shown(tid, table) for tid in inferred) and all(shown(tid, listed) for tid in inferred)
