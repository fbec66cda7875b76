"""`threadline settings` and `threadline version`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column

from threadline import __version__, settings
from threadline.cli import app
from threadline.cli.common import console, err_console, new_table, plain, print_json


@app.command("settings")
def show_settings(json_out: Annotated[bool, typer.Option("--json")] = False,
                  markdown: Annotated[bool, typer.Option("--markdown", help="The table as Markdown (docs).")] = False
                  ) -> None:
    """Every setting, its environment variable, its default and its current value; exit 2 if one is unusable."""
    if markdown:
        print(settings.as_markdown(), end="")
        return
    problems = settings.problems()
    rows = [{"name": s.name, "env": s.env, "default": s.default,
             "value": settings.shown_db(s.value()) if s.name == "db" else s.value(), "help": s.help,
             "problem": problems.get(s.name)}
            for s in settings.SETTINGS]
    if json_out:
        print_json(rows)
    else:
        # Name, variable and what it does share a cell (the variable is never folded), and a value equal to the
        # default says so instead of repeating it: the table fits 80 columns (it cut variables to "THREADLINE_FE…").
        table = new_table("default", "value", show_lines=True,
                          title="Settings (CLI option > environment variable > default)")
        width = max(len(s.env) for s in settings.SETTINGS)
        table.columns.insert(0, Column("setting", width=width, overflow="fold"))
        for row in rows:
            value = "[dim](default)[/dim]" if row["value"] == row["default"] else plain(row["value"] or "(empty)")
            table.add_row(f"[bold]{row['name']}[/bold]\n{row['env']}\n[dim]{plain(row['help'])}[/dim]",
                          plain(settings.shown_default(str(row["default"])) or "(empty)"), value)
        console.print(table)
    for problem in problems.values():
        err_console.print(f"threadline: {plain(problem)}", highlight=False)
    if problems:
        raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print Threadline's version."""
    print(__version__)
