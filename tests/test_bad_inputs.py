"""The bad-input corpus through `slopscore embed` and `slopscore score`: typed reasons, no crash."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from slopscore.cli.main import app
from tests.bad_inputs import bad_manifest, tiny_scorer

runner = CliRunner()


def _outcome(row) -> str:
    return "scored" if row["status"] in {"embedded", "scored"} else row["skip_reason"]


def test_embed_gives_every_bad_file_its_typed_reason(tmp_path):
    manifest, expected = bad_manifest(tmp_path)
    out = tmp_path / "emb.parquet"
    result = runner.invoke(app, ["embed", str(manifest), "--out", str(out), "--backbone",
                                 "test:tiny-clip", "--cache-dir", str(tmp_path / "c"),
                                 "--workers", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pandas()
    outcomes = {}
    for _, row in rows.iterrows():
        outcomes.setdefault(row["item_id"], []).append(_outcome(row))
    for item_id, want in expected.items():
        assert outcomes[item_id][0] == want, (item_id, outcomes[item_id])
    assert outcomes["bad-0"][1] == "duplicate_item_id"
    assert sorted(r for r in rows["skip_reason"].dropna() if r == "malformed_row") == ["malformed_row"] * 3
    n_in = len(expected) + 4
    embedded = sum(v == "scored" for v in expected.values())
    assert len(rows) == n_in
    assert f"input {n_in} = embedded {embedded} (from cache 0) + skipped {n_in - embedded}" in result.output


def test_score_never_crashes_and_counts_add_up(tmp_path):
    folder = tiny_scorer(tmp_path / "scorer")
    manifest, expected = bad_manifest(tmp_path)
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", "--model", str(folder), "--input", str(manifest),
                                 "--out", str(out), "--cache-dir", str(tmp_path / "c")],
                           env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    n_in = len(expected) + 4
    assert len(scores) == n_in
    first = scores.drop_duplicates("item_id")
    for item_id, want in expected.items():
        row = first.set_index("item_id").loc[item_id]
        got = "scored" if row["status"] == "embedded" else row["skip_reason"]
        assert got == want, (item_id, got)
    scored = int((scores["status"] == "embedded").sum())
    assert f"input {n_in} = scored {scored} + skipped {n_in - scored}" in result.output
    assert sorted(scores["row_number"]) == list(range(2, n_in + 2))  # every row, by its number
    skipped = scores[scores["status"] != "embedded"]
    assert skipped["skip_detail"].notna().all() and scores.loc[scores["status"] == "embedded",
                                                               "skip_detail"].isna().all()
    by_row = scores.set_index("row_number")
    assert by_row.loc[n_in - 1, "skip_reason"] == "malformed_row" and "path is empty" in \
        by_row.loc[n_in - 1, "skip_detail"]
    assert scores.loc[scores["status"] == "embedded", "triage_score"].between(0, 1).all()
