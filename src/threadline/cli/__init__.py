"""The one ``threadline`` command: each sub-command is a thin call into a pipeline stage.

Stage modules register their commands on :data:`app` when imported below; a :class:`ThreadlineError`
anywhere becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from threadline.errors import NotFoundError, ThreadlineError

app = typer.Typer(
    name="threadline",
    help="Offline CTI analysis: ingest reports, extract indicators and ATT&CK techniques, attribute, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Importing a module registers its commands on `app`.
from threadline.cli import analyze as _analyze  # noqa: E402,F401
from threadline.cli import attribute as _attribute  # noqa: E402,F401
from threadline.cli import export as _export  # noqa: E402,F401
from threadline.cli import ingest as _ingest  # noqa: E402,F401
from threadline.cli import iocs as _iocs  # noqa: E402,F401
from threadline.cli import knowledge as _knowledge  # noqa: E402,F401
from threadline.cli import misc as _misc  # noqa: E402,F401
from threadline.cli import publish as _publish  # noqa: E402,F401
from threadline.cli import techniques as _techniques  # noqa: E402,F401
from threadline.cli import web as _web  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    try:
        code = app(standalone_mode=False)   # with standalone_mode off, click returns typer.Exit's code
    except ThreadlineError as exc:
        print(f"threadline: {exc.one_line()}", file=sys.stderr)
        sys.exit(1 if isinstance(exc, NotFoundError) else 2)
    except (typer.Abort, KeyboardInterrupt):
        print("threadline: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Usage errors (a missing argument, an unknown command) come from the click that typer uses, vendored in
        # recent typer releases; they are recognised by what they can do rather than by class.
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
