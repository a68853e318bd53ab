"""``slopscore serve`` (the moderator web app) and the queue database's admin commands.

``moderator add|passwd|disable|enable``, ``db upgrade`` and ``decisions export``.
Heavy modules (FastAPI, uvicorn, SQLAlchemy, pandas) are imported inside the commands.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["DEFAULT_DB", "register", "secret_key_for"]

#: The SQLite file ``make demo`` writes.
DEFAULT_DB = "sqlite:///demo/queue.db"
_SECRET_ENV = "SLOPSCORE_SECRET_KEY"

DbOption = Annotated[
    str,
    typer.Option("--db", envvar="SLOPSCORE_QUEUE_URL",
                 help="Review queue database URL: sqlite:///path.db or postgresql+psycopg://..."),
]
CreateOption = Annotated[
    bool, typer.Option("--create", help="Create the database (SQLite file, or the schema) if it holds no queue yet.")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _open(db: str, *, create: bool = True):
    """Open (and migrate) the queue; with ``create=False`` refuse a database that holds none yet."""
    from slopscore.cli.queue_checks import missing_queue
    from slopscore.review.database import QueueUnavailableError, open_queue

    if not create and (why := missing_queue(db)):
        _fail(why)
    try:
        return open_queue(db)
    except QueueUnavailableError as exc:
        _fail(str(exc))


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def secret_key_for(db: str) -> tuple[str, str]:
    """The session-signing key and where it came from.

    ``SLOPSCORE_SECRET_KEY`` (at least 32 characters) wins. Otherwise, for a SQLite
    file, a key is generated once and kept in ``<database>.secret`` (mode 0600) so that
    sign-ins survive restarts; for other databases a fresh key is made per start.
    """
    from sqlalchemy.engine import make_url

    from_env = os.environ.get(_SECRET_ENV, "")
    if from_env:
        if len(from_env) < 32:
            _fail(f"{_SECRET_ENV} must have at least 32 characters")
        return from_env, _SECRET_ENV
    url = make_url(db)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(f"{url.database}.secret")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if path.stat().st_mode & 0o077:
                _fail(f"{path} is readable by other users; chmod 600 it")
            key = path.read_text().strip()
            if len(key) < 32:
                _fail(f"{path} holds no usable key; delete it to make a new one")
            return key, str(path)
        key = secrets.token_urlsafe(48)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(key + "\n")
        return key, str(path)
    typer.secho(f"warning: {_SECRET_ENV} is not set; sign-ins end when the server restarts",
                err=True, fg=typer.colors.YELLOW)
    return secrets.token_urlsafe(48), "generated for this run"


def serve(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    claim_minutes: Annotated[float, typer.Option(min=0.1, max=1440, help="How long a claim holds an item for its moderator.")] = 15.0,
    max_open_claims: Annotated[int, typer.Option(min=1, max=1000, help="Unexpired claims one moderator may hold at once.")] = 5,
    idle_minutes: Annotated[float, typer.Option(min=1, max=720, help="A sign-in ends after this long without a request.")] = 30.0,
    forwarded_allow_ips: Annotated[str, typer.Option("--forwarded-allow-ips", help="Comma-separated addresses of reverse proxies whose X-Forwarded-For is trusted (for the login throttle); none by default.")] = "",
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies", help="Mark the session cookie Secure (serve behind HTTPS).")] = False,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = True,
    create: CreateOption = False,
    webhook_url: Annotated[Optional[str], typer.Option("--webhook-url", envvar="SLOPSCORE_WEBHOOK_URL", help="Deliver members' messages from the outbox to this platform endpoint while serving (signed; see slopscore outbox).")] = None,
    webhook_secret_file: Annotated[Optional[Path], typer.Option("--webhook-secret-file", envvar="SLOPSCORE_WEBHOOK_SECRET_FILE", dir_okay=False, help="File holding the webhook's shared signing secret (at least 32 bytes).")] = None,
    reply_rate_limit: Annotated[float, typer.Option(min=1, max=100_000, help="Members' replies per minute one API key may post to /api/v1/replies (429 over it).")] = 120.0,
) -> None:
    """Serve the moderator review web app (queue, items, the policy's steps; no removal).

    With ``--webhook-url``, a background worker delivers the outbox's messages to the
    platform (as ``slopscore outbox deliver --watch`` would); without it, messages wait in
    the outbox for that command.
    """
    engine = _open(db, create=create)
    worker = None
    if webhook_url:
        from slopscore.cli.outbox import delivery_config
        from slopscore.delivery.worker import DeliveryWorker

        if webhook_secret_file is None:
            _fail("--webhook-url needs --webhook-secret-file (the shared signing secret)")
        worker = DeliveryWorker(engine, delivery_config(webhook_url, webhook_secret_file))
    import uvicorn
    from sqlalchemy import func, select

    from slopscore.review.database import redacted
    from slopscore.review.schema import Moderator, QueueItem
    from slopscore.web.app import create_app
    from slopscore.web.server import server_config

    key, origin = secret_key_for(db)
    app = create_app(engine, secret_key=key, claim_seconds=max(1, round(claim_minutes * 60)),
                     secure_cookies=secure_cookies, max_open_claims=max_open_claims,
                     idle_seconds=min(12 * 3600, max(60, round(idle_minutes * 60))), delivery_worker=worker,
                     reply_rate_limit=reply_rate_limit)
    with engine.connect() as connection:
        n_items = connection.execute(select(func.count()).select_from(QueueItem)).scalar_one()
        n_mods = connection.execute(select(func.count()).select_from(Moderator)).scalar_one()
    typer.echo(f"queue {redacted(db)}: {n_items} items; session key from {origin}")
    if not n_mods:
        typer.secho("no moderator accounts yet: add one with  slopscore moderator add NAME",
                    err=True, fg=typer.colors.YELLOW)
    if host not in {"127.0.0.1", "::1", "localhost"} and not secure_cookies:
        typer.secho("warning: listening beyond loopback without --secure-cookies; put HTTPS in front",
                    err=True, fg=typer.colors.YELLOW)
    typer.echo(f"open http://{host}:{port}/ (Ctrl+C stops)")
    if worker is not None:
        typer.echo(f"delivering members' messages to {worker.config.webhook_url}")
        worker.start()
    else:
        typer.echo("no --webhook-url: members' messages wait in the outbox (slopscore outbox deliver)")
    try:
        uvicorn.Server(server_config(app, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips,
                                     access_log=access_log)).run()
    finally:
        if worker is not None:
            worker.stop()


moderator_app = typer.Typer(help="Moderator accounts (passwords are stored as salted scrypt hashes).",
                            no_args_is_help=True)


@moderator_app.command("add")
def moderator_add(username: Annotated[str, typer.Argument(help="Sign-in name.")],
                  db: DbOption = DEFAULT_DB, password_stdin: PasswordStdin = False,
                  create: CreateOption = False,
                  role: Annotated[str, typer.Option(help="moderator (decides) or admin (also manages "
                                                         "templates and accounts).")] = "moderator") -> None:
    """Create an account; the password is asked for (hidden) or read from stdin."""
    from slopscore.review.accounts import create_moderator
    from slopscore.review.validation import InvalidInput

    engine = _open(db, create=create)
    try:
        create_moderator(engine, username, _read_password(password_stdin), role=role)
    except InvalidInput as exc:
        _fail(str(exc))
    typer.echo(f"{role if role in ('moderator', 'admin') else 'account'} {username} added")


@moderator_app.command("list")
def moderator_list(db: DbOption = DEFAULT_DB) -> None:
    """List the accounts: username, role, active or disabled, created (never a password hash)."""
    from slopscore.review.accounts import list_moderators

    accounts = list_moderators(_open(db, create=False))
    for account in accounts:
        created = account.created_at.strftime("%Y-%m-%d %H:%M") if account.created_at else "?"
        typer.echo(f"{account.username}\t{account.role.value}\t{'active' if account.active else 'disabled'}"
                   f"\tcreated {created}")
    typer.echo(f"{len(accounts)} moderator{'s' if len(accounts) != 1 else ''}")


@moderator_app.command("passwd")
def moderator_passwd(username: str, db: DbOption = DEFAULT_DB,
                     password_stdin: PasswordStdin = False) -> None:
    """Set a moderator's password."""
    from slopscore.review.accounts import set_password
    from slopscore.review.validation import InvalidInput, ItemNotFound

    engine = _open(db)
    try:
        set_password(engine, username, _read_password(password_stdin))
    except (InvalidInput, ItemNotFound) as exc:
        _fail(str(exc))
    typer.echo(f"password of {username} changed")


def _set_active(username: str, db: str, active: bool) -> None:
    from slopscore.review.accounts import LastAdmin, set_active
    from slopscore.review.validation import ItemNotFound

    try:
        set_active(_open(db), username, active)
    except (ItemNotFound, LastAdmin) as exc:
        _fail(str(exc))
    typer.echo(f"moderator {username} {'enabled' if active else 'disabled'}")


@moderator_app.command("role")
def moderator_role(username: str, role: Annotated[str, typer.Argument(help="moderator or admin.")],
                   db: DbOption = DEFAULT_DB) -> None:
    """Make an account a moderator (decides) or an admin (also manages templates and accounts)."""
    from slopscore.review.accounts import LastAdmin, set_role
    from slopscore.review.validation import InvalidInput, ItemNotFound

    try:
        set_role(_open(db), username, role)
    except (InvalidInput, ItemNotFound, LastAdmin) as exc:
        _fail(str(exc))
    typer.echo(f"{username} is now {role}")


@moderator_app.command("disable")
def moderator_disable(username: str, db: DbOption = DEFAULT_DB) -> None:
    """Stop an account from signing in (its open sessions end at their next request)."""
    _set_active(username, db, False)


@moderator_app.command("enable")
def moderator_enable(username: str, db: DbOption = DEFAULT_DB) -> None:
    """Allow a disabled account to sign in again."""
    _set_active(username, db, True)


db_app = typer.Typer(help="The review queue database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = DEFAULT_DB) -> None:
    """Create the database or migrate it to this version's schema (idempotent)."""
    from slopscore.review.database import current_revision, redacted

    engine = _open(db)
    typer.echo(f"{redacted(db)} is at schema revision {current_revision(engine)}")


decisions_app = typer.Typer(help="Moderator decisions (the audit log).", no_args_is_help=True)


@decisions_app.command("export")
def decisions_export(
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="labels.csv or labels.parquet")],
    db: DbOption = DEFAULT_DB,
    raw_csv: Annotated[bool, typer.Option("--raw-csv", help="Write CSV text cells as they are; by default cells a spreadsheet would run as a formula (= + - @) get a ' in front.")] = False,
) -> None:
    """Export each upload's latest decision as a training label (review_outcome)."""
    from slopscore.review.export import export_decisions
    from slopscore.review.validation import InvalidInput

    engine = _open(db)
    try:
        n_rows = export_decisions(engine, out, raw_csv=raw_csv)
    except InvalidInput as exc:
        _fail(str(exc))
    typer.echo(f"wrote {n_rows} labelled uploads to {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)
    app.add_typer(moderator_app, name="moderator")
    app.add_typer(db_app, name="db")
    app.add_typer(decisions_app, name="decisions")
