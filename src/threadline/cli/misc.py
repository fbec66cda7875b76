"""`threadline settings` and `threadline version`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from threadline import __version__, settings
from threadline.cli import app
from threadline.cli.common import console, print_json


@app.command("settings")
def show_settings(json_out: Annotated[bool, typer.Option("--json")] = False,
                  markdown: Annotated[bool, typer.Option("--markdown", help="The table as Markdown (docs).")] = False
                  ) -> None:
    """Every setting, its environment variable, its default and its current value."""
    if markdown:
        print(settings.as_markdown(), end="")
        return
    rows = [{"name": s.name, "env": s.env, "default": s.default, "value": s.value(), "help": s.help}
            for s in settings.SETTINGS]
    if json_out:
        print_json(rows)
        return
    table = Table(title="Settings (CLI option > environment variable > default)")
    for column in ("name", "env", "value", "help"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["env"], row["value"], row["help"])
    console.print(table)


@app.command()
def version() -> None:
    """Print Threadline's version."""
    print(__version__)
