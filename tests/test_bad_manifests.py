"""Manifest-level faults through `slopscore score` (and `embed`): every row kept or typed, none lost.

Each case of :mod:`tests.bad_manifests` runs the real command with the tiny test backbone,
writing into a real review queue (SQLite, and PostgreSQL when SLOPSCORE_TEST_POSTGRES_URL is
set). Locations that cannot be written stop the run with one ``error:`` line and exit 2,
before any file is encoded.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from slopscore.cli.main import app
from tests.bad_inputs import tiny_scorer
from tests.bad_manifests import BUILDERS, damaged_parquet, skip_rows

runner = CliRunner()


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    return tiny_scorer(tmp_path_factory.mktemp("m") / "scorer")


@pytest.fixture
def read_only(tmp_path):
    """Make a folder (or a file) read-only: permissions, or (for root, whom they do not stop)
    a read-only bind mount of it onto itself."""
    done = []

    def make(folder):
        if not folder.is_file():
            folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            folder.chmod(0o444 if folder.is_file() else 0o555)
        elif subprocess.run(["mount", "--bind", "-o", "ro", folder, folder],
                            capture_output=True).returncode != 0:
            pytest.skip("running as root, and a read-only bind mount is not allowed here")
        done.append(folder)
        return folder

    yield make
    for folder in done:
        if os.geteuid() == 0:
            subprocess.run(["umount", "--lazy", folder], check=False)  # files may still be open
        else:
            folder.chmod(0o644 if folder.is_file() else 0o755)


def _score(scorer, source, out, cache, *extra):
    return runner.invoke(app, ["score", "--model", str(scorer), "--input", str(source), "--out",
                               str(out), "--cache-dir", str(cache), *map(str, extra)])


def _cached(cache) -> int:
    """Embeddings in the cache (0 when it was never created: no file was encoded)."""
    if not (cache / "embeddings.sqlite3").exists():
        return 0
    with sqlite3.connect(cache / "embeddings.sqlite3") as connection:
        return connection.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def _one_error_line(result, *phrases: str) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("build", BUILDERS, ids=[b.__name__ for b in BUILDERS])
def test_every_row_gets_its_typed_outcome_in_the_output_and_the_queue(build, scorer, tmp_path,
                                                                      queue_url):
    case = build(tmp_path / "in")
    out = tmp_path / "scores.csv"
    result = _score(scorer, case.source, out, tmp_path / "cache", "--queue", queue_url)
    assert result.exit_code == 0, result.output
    output = pd.read_csv(out, keep_default_na=False, dtype={"row_number": int})
    n = len(case.rows)
    assert len(output) == n and sorted(output["row_number"]) == sorted(case.rows)
    scored = sum(e.skip_reason is None for e in case.rows.values())
    assert f"input {n} = scored {scored} + skipped {n - scored}" in " ".join(result.output.split())
    for _, row in output.iterrows():
        want = case.rows[row["row_number"]]
        assert (row["item_id"] or None, row["status"], row["skip_reason"] or None) == \
            (want.item_id, want.status, want.skip_reason), row["row_number"]
        assert json.loads(row["warnings"]) == list(want.warnings), row["row_number"]
        if want.detail is None:
            assert row["skip_detail"] == ""
        else:
            assert want.detail in row["skip_detail"], (row["row_number"], row["skip_detail"])
        assert (row["triage_score"] != "") == (want.skip_reason is None)

    engine = create_engine(queue_url)
    with engine.connect() as connection:
        queued = {r.item_id: r for r in connection.execute(text(
            "SELECT item_id, skip_reason, warnings, triage_score FROM queue_items"))}
    engine.dispose()
    identified = [e for e in case.rows.values() if e.item_id is not None]
    assert set(queued) == {e.item_id for e in identified}  # a row without an id cannot be queued
    for want in identified:
        item = queued[want.item_id]
        assert item.skip_reason == want.skip_reason and json.loads(item.warnings) == list(want.warnings)
        assert (item.triage_score is not None) == (want.skip_reason is None)


@pytest.mark.timeout(120)
def test_output_ids_of_a_folder_are_the_same_on_every_run(scorer, tmp_path):
    from tests.bad_manifests import folder_long_names

    case = folder_long_names(tmp_path / "in")
    ids = []
    for run in ("a", "b"):
        result = _score(scorer, case.source, tmp_path / f"{run}.csv", tmp_path / "cache")
        assert result.exit_code == 0, result.output
        ids.append(sorted(pd.read_csv(tmp_path / f"{run}.csv")["item_id"]))
    assert ids[0] == ids[1] and len(set(ids[0])) == 3


@pytest.mark.timeout(120)
def test_a_damaged_parquet_manifest_stops_score_and_embed_before_any_work(scorer, tmp_path):
    manifest = damaged_parquet(tmp_path / "manifest.parquet")
    cache = tmp_path / "cache"
    result = _score(scorer, manifest, tmp_path / "s.csv", cache)
    _one_error_line(result, "cannot read Parquet manifest", "manifest.parquet")
    assert not (tmp_path / "s.csv").exists() and _cached(cache) == 0
    embedded = runner.invoke(app, ["embed", str(manifest), "--out", str(tmp_path / "e.parquet"),
                                   "--backbone", "test:tiny-clip", "--cache-dir", str(cache)])
    _one_error_line(embedded, "cannot read Parquet manifest")
    assert not (tmp_path / "e.parquet").exists()


@pytest.mark.timeout(120)
def test_a_read_only_output_location_is_found_before_any_file_is_encoded(scorer, tmp_path,
                                                                         read_only):
    case = skip_rows(tmp_path / "in")
    locked = read_only(tmp_path / "locked")
    cache = tmp_path / "cache"
    for out in (locked / "scores.csv", locked / "new" / "scores.parquet"):
        _one_error_line(_score(scorer, case.source, out, cache), "cannot write output file", str(out))
    assert _cached(cache) == 0  # found before pass 1
    embedded = runner.invoke(app, ["embed", str(case.source), "--out", str(locked / "e.parquet"),
                                   "--backbone", "test:tiny-clip", "--cache-dir", str(cache)])
    _one_error_line(embedded, "cannot write output file")


@pytest.mark.timeout(120)
def test_an_output_parent_that_is_a_file_is_one_clear_line(scorer, tmp_path):
    case = skip_rows(tmp_path / "in")
    (tmp_path / "taken").write_text("a file, not a folder")
    out = tmp_path / "taken" / "deeper" / "scores.csv"
    _one_error_line(_score(scorer, case.source, out, tmp_path / "cache"),
                    f"{tmp_path / 'taken'} is a file, not a folder")
    assert _cached(tmp_path / "cache") == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("filled", [False, True], ids=["empty", "filled"])
def test_a_read_only_cache_stops_the_run_with_one_line(scorer, tmp_path, read_only, filled):
    case = skip_rows(tmp_path / "in")
    cache = tmp_path / "cache"
    if filled:  # a cache an earlier run filled (in its own process: no connection lingers here)
        subprocess.run([sys.executable, "-m", "slopscore.cli.main", "score", "--model", str(scorer),
                        "--input", str(case.source), "--out", str(tmp_path / "first.csv"),
                        "--cache-dir", str(cache)], check=True, capture_output=True, timeout=110)
    read_only(cache)
    _one_error_line(_score(scorer, case.source, tmp_path / "s.csv", cache), "cache", str(cache))
    assert not (tmp_path / "s.csv").exists() and not list(tmp_path.glob(".s.csv.partial"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("locked", ["folder", "file"])
def test_a_read_only_queue_stops_the_run_before_any_work(scorer, tmp_path, read_only, locked):
    from slopscore.review.database import open_queue

    case = skip_rows(tmp_path / "in")
    url = f"sqlite:///{tmp_path / 'queue' / 'q.db'}"
    (tmp_path / "queue").mkdir()
    open_queue(url).dispose()  # an existing, migrated queue, then made read-only
    read_only(tmp_path / "queue" / ("q.db" if locked == "file" else ""))
    result = _score(scorer, case.source, tmp_path / "s.csv", tmp_path / "cache", "--queue", url)
    line = _one_error_line(result, "q.db")
    if locked == "file":  # opened, then refused at the first write (registering the model)
        assert "cannot write the review queue" in line and "readonly" in line
    assert _cached(tmp_path / "cache") == 0 and not (tmp_path / "s.csv").exists()


@pytest.mark.timeout(120)
def test_a_full_disk_mid_run_is_one_line_and_leaves_no_output(scorer, tmp_path):
    """Files may grow to 64 KiB only (RLIMIT_FSIZE, as a full disk): the cache fills mid-run."""
    from tests.bad_manifests import invalid_utf8_large

    case = invalid_utf8_large(tmp_path / "in")
    out = tmp_path / "s.csv"

    def full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    command = [sys.executable, "-m", "slopscore.cli.main", "score", "--model", str(scorer),
               "--input", str(case.source), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
               "--chunk-rows", "16"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=110,
                          preexec_fn=full_disk, env={**os.environ, "SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and str(tmp_path) in last, last
    assert not out.exists() and not (tmp_path / ".s.csv.partial").exists()
