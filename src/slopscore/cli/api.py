"""``slopscore api`` (scoring at upload time) and ``slopscore api-key add|list|revoke``.

Heavy modules (torch, FastAPI, uvicorn) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from slopscore.cli.web import DEFAULT_DB, CreateOption, DbOption, _fail, _open

__all__ = ["register"]


def _upload_dir(db: str, given: Path | None) -> Path:
    """``--upload-dir``, else ``<database>.uploads`` beside a SQLite file, else ``api-uploads``."""
    if given is not None:
        return given
    from sqlalchemy.engine import make_url

    url = make_url(db)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(f"{url.database}.uploads")
    return Path("api-uploads")


def api(
    model: Annotated[str, typer.Option("--model", "-m", help="MLflow model URI (models:/NAME@ALIAS, runs:/...) or a saved scorer folder.")],
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8100,
    max_file_mb: Annotated[float, typer.Option(min=0.01, max=1024, help="Largest upload, MiB (413 over it).")] = 20.0,
    max_request_mb: Annotated[float, typer.Option(min=0.01, max=4096, help="Largest request body, MiB (413 over it).")] = 100.0,
    rate_limit: Annotated[float, typer.Option(min=1, help="Uploads per minute per API key (429 with Retry-After over it).")] = 600.0,
    max_history: Annotated[int, typer.Option(min=1, max=100_000, help="Most recent earlier works per artist read from the artworks table.")] = 500,
    max_wait_ms: Annotated[float, typer.Option(min=0, max=100, help="How long the encoder waits for requests arriving together.")] = 4.0,
    upload_dir: Annotated[Optional[Path], typer.Option("--upload-dir", file_okay=False, help="Where uploads written to the queue are kept (default: <db>.uploads beside a SQLite file).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", envvar="SLOPSCORE_CONFIG", exists=True, dir_okay=False, help="Settings file (YAML).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", envvar="SLOPSCORE_CACHE_DIR", file_okay=False, help="Embedding cache folder.")] = None,
    mlflow_store: Annotated[Optional[Path], typer.Option("--mlflow-store", envvar="SLOPSCORE_MLFLOW_STORE", file_okay=False, help="Local MLflow store folder.")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = True,
    create: CreateOption = False,
) -> None:
    """Serve the scoring API: POST /v1/score and /v1/score/batch with an API key (docs at /docs)."""
    from slopscore.cli.main import _settings, _user_errors

    engine = _open(db, create=create)
    settings = _settings(config, cache_dir=cache_dir, mlflow_store=mlflow_store)
    import uvicorn

    from slopscore.batch.score_table import load_scorer
    from slopscore.review.api_keys import list_api_keys
    from slopscore.review.database import redacted
    from slopscore.web.api_app import create_api_app
    from slopscore.web.api_limits import RateLimiter
    from slopscore.web.api_scoring import UploadScorer
    from slopscore.web.api_uploads import MAX_BATCH
    from slopscore.web.server import server_config

    with _user_errors(db):
        scorer = load_scorer(model, settings.tracking.store_dir)
        service = UploadScorer(scorer, settings, engine, upload_dir=_upload_dir(db, upload_dir),
                               max_history=max_history, max_wait_s=max_wait_ms / 1000)
    max_file, max_request = round(max_file_mb * 2**20), round(max_request_mb * 2**20)
    if max_file > max_request:
        _fail("--max-file-mb must not exceed --max-request-mb")
    app = create_api_app(service, engine, max_file_bytes=max_file, max_request_bytes=max_request,
                         rate_limiter=RateLimiter(per_minute=rate_limit, burst=max(MAX_BATCH, round(rate_limit / 6))))
    if not any(key.active for key in list_api_keys(engine)):
        typer.secho("no active API keys yet: create one with  slopscore api-key add NAME", err=True,
                    fg=typer.colors.YELLOW)
    typer.echo(f"model {scorer.info.model_version} ({scorer.info.backbone_id}); queue {redacted(db)}")
    typer.echo(f"listening on http://{host}:{port}/v1/score (docs at /docs; Ctrl+C stops)")
    uvicorn.Server(server_config(app, host=host, port=port, access_log=access_log)).run()


key_app = typer.Typer(help="API keys of the platform's integrations: the scoring API and members' replies to "
                                 "slopscore serve (only a hash is stored).", no_args_is_help=True)


@key_app.command("add")
def key_add(name: Annotated[str, typer.Argument(help="Client name (letters, digits, . _ -).")],
            db: DbOption = DEFAULT_DB, create: CreateOption = False) -> None:
    """Create a key for client NAME and print it once (it cannot be shown again)."""
    from slopscore.review.api_keys import create_api_key
    from slopscore.review.validation import InvalidInput

    try:
        key, info = create_api_key(_open(db, create=create), name)
    except InvalidInput as exc:
        _fail(str(exc))
    typer.echo(f"API key {info.key_id} for {info.name} (shown once; store it now):")
    typer.echo(key)


@key_app.command("list")
def key_list(db: DbOption = DEFAULT_DB) -> None:
    """List keys: id, client, created, revoked (never the key)."""
    from slopscore.review.api_keys import list_api_keys

    keys = list_api_keys(_open(db, create=False))
    if not keys:
        typer.echo("no API keys")
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        typer.echo(f"{key.key_id}  {key.name:<24} created {key.created_at:%Y-%m-%d %H:%M}  {state}")


@key_app.command("revoke")
def key_revoke(name_or_key_id: Annotated[str, typer.Argument(help="A key id, or a client name (all its keys).")],
               db: DbOption = DEFAULT_DB) -> None:
    """Revoke a key (by id) or every active key of a client (by name); effective at once."""
    from slopscore.review.api_keys import revoke_api_keys
    from slopscore.review.validation import ItemNotFound

    try:
        count = revoke_api_keys(_open(db, create=False), name_or_key_id)
    except ItemNotFound as exc:
        _fail(str(exc))
    typer.echo(f"revoked {count} key{'s' if count != 1 else ''}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("api")(api)
    app.add_typer(key_app, name="api-key")
