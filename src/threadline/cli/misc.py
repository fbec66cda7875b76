"""`threadline settings` and `threadline version`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from threadline import __version__, settings
from threadline.cli import app
from threadline.cli.common import console, err_console, plain, print_json


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
        table = Table(title="Settings (CLI option > environment variable > default)")
        for column in ("name", "env", "value", "help"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["name"], row["env"], plain(row["value"]), row["help"])
        console.print(table)
    for problem in problems.values():
        err_console.print(f"threadline: {plain(problem)}", highlight=False)
    if problems:
        raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print Threadline's version."""
    print(__version__)
