"""``slopscore outbox deliver|list|retry``: members' private messages waiting for the platform.

Delivery posts each queued message, signed, to the platform's webhook (see
:mod:`slopscore.delivery.signing` for how the receiver checks it). httpx and SQLAlchemy are
imported inside the commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from slopscore.cli.web import DEFAULT_DB, DbOption, _fail, _open

__all__ = ["delivery_config", "outbox_app", "register"]

outbox_app = typer.Typer(help="Private messages to members, waiting for (or delivered to) the platform's webhook.",
                         no_args_is_help=True)


def delivery_config(webhook_url: str, secret_file: Path, **options):
    """The delivery settings, or an ``error:`` line and exit 2 (bad URL, short or unreadable secret).
    A secret file other accounts can read gets a warning."""
    from slopscore.delivery.settings import DeliveryConfig, DeliveryConfigError
    from slopscore.delivery.signing import load_secret

    try:
        config = DeliveryConfig(webhook_url=webhook_url, secret=load_secret(secret_file), **options)
    except DeliveryConfigError as exc:
        _fail(str(exc))
    if secret_file.stat().st_mode & 0o077:
        typer.secho(f"warning: other accounts can read the webhook secret file {secret_file}; chmod 600 it",
                    err=True, fg=typer.colors.YELLOW)
    return config


@outbox_app.command("deliver")
def deliver(
    webhook_url: Annotated[str, typer.Option("--webhook-url", envvar="SLOPSCORE_WEBHOOK_URL", help="The platform's endpoint (http or https; redirects are not followed).")],
    secret_file: Annotated[Path, typer.Option("--secret-file", envvar="SLOPSCORE_WEBHOOK_SECRET_FILE", dir_okay=False, help="File holding the shared signing secret (at least 32 bytes).")],
    db: DbOption = DEFAULT_DB,
    watch: Annotated[bool, typer.Option("--watch", help="Keep delivering every --interval seconds until Ctrl+C.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.5, max=3600, help="Seconds between passes with --watch.")] = 5.0,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, max=100, help="Attempts before a message is marked failed.")] = 8,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=300, help="Seconds to connect, and for each read or write, per attempt.")] = 10.0,
) -> None:
    """Post every due message to the webhook once (or keep doing so with --watch)."""
    from sqlalchemy.exc import SQLAlchemyError

    from slopscore.delivery.webhook import make_client
    from slopscore.delivery.worker import deliver_due

    config = delivery_config(webhook_url, secret_file, max_attempts=max_attempts, timeout_s=timeout)
    engine = _open(db, create=False)
    if config.webhook_url.lower().startswith("http://"):
        typer.secho("warning: the webhook URL is plain http; messages cross the network unencrypted",
                    err=True, fg=typer.colors.YELLOW)
    with make_client(config) as client:
        if not watch:
            try:
                typer.echo(str(deliver_due(engine, config, client=client)))
            except SQLAlchemyError as exc:
                _fail(f"cannot use the review queue: {(str(exc).strip().splitlines() or ['failed'])[0]}")
            return
        typer.echo(f"delivering every {interval:g} s (Ctrl+C stops)")
        try:
            while True:
                try:
                    report = deliver_due(engine, config, client=client)
                    if report.attempted:
                        typer.echo(str(report))
                except SQLAlchemyError as exc:  # the database away for a moment: try again next pass
                    first = (str(exc).strip().splitlines() or ["failed"])[0]
                    typer.secho(f"warning: delivery pass failed: {first}", err=True, fg=typer.colors.YELLOW)
                time.sleep(interval)
        except KeyboardInterrupt:
            typer.echo("stopped")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@outbox_app.command("list")
def list_messages(
    db: DbOption = DEFAULT_DB,
    state: Annotated[Optional[str], typer.Option("--state", help="Only messages in this state: queued, delivered, failed or withdrawn.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest messages shown at most.")] = 50,
) -> None:
    """List messages, newest first: message id, item, state, attempts, next attempt, last error (never the text)."""
    from slopscore.review.outbox import list_outbox, outbox_counts
    from slopscore.review.validation import InvalidInput

    engine = _open(db, create=False)
    try:
        records = list_outbox(engine, state=state, limit=limit)
    except InvalidInput as exc:
        _fail(str(exc))
    for r in records:
        typer.echo(f"{r.message_id}\t{r.item_id}\t{r.state.value}\tattempts {r.attempts}\t"
                   f"next {_when(r.next_attempt_at)}\t{r.last_error or '-'}")
    typer.echo(", ".join(f"{state.value} {count}" for state, count in outbox_counts(engine).items()))


@outbox_app.command("retry")
def retry(
    message_id: Annotated[Optional[str], typer.Argument(help="The failed message to queue again.")] = None,
    db: DbOption = DEFAULT_DB,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Queue every failed message again.")] = False,
) -> None:
    """Queue a failed message (or all of them) for a fresh series of attempts."""
    from slopscore.review.outbox import requeue_failed
    from slopscore.review.validation import InvalidInput, ItemNotFound, utcnow

    if (message_id is None) == (not all_failed):
        _fail("give a MESSAGE_ID or --all-failed (not both)")
    engine = _open(db, create=False)
    try:
        count = requeue_failed(engine, None if all_failed else message_id, now=utcnow())
    except (InvalidInput, ItemNotFound) as exc:
        _fail(str(exc))
    typer.echo(f"queued {count} message{'s' if count != 1 else ''} again")


def register(app: typer.Typer) -> None:
    """Add ``outbox`` to ``app``."""
    app.add_typer(outbox_app, name="outbox")
