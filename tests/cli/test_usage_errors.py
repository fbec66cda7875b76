"""Usage mistakes get typer's short usage message and exit 2, never a traceback."""

from __future__ import annotations


def test_missing_argument(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("actor")
    assert code == 2 and "Traceback" not in err and "Missing" in err


def test_unknown_command(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("nosuchcommand")
    assert code == 2 and "Traceback" not in err and "No such command" in err
