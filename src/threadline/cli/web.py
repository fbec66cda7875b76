"""`threadline serve`, `threadline user add` and `threadline token create`: the web app and its accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from threadline.cli import app
from threadline.errors import InputError

user_app = typer.Typer(help="Web accounts: `user add NAME --role viewer|analyst|admin`.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: `token create NAME` prints a new token for the user.", no_args_is_help=True)
app.add_typer(user_app, name="user")
reviews_app = typer.Typer(help="Analysts' verdicts from the review loop: `reviews export` (training data).",
                          no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(reviews_app, name="reviews")

Db = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env THREADLINE_DB).")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (env THREADLINE_WEB_HOST; "
                                             "default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (env THREADLINE_WEB_PORT; default 8000).")] = None,
    db: Db = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Analyse submitted reports on this Dask "
                                                  "cluster (tcp://HOST:PORT; env THREADLINE_SCHEDULER); default: "
                                                  "a thread in the server.")] = None,
) -> None:
    """The web app and JSON API over the store: briefings, actors, techniques, indicators, submit, TAXII 2.1."""
    import uvicorn

    from threadline import settings
    from threadline.store import open_store
    from threadline.web import create_app

    bind = settings.get("web_host", host)
    number = int(settings.get_number("web_port", str(port) if port is not None else None))
    if not 0 < number < 65536:
        raise InputError(f"not a TCP port: {number}", where="--port")
    cluster = settings.get("scheduler", scheduler).strip() or None
    if cluster is not None and "://" not in cluster:
        raise InputError("a Dask scheduler address looks like tcp://HOST:PORT", where=cluster)
    store = open_store(db)
    application = create_app(store, scheduler=cluster)
    sys.stderr.write(f"threadline: serving {store.url} on http://{bind}:{number}/ (Ctrl-C stops)\n")
    if cluster is not None:
        sys.stderr.write(f"threadline: submitted reports are analysed on the Dask cluster at {cluster}\n")
    try:
        uvicorn.run(application, host=bind, port=number, log_level="warning", proxy_headers=False)
    finally:
        store.close()


def _password(stdin: bool) -> str:
    if stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        raise InputError("the two passwords differ", where="password")
    return str(first)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option("--role", help="viewer (TLP:CLEAR, GREEN), analyst (up to AMBER+STRICT; "
                                      "submits and reviews) or admin (also TLP:RED).")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line "
                                                 "of stdin (the default when stdin is not a terminal).")] = False,
    db: Db = None,
) -> None:
    """Add a web account; the password is read from stdin or prompted for, and stored as an argon2 hash."""
    from threadline.store import open_store
    from threadline.web.auth import add_user

    password = _password(password_stdin)
    with open_store(db) as store:
        add_user(store, name, role.strip().lower(), password)
    sys.stdout.write(f"user {name} added ({role})\n")


@token_app.command("create")
def token_create(name: Annotated[str, typer.Argument(help="The user the token acts as.")], db: Db = None) -> None:
    """Print a new API token (send it as `Authorization: Bearer TOKEN`); only its hash is stored."""
    from threadline.store import open_store
    from threadline.web.auth import create_token

    with open_store(db) as store:
        secret = create_token(store, name)
    sys.stdout.write(secret + "\n")


@reviews_app.command("export")
def reviews_export(
    out: Annotated[str, typer.Option("--out", help="File to write (default: standard output).")] = "-",
    db: Db = None,
) -> None:
    """Technique verdicts as training data, one JSON object a line (sentence, technique, verdict, machine's
    technique, report, its TLP, reviewer), from every report in the store whatever its marking: the web's
    /reviews/training.jsonl without a server, for `threadline train techniques --reviews FILE`."""
    from pathlib import Path

    from threadline.store import open_store
    from threadline.web.reviews import as_jsonl, training_records

    with open_store(db) as store:
        records = training_records(store)
    body = as_jsonl(records)
    if out == "-":
        sys.stdout.write(body)
        return
    try:
        Path(out).write_text(body, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write ({exc.strerror})", where=out) from None
    sys.stderr.write(f"threadline: {len(records)} reviewed technique sentences written to {out}\n")
