"""Run ``threadline ARGS...`` inside the test process, as a user would from a shell, but without a subprocess.

A subprocess costs about 3 s (interpreter, imports, the knowledge base); in-process the knowledge base loads once
per test session, so the end-to-end and README tests can run dozens of commands in seconds. Unlike the
function-scoped ``run_cli`` fixture this runner can be used from module-scoped fixtures: it sets its own
environment and working folder and restores them afterwards. An exception that escapes the CLI (a crash a user
would see as a traceback) is caught and returned as a traceback on stderr with exit status 1, so the caller's
"no traceback" check names the command instead of the test erroring out.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    """What a shell user would see: the exit status, stdout and stderr."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def describe(self) -> str:
        """One line for an assertion message: the command, its status and the last line of stderr."""
        last = (self.err.strip().splitlines() or [""])[-1]
        return f"`threadline {' '.join(self.args)}` exited {self.code}: {last[:300]}"


@contextlib.contextmanager
def _environment(env: Mapping[str, str], cwd: Path | None) -> Iterator[None]:
    saved_env = {name: os.environ.get(name) for name in env}
    saved_cwd = Path.cwd()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_threadline(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                   stdin: str | None = None) -> Result:
    """Run the console script's ``main()`` with ``args``; returns what the user would have seen."""
    from threadline.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_stdin = sys.argv, sys.stdin
    sys.argv = ["threadline", *args]
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    code = 0
    try:
        with _environment(env or {}, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:   # a crash: shown to the caller as the traceback a user would get
                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.stdin = saved_argv, saved_stdin
    return Result(tuple(args), code, out.getvalue(), err.getvalue())
