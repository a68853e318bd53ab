"""Manifests from strangers: formats, validation, bounds, duplicates."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slopscore.media.manifest import (
    Label,
    ManifestFormatError,
    RowError,
    check_manifest,
    count_manifest_rows,
    folder_item_id,
    iter_manifest,
    read_manifest,
)

HEADER = "item_id,artist_id,path,uploaded_at,label,declared_ai,has_process_notes,title,tags\n"


def test_csv_rows_are_parsed_and_paths_resolved(tmp_path):
    (tmp_path / "m.csv").write_text(
        HEADER
        + "a1,artist-1,img/a.png,2026-03-01T10:00:00+00:00,ai_slop,false,no,Sunset,Painting;Landscape\n"
        + "a2,artist-1,/abs/b.jpg,2026-03-01T11:00:00Z,,,,,\n"
    )
    manifest = read_manifest(tmp_path / "m.csv")
    assert manifest.errors == []
    first, second = manifest.rows
    assert first.path == str(tmp_path / "img/a.png") and second.path == "/abs/b.jpg"
    assert first.label is Label.AI_SLOP and first.label.is_violation and first.label.is_ai
    assert first.declared_ai is False and first.has_process_notes is False
    assert first.tags == ("painting", "landscape")
    assert second.label is None and second.declared_ai is None and second.title is None
    assert second.uploaded_at.tzinfo is not None and first.row_number == 2


def test_bad_rows_become_errors_and_reading_continues(tmp_path):
    (tmp_path / "m.csv").write_text(
        HEADER
        + "ok1,a,x.png,2026-03-01T10:00:00,human,,,,\n"
        + "bad-date,a,x.png,yesterday,human,,,,\n"
        + "bad-label,a,x.png,2026-03-01T10:00:00,robot,,,,\n"
        + ",a,x.png,2026-03-01T10:00:00,human,,,,\n"
        + "bad-bool,a,x.png,2026-03-01T10:00:00,human,maybe,,,\n"
        + "ok1,a,y.png,2026-03-01T10:00:00,human,,,,\n"
        + "extra,a,x.png,2026-03-01T10:00:00,human,,,,,surplus\n"
        + "ok2,a,z.png,2026-03-02T10:00:00,ai_assisted,true,true,,\n"
    )
    manifest = read_manifest(tmp_path / "m.csv")
    assert [r.item_id for r in manifest.rows] == ["ok1", "ok2"]
    reasons = {(e.row_number, e.reason) for e in manifest.errors}
    assert reasons == {(3, "malformed_row"), (4, "malformed_row"), (5, "malformed_row"),
                       (6, "malformed_row"), (7, "duplicate_item_id"), (8, "malformed_row")}
    assert any("robot" in e.detail and "ai_slop" in e.detail for e in manifest.errors)


def test_untrusted_strings_are_bounded(tmp_path):
    long_title = "t" * 5000
    (tmp_path / "m.csv").write_text(
        HEADER
        + f"ok,a,x.png,2026-03-01T10:00:00,,,,{long_title},{';'.join(['tag'] * 3)}\n"
        + f"{'i' * 500},a,x.png,2026-03-01T10:00:00,,,,,\n"
        + "ctl,a\x07b,x.png,2026-03-01T10:00:00,,,,,\n"
        + f"many,a,x.png,2026-03-01T10:00:00,,,,,{';'.join(f't{i}' for i in range(80))}\n"
    )
    manifest = read_manifest(tmp_path / "m.csv")
    assert [r.item_id for r in manifest.rows] == ["ok", "many"]  # free text is cut, never fatal
    ok, many = manifest.rows
    assert len(ok.title) == 300 and ok.tags == ("tag",)
    assert ok.warnings == ("title cut to 300 characters",)
    assert many.tags == tuple(f"t{i}" for i in range(50)) and many.warnings == ("tags cut to 50",)
    assert [(e.row_number, e.item_id) for e in manifest.errors] == [(3, "i" * 200), (4, "ctl")]


def test_free_text_is_put_on_one_line_and_cleaned_with_warnings(tmp_path):
    (tmp_path / "m.csv").write_text(
        HEADER
        + 'nl,a,x.png,2026-03-01T10:00:00,,,,"Sunset\r\n\n  over\u2028the sea",ink\n'
        + "bel,a,x.png,2026-03-01T10:00:00,,,,Ti\x07tle,\x1bwatercolour;" + "w" * 70 + "\n",
        encoding="utf-8",
    )
    nl, bel = read_manifest(tmp_path / "m.csv").rows
    assert nl.title == "Sunset over the sea" and nl.warnings == ("title put on one line",)
    assert bel.title == "Title" and bel.tags == ("watercolour", "w" * 64)
    assert bel.warnings == ("control characters removed from title",
                            "control characters removed from tag", "tag cut to 64 characters")


def test_invalid_utf8_costs_its_row_only(tmp_path):
    rows = [f"r{i},a,x{i}.png,2026-03-01T10:00:00,,,,{'long title ' * 30}," for i in range(60)]
    data = (HEADER + "\n".join(rows) + "\n").encode()
    at = data.index(b"r31,") + 40  # inside row 33's title, past the first 8 KiB decode chunk
    data = data[:at] + b"\xff\xfe" + data[at:]
    data = data.replace(b"r50,", b"r\xc350,")  # an undecodable item_id: no id to report
    (tmp_path / "m.csv").write_bytes(data)
    manifest = read_manifest(tmp_path / "m.csv")
    assert len(manifest.rows) == 58
    assert [(e.row_number, e.item_id, e.reason) for e in manifest.errors] == [
        (33, "r31", "malformed_row"), (52, None, "malformed_row")]
    assert "not valid UTF-8" in manifest.errors[0].detail and "title" in manifest.errors[0].detail
    assert count_manifest_rows(tmp_path / "m.csv") == 60
    small = tmp_path / "s.csv"
    small.write_bytes(HEADER.encode() + b"s1,a,x.png,2026-03-01T10:00:00,,,,caf\xe9,\n")
    assert [(e.row_number, e.item_id) for e in read_manifest(small).errors] == [(2, "s1")]


def test_a_field_past_csv_default_limit_is_cut_not_lost(tmp_path):
    (tmp_path / "m.csv").write_text(
        HEADER.replace("\n", ",notes\n")
        + f"big,a,x.png,2026-03-01T10:00:00,,,,{'T' * 200_000},{';'.join(['x' * 9] * 20_000)},"
        + "n" * 300_000 + "\nnext,a,y.png,2026-03-01T10:00:00,,,,,,\n"
    )
    manifest = read_manifest(tmp_path / "m.csv")
    assert manifest.errors == [] and [r.item_id for r in manifest.rows] == ["big", "next"]
    assert len(manifest.rows[0].title) == 300 and manifest.rows[0].tags == ("x" * 9,)
    assert manifest.rows[0].warnings == ("title cut to 300 characters",)


def test_dates_outside_the_utc_year_range_are_malformed_and_future_ones_warned(tmp_path):
    (tmp_path / "m.csv").write_text(
        HEADER
        + "low,a,x.png,0001-01-01T00:00:00+05:00,,,,,\n"
        + "high,a,x.png,9999-12-31T23:59:59-05:00,,,,,\n"
        + "edge,a,x.png,0001-01-01T06:00:00+05:00,,,,,\n"
        + "later,a,x.png,2999-01-01T00:00:00Z,,,,,\n"
        + "soon,a,x.png,2026-03-01T10:00:00Z,,,,,\n"
    )
    manifest = read_manifest(tmp_path / "m.csv")
    assert [(e.item_id, e.reason) for e in manifest.errors] == [("low", "malformed_row"),
                                                                ("high", "malformed_row")]
    assert all("outside the years 1-9999" in e.detail for e in manifest.errors)
    assert {r.item_id: r.warnings for r in manifest.rows} == {
        "edge": (), "later": ("uploaded_at is more than a day in the future",), "soon": ()}


def test_parquet_times_outside_python_range_cost_their_row(tmp_path):
    year_10000 = 253_402_300_800_000  # ms since 1970: past Python's datetime (to_pylist fails)
    times = pa.array([0, year_10000], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    pq.write_table(pa.table({"item_id": ["p1", "p2"], "artist_id": ["a", "a"], "path": ["x", "y"],
                             "uploaded_at": times}), tmp_path / "m.parquet")
    manifest = read_manifest(tmp_path / "m.parquet")
    assert [r.item_id for r in manifest.rows] == ["p1"]
    assert [(e.row_number, e.item_id, e.reason) for e in manifest.errors] == [(2, "p2", "malformed_row")]
    assert "10000-01-01" in manifest.errors[0].detail


def test_a_damaged_parquet_manifest_is_a_format_error_found_by_the_check(tmp_path):
    from tests.bad_manifests import damaged_parquet

    path = damaged_parquet(tmp_path / "m.parquet")
    with pytest.raises(ManifestFormatError, match="cannot read Parquet manifest"):
        check_manifest(path)
    with pytest.raises(ManifestFormatError):
        read_manifest(path)


def test_jsonl_and_parquet_match_csv(tmp_path):
    records = [
        {"item_id": "j1", "artist_id": "a", "path": "p.png", "uploaded_at": "2026-01-01T00:00:00+00:00",
         "label": "human", "tags": ["ink", "portrait"]},
        {"item_id": "j2", "artist_id": "b", "path": "q.png", "uploaded_at": "2026-01-02T00:00:00+00:00",
         "declared_ai": True},
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n{broken\n[1,2]\n")
    columns = ["item_id", "artist_id", "path", "uploaded_at", "label", "declared_ai", "tags"]
    flat = [{c: (";".join(r["tags"]) if c == "tags" and c in r else r.get(c)) for c in columns}
            for r in records]
    pq.write_table(pa.Table.from_pylist(flat), tmp_path / "m.parquet")
    from_jsonl = read_manifest(tmp_path / "m.jsonl")
    from_parquet = read_manifest(tmp_path / "m.parquet")
    assert [r.item_id for r in from_jsonl.rows] == ["j1", "j2"] == [r.item_id for r in from_parquet.rows]
    assert from_jsonl.rows[0].tags == from_parquet.rows[0].tags == ("ink", "portrait")
    assert from_jsonl.rows[1].declared_ai is True and from_parquet.rows[1].declared_ai is True
    assert [e.reason for e in from_jsonl.errors] == ["malformed_row", "malformed_row"]
    assert count_manifest_rows(tmp_path / "m.parquet") == 2


def test_missing_required_columns_fail_the_whole_manifest(tmp_path):
    (tmp_path / "m.csv").write_text("item_id,path\nx,y.png\n")
    with pytest.raises(ManifestFormatError, match="artist_id"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.xlsx").write_text("")
    with pytest.raises(ManifestFormatError, match="unknown type"):
        read_manifest(tmp_path / "m.xlsx")


def test_folder_of_images_is_a_manifest(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.jpg", "sub/c.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    rows = list(iter_manifest(tmp_path))
    assert [r.item_id for r in rows] == ["a.jpg", "b.png", "sub/c.webp"]
    assert not any(isinstance(r, RowError) for r in rows)
    assert count_manifest_rows(tmp_path) == 3 == check_manifest(tmp_path)


def test_folder_names_sharing_their_first_200_characters_get_distinct_stable_ids(tmp_path):
    for end in ("one.png", "two.png"):
        (tmp_path / ("n" * 200 + end)).write_bytes(b"x")
    (tmp_path / "short.png").write_bytes(b"x")
    ids = [r.item_id for r in iter_manifest(tmp_path)]
    assert ids == [r.item_id for r in iter_manifest(tmp_path)]  # the same on every run
    assert len(set(ids)) == 3 and "short.png" in ids
    long_ids = [i for i in ids if i != "short.png"]
    assert all(len(i) == 200 and i.startswith("n" * 150) for i in long_ids)
    assert folder_item_id("n" * 200 + "one.png") in long_ids


def test_moderator_outcomes_are_read_and_become_the_triage_target(tmp_path):
    import pandas as pd

    from slopscore.evaluation.run import targets
    from slopscore.signals.feature_table import manifest_frame

    (tmp_path / "m.csv").write_text(
        "item_id,artist_id,path,uploaded_at,label,review_outcome\n"
        "r1,a,x.png,2026-03-01T10:00:00Z,human,confirmed\n"
        "r2,a,y.png,2026-03-01T11:00:00Z,ai_slop,dismissed\n"
        "r3,a,z.png,2026-03-01T12:00:00Z,ai_slop,\n"
        "r4,a,w.png,2026-03-01T13:00:00Z,human,removed\n"
    )
    manifest = read_manifest(tmp_path / "m.csv")
    assert [r.review_outcome for r in manifest.rows] == ["confirmed", "dismissed", None]
    assert manifest.errors[0].reason == "malformed_row" and "removed" in manifest.errors[0].detail
    y_ai, y_violation = targets(manifest_frame(manifest.rows))
    assert list(y_ai) == [0, 1, 1]  # the detector still learns from labels
    assert list(y_violation) == [1, 0, 1]  # triage learns the moderators' verdicts first
    assert list(targets(pd.DataFrame({"label": ["ai_slop", "human"]}))[1]) == [1, 0]
