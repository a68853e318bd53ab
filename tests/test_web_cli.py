"""``slopscore serve``, ``moderator``, ``db upgrade`` and ``decisions export`` commands."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from slopscore.cli.main import app
from slopscore.cli.web import secret_key_for
from slopscore.review.accounts import authenticate
from slopscore.review.database import head_revision, open_queue
from slopscore.review.decisions import claim_item, decide
from slopscore.review.schema import Action
from tests.test_web_support import PASSWORD, make_app

runner = CliRunner()


def test_moderator_accounts_are_managed_from_the_command_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    refused = runner.invoke(app, ["moderator", "add", "alice", "--db", db, "--password-stdin"],
                            input=PASSWORD + "\n")  # a typo in --db must not make a new, empty queue
    assert refused.exit_code == 2 and "--create" in refused.output and not (tmp_path / "q.db").exists()
    assert refused.output.strip().startswith("error:") and len(refused.output.strip().splitlines()) == 1
    added = runner.invoke(app, ["moderator", "add", "alice", "--db", db, "--password-stdin", "--create"],
                          input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    engine = open_queue(db)
    assert authenticate(engine, "alice", PASSWORD) == "alice"
    again = runner.invoke(app, ["moderator", "add", "alice", "--db", db, "--password-stdin"],
                          input=PASSWORD + "\n")
    assert again.exit_code == 2 and "already exists" in again.output
    short = runner.invoke(app, ["moderator", "add", "bob", "--db", db, "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "password" in short.output
    changed = runner.invoke(app, ["moderator", "passwd", "alice", "--db", db, "--password-stdin"],
                            input="another long password\n")
    assert changed.exit_code == 0 and authenticate(engine, "alice", "another long password") == "alice"
    assert runner.invoke(app, ["moderator", "disable", "alice", "--db", db]).exit_code == 0
    assert authenticate(engine, "alice", "another long password") is None
    assert runner.invoke(app, ["moderator", "enable", "ghost", "--db", db]).exit_code == 2
    listed = runner.invoke(app, ["moderator", "list", "--db", db])
    assert listed.exit_code == 0 and listed.output.splitlines()[0].startswith("alice\tmoderator\tdisabled\tcreated 20")
    assert "1 moderator" in listed.output and "scrypt" not in listed.output
    assert runner.invoke(app, ["moderator", "list", "--db", f"sqlite:///{tmp_path / 'typo.db'}"]).exit_code == 2


def test_db_upgrade_and_decisions_export(tmp_path):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    upgraded = runner.invoke(app, ["db", "upgrade", "--db", db])
    assert upgraded.exit_code == 0 and head_revision() in upgraded.output
    engine, _ = make_app(db, tmp_path, n=3)
    claim_item(engine, 1, "alice")
    decide(engine, 1, Action.NO_CONCERN, "alice")
    out = tmp_path / "labels.csv"
    exported = runner.invoke(app, ["decisions", "export", "--db", db, "--out", str(out)])
    assert exported.exit_code == 0 and "wrote 1 labelled uploads" in exported.output
    assert out.read_text().splitlines()[1].startswith("u000,artist0,")
    bad = runner.invoke(app, ["decisions", "export", "--db", db, "--out", str(tmp_path / "x.txt")])
    assert bad.exit_code == 2
    unreachable = runner.invoke(app, ["db", "upgrade", "--db", "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"])
    assert unreachable.exit_code == 2 and "s3cret" not in unreachable.output


def test_the_session_key_is_kept_private_beside_a_sqlite_database(tmp_path, monkeypatch):
    monkeypatch.delenv("SLOPSCORE_SECRET_KEY", raising=False)
    db = f"sqlite:///{tmp_path / 'q.db'}"
    key, origin = secret_key_for(db)
    path = tmp_path / "q.db.secret"
    assert origin == str(path) and len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key_for(db) == (key, origin)  # the same key after a restart
    monkeypatch.setenv("SLOPSCORE_SECRET_KEY", "k" * 40)
    assert secret_key_for(db) == ("k" * 40, "SLOPSCORE_SECRET_KEY")
    monkeypatch.setenv("SLOPSCORE_SECRET_KEY", "short")
    with pytest.raises(Exception):
        secret_key_for(db)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("kind", ["missing file", "no schema"])
def test_serve_refuses_a_database_that_holds_no_queue_without_create(tmp_path, kind):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    if kind == "no schema":
        db = _postgres_or_skip(tmp_path)
    result = runner.invoke(app, ["serve", "--db", db, "--port", str(_free_port())])
    assert result.exit_code == 2 and "--create" in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "q.db").exists()


def _postgres_or_skip(tmp_path) -> str:
    """An empty PostgreSQL database (no queue schema), as the ``queue_url`` fixture makes."""
    from tests.conftest import _postgres_database

    return _postgres_database("t_serve_refuses_no_schema")


@pytest.mark.slow
def test_serve_listens_on_loopback_and_serves_the_login_page(tmp_path):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    port = _free_port()
    env = {**os.environ, "SLOPSCORE_SECRET_KEY": "s" * 40}
    server = subprocess.Popen(
        [sys.executable, "-m", "slopscore.cli.main", "serve", "--db", db, "--port", str(port),
         "--claim-minutes", "5", "--no-access-log", "--create"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline, response = time.monotonic() + 30, None
        while time.monotonic() < deadline and response is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.2)
        assert response is not None and response.status_code == 200
        assert "Moderator sign-in" in response.text and "server" not in response.headers
        assert httpx.get(f"http://127.0.0.1:{port}/queue").status_code == 303
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert "no moderator accounts yet" in output and "0 items" in output


def test_serve_refuses_a_webhook_without_a_usable_secret_before_listening(tmp_path):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    open_queue(db)
    no_secret = runner.invoke(app, ["serve", "--db", db, "--webhook-url", "http://127.0.0.1:9/hook"])
    assert no_secret.exit_code == 2 and "needs --webhook-secret-file" in no_secret.output
    short = tmp_path / "short.secret"
    short.write_text("too short\n")
    refused = runner.invoke(app, ["serve", "--db", db, "--webhook-url", "ftp://127.0.0.1/hook",
                                  "--webhook-secret-file", str(short)])
    assert refused.exit_code == 2 and refused.output.startswith("error:")


def test_moderator_roles_from_the_command_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'q.db'}"
    added = runner.invoke(app, ["moderator", "add", "root", "--role", "admin", "--db", db, "--create",
                                "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0 and "admin root added" in added.output
    assert runner.invoke(app, ["moderator", "add", "ann", "--db", db, "--password-stdin"],
                         input=PASSWORD + "\n").exit_code == 0
    last = runner.invoke(app, ["moderator", "role", "root", "moderator", "--db", db])
    assert last.exit_code == 2 and "last active admin" in last.output
    assert runner.invoke(app, ["moderator", "disable", "root", "--db", db]).exit_code == 2
    assert runner.invoke(app, ["moderator", "role", "ann", "admin", "--db", db]).exit_code == 0
    assert runner.invoke(app, ["moderator", "role", "ann", "owner", "--db", db]).exit_code == 2
    listed = runner.invoke(app, ["moderator", "list", "--db", db]).output.splitlines()
    assert listed[0].startswith("ann\tadmin\tactive") and listed[1].startswith("root\tadmin\tactive")
