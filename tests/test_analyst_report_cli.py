"""``slopscore report`` on the command line, and the demo's SIMULATED decisions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from slopscore.analytics.build import build_report
from slopscore.analytics.data import load_queue_data
from slopscore.cli.main import app
from slopscore.demo.decisions import SIMULATED_MODERATOR, labels_from_manifest, simulate_decisions
from slopscore.review.database import open_queue
from slopscore.review.schema import Action, Decision, QueueItem
from tests.test_analyst_report import add_log, known_log

runner = CliRunner()


def test_report_command_writes_html_and_csv_tables(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    add_log(open_queue(url), known_log())
    out = tmp_path / "reports" / "weekly.html"
    result = runner.invoke(app, ["report", "--db", url, "--out", str(out), "--since", "2026-06-08",
                                 "--min-reviewed", "20"])
    assert result.exit_code == 0, result.output
    assert "55 reviewed items" in result.output
    assert out.is_file() and "<h1>" in out.read_text(encoding="utf-8")
    for name in ("fpr_overall", "fpr_weekly", "fpr_segments", "top_dismissed", "calibration",
                 "thresholds", "drift", "models"):
        assert (out.parent / f"weekly.{name}.csv").is_file(), name
    overall = pd.read_csv(out.parent / "weekly.fpr_overall.csv").iloc[0]
    assert (overall["reviewed"], overall["dismissed"], overall["min_reviewed"]) == (55, 25, 20)
    weekly = pd.read_csv(out.parent / "weekly.fpr_weekly.csv")
    assert weekly["week"].tolist() == ["2026-W24", "2026-W25"]


def test_report_command_model_version_filter(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    add_log(open_queue(url), known_log())
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--db", url, "--out", str(out), "--model-version", "m/1"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "r.fpr_overall.csv").iloc[0]["reviewed"] > 0
    unknown = runner.invoke(app, ["report", "--db", url, "--out", str(tmp_path / "u.html"), "--model-version", "m/9"])
    assert unknown.exit_code == 2 and not (tmp_path / "u.html").exists()
    line = unknown.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1
    assert "'m/9'" in line and "known: m/1" in line


@pytest.mark.parametrize("url, message", [
    ("sqlite:///{tmp}/missing.db", "no review queue database"),
    ("postgresql+psycopg://nobody:secret@127.0.0.1:1/none", "unavailable"),
    ("mysql://x@127.0.0.1/db", "SQLite or PostgreSQL"),
])
def test_unreachable_database_is_one_clear_line_and_exit_2(tmp_path, url, message):
    url = url.format(tmp=tmp_path)
    result = runner.invoke(app, ["report", "--db", url, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert message in result.output and "secret" not in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "missing.db").exists()  # the report never creates a database
    assert not (tmp_path / "r.html").exists()


def test_a_database_without_the_queue_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_queue(url, migrate=False)  # creates the file, no schema
    result = runner.invoke(app, ["report", "--db", url, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "holds no review queue" in result.output


def test_simulated_decisions_follow_the_budget_and_the_policy(queue_url, tmp_path):
    engine = open_queue(queue_url)
    day = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)
    labels, specs = {}, []
    for d in range(3):  # three upload days of 8 items; a budget of 5 a day
        for i in range(8):
            item = f"d{d}-{i}"
            labels[item] = ("ai_slop", "human", "ai_assisted", "human")[i % 4]
            specs.append({"item_id": item, "artist_id": f"a{i}", "triage_score": 0.9 - 0.1 * i,
                          "uploaded_at": day + timedelta(days=d, hours=i), "title": f"t{i}"})
    specs.append({"item_id": "unlabelled", "triage_score": 0.99, "uploaded_at": day})
    add_log(engine, specs)
    outcome = simulate_decisions(engine, labels, budget_per_day=5, seed=1, replaced_share=1.0,
                                 clarified_share=1.0)
    assert (outcome.reviewed, outcome.days, outcome.skipped_unlabelled) == (15, 3, 1)
    # per day, the 5 highest scores (i = 0..4): slop at 0 and 4, human 1 and 3, assisted 2
    assert (outcome.confirmed, outcome.dismissed) == (6, 9)
    assert outcome.decisions == 15 + 6 + 3  # replaced after notify; assisted: notify + clarified
    with engine.connect() as connection:
        decisions = connection.execute(select(Decision)).all()
        items = {r.item_id: r for r in connection.execute(select(QueueItem))}
    assert {d.moderator for d in decisions} == {SIMULATED_MODERATOR}
    assert all("SIMULATED" in d.note for d in decisions)
    assert all(Action(d.action).outcome.value == d.outcome for d in decisions)
    assert items["d0-0"].status == "resolved" and items["d0-1"].status == "dismissed"
    assert items["d0-2"].status == "resolved" and items["d0-5"].status == "pending"
    assert items["unlabelled"].status == "pending"
    data = load_queue_data(engine)
    reviewed = data.reviewed.set_index("item_id")
    assert not reviewed.loc["d1-2", "confirmed"]  # notify, then clarified: dismissed
    assert reviewed.loc["d1-0", "confirmed"]
    assert data.simulated
    report = build_report(engine, tmp_path / "r.html", min_reviewed=5)
    assert report.simulated and "SIMULATED" in report.html.read_text(encoding="utf-8")
    again = simulate_decisions(engine, labels, budget_per_day=5, seed=1)
    assert again.reviewed == 9  # only the items still pending are left to review


def test_labels_from_manifest(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("item_id,label\na,human\nb,ai_slop\nc,\nd,weird\n", encoding="utf-8")
    assert labels_from_manifest(manifest) == {"a": "human", "b": "ai_slop"}
