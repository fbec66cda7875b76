"""`threadline actor`, `threadline technique` and `threadline kb ...`: the knowledge base from the command line."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from threadline.cli import app
from threadline.cli.common import console, listing, new_table, plain, print_json, shorten
from threadline.errors import InputError
from threadline.knowledge import index
from threadline.knowledge.profiles import lookup_actor, lookup_technique

kb_app = typer.Typer(help="Inspect, rebuild or update the knowledge base (ATT&CK + MISP galaxies).",
                     no_args_is_help=True)
app.add_typer(kb_app, name="kb")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


LISTED = 25          # items of a list shown before "+N more" (--json lists every one)


def _names(items: list[dict[str, Any]], key: str = "name", limit: int = LISTED) -> str:
    return plain(listing([str(i[key]) for i in items], limit))


def _show_candidates(result: dict[str, Any], kind: str) -> None:
    """The entries a shared name stands for; ``kind`` is what they are ("actors", "techniques")."""
    sources = any(c.get("matched_by") for c in result["candidates"])
    table = new_table("ATT&CK", "name", *(["asserted by"] if sources else []),
                      title=f"\"{plain(result['query'])}\" names several {kind}: none is picked for you")
    for c in result["candidates"]:
        table.add_row(plain(c.get("attack_id") or c.get("id") or "—"), plain(c["name"]),
                      *([plain("; ".join(str(s["source"]) for s in c.get("matched_by", [])))] if sources else []))
    console.print(table)


def _answered(result: dict[str, Any], json_out: bool, kind: str) -> bool:
    """JSON, or the candidates of a shared name, is the whole answer; otherwise the caller prints a profile."""
    if json_out:
        print_json(result)
    elif result.get("ambiguous"):
        _show_candidates(result, kind)
    return json_out or bool(result.get("ambiguous"))


@app.command()
def actor(name: Annotated[str, typer.Argument(help="Any name or alias, or an ATT&CK group id (G0129).")],
          json_out: JsonFlag = False) -> None:
    """Who is NAME? One intrusion set under every vendor's alias, with who asserts each name."""
    result = lookup_actor(index.load_kb(), name)
    if _answered(result, json_out, "actors"):
        return
    title = f"{result['name']}" + (f" ({result['attack_id']})" if result["attack_id"] else " (MISP only)")
    console.print(f"[bold]{plain(title)}[/bold]" + (f"  {plain(result['url'])}" if result["url"] else ""))
    if result["description"]:
        console.print(plain(shorten(result["description"], 600)))
    table = new_table("name", "sources", title="Names and who asserts them")
    for alias in result["aliases"] + result["related_actors"]:
        table.add_row(plain(alias["name"]), plain("; ".join(
            str(s["source"]) + (f" ({s['likelihood']})" if s.get("likelihood") else "") for s in alias["sources"])))
    console.print(table)
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("country", plain(result["country"] or "unknown"))
    facts.add_row("targets sectors", plain(", ".join(result["targeted_sectors"]) or "—"))
    facts.add_row("targets countries", plain(", ".join(result["targeted_countries"]) or "—"))
    facts.add_row("campaigns", plain("; ".join(
        f"{c['name']} ({c['attack_id']}, {c['first_seen'] or '?'} to {c['last_seen'] or '?'})"
        for c in result["campaigns"]) or "—"))
    facts.add_row("software", _names(result["software"], limit=30) or "—")
    facts.add_row("techniques", f"{len(result['techniques'])}: " + _names(result["techniques"], "id", limit=40))
    console.print(facts)


@app.command()
def technique(id_or_name: Annotated[str, typer.Argument(help="T1566.001 or a technique name.")],
              json_out: JsonFlag = False) -> None:
    """An ATT&CK technique: tactics, sub-techniques, mitigations, detection strategies, groups that use it."""
    result = lookup_technique(index.load_kb(), id_or_name)
    if _answered(result, json_out, "techniques"):
        return
    console.print(f"[bold]{plain(result['id'])} {plain(result['name'])}[/bold]  {plain(result['url'] or '')}")
    if result.get("revoked_id"):
        console.print(plain(f"({result['revoked_id']} was revoked by ATT&CK; {result['id']} replaced it)"))
    console.print(plain(f"tactics: {', '.join(result['tactics'])}; platforms: {', '.join(result['platforms'])}"))
    console.print(plain(shorten(result["description"], 800)))
    for key, label in (("subtechniques", "sub-techniques"), ("mitigations", "mitigations"),
                       ("detection_strategies", "detection strategies"), ("groups", "groups using it")):
        items = result[key]
        console.print(f"[bold]{label}[/bold] ({len(items)}): " +
                      (plain(listing([f"{i['id']} {i['name']}" for i in items], LISTED)) or "—"))
    if any(len(result[key]) > LISTED for key in ("subtechniques", "mitigations", "detection_strategies", "groups")):
        console.print("(--json lists every one)", style="dim")


@kb_app.command("stats")
def kb_stats(json_out: JsonFlag = False) -> None:
    """Counts of everything the knowledge base holds, and where it came from."""
    bundle = index.active_bundle()
    kb = index.load_kb()
    info: dict[str, Any] = {"attack_version": kb.attack.version, "attack_bundle": str(bundle),
            "misp_galaxies_version": kb.galaxies.version, "index": str(index.cache_path(bundle)),
            "counts": kb.counts()}
    if json_out:
        print_json(info)
        return
    table = Table(title=f"Knowledge base: ATT&CK Enterprise {kb.attack.version}, MISP galaxies "
                        f"{kb.galaxies.version}", title_justify="left")
    table.add_column("what", overflow="fold")
    table.add_column("count", justify="right", no_wrap=True)
    for key, value in info["counts"].items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    console.print(f"bundle: {bundle}\nindex:  {info['index']}")


@kb_app.command("rebuild")
def kb_rebuild() -> None:
    """Rebuild the index from the active bundle and the galaxies (normally automatic)."""
    bundle = index.active_bundle()
    index.cache_path(bundle).unlink(missing_ok=True)
    kb = index.load_kb(bundle)
    console.print(f"rebuilt: {kb.counts()['techniques']} techniques, {kb.counts()['groups']} groups")


@kb_app.command("update")
def kb_update(
    source: Annotated[str, typer.Option("--from", help="A newer official ATT&CK STIX bundle: file or URL.")],
    allow_private: Annotated[bool, typer.Option(help="Allow fetching from private/loopback addresses.")] = False,
) -> None:
    """Load a newer ATT&CK Enterprise bundle (STIX 2.0 or 2.1); the vendored one stays as the fallback."""
    if source.startswith(("http://", "https://")):
        from threadline.ingest import fetch
        body, _ = fetch(source, allow_private=allow_private)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            handle.write(body)
        path, label = Path(handle.name), source.rsplit("/", 1)[-1]
    else:
        path, label = Path(source).expanduser(), Path(source).name
        if not path.is_file():
            raise InputError("no such file", where=source)
    target, version = index.install_bundle(path, label=label, where=source)
    kb = index.load_kb(target)
    console.print(f"ATT&CK {version} installed at {target}: {kb.counts()['techniques']} techniques, "
                  f"{kb.counts()['subtechniques']} sub-techniques, {kb.counts()['groups']} groups")
    console.print("the store's group links were made with the earlier knowledge base: `threadline kb relink` "
                  "makes them again")


@kb_app.command("relink")
def kb_relink(
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env THREADLINE_DB).")] = None,
) -> None:
    """Make the store's group links again from every stored analysis with the active knowledge base (after
    `kb update`); attribution reads them as what earlier reports tie to each group."""
    from threadline.store import open_store
    from threadline.store.analyses import relink_analyses

    kb = index.load_kb(index.active_bundle())
    with open_store(db) as store:
        analyses, links = relink_analyses(store, kb)
    console.print(f"{links} group links from {analyses} stored analyses")

