"""Per-item evaluation outputs: predictions, the confusion table and the report's galleries."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from PIL import Image, PngImagePlugin

from slopscore.evaluation.items import GALLERY_SIZE, THUMBNAIL_PX, confusion_table, galleries, predictions_table
from slopscore.evaluation.report import EvaluationReport, write_html_report

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _items(tmp_path, n=40):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = tmp_path / f"w{i}.png"
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "secret prompt that must not travel")  # metadata of the upload
        Image.fromarray(rng.integers(0, 255, (400, 300, 3), dtype=np.uint8)).save(path, pnginfo=info)
        paths.append(str(path))
    labels = ["human" if i % 2 else "ai_slop" for i in range(n)]
    frame = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "artist_id": [f"a{i % 7}" for i in range(n)],
                          "label": labels, "title": [HOSTILE] * n, "path": paths})
    frame.loc[1, "path"] = str(tmp_path / "gone.png")  # a file that went away: no thumbnail, still listed
    triage = rng.random(n)
    triage[1] = 0.999  # the missing file tops the human gallery
    scored = pd.DataFrame({"p_ai": rng.random(n), "triage_score": triage, "model_version": "m/1"})
    y = np.array([label == "ai_slop" for label in labels], dtype=int)
    return frame, scored, y


def test_predictions_and_the_confusion_table_at_the_threshold(tmp_path):
    frame, scored, y = _items(tmp_path)
    predictions = predictions_table(frame, scored, y, y, 0.5)
    assert len(predictions) == len(frame) and set(predictions["model_version"]) == {"m/1"}
    assert (predictions["flagged"] == (scored["triage_score"] >= 0.5)).all()
    confusion = confusion_table(predictions).set_index("label")
    human = predictions[predictions["label"] == "human"]
    assert confusion.loc["human", "flagged"] == human["flagged"].sum()
    assert confusion.loc["all", "items"] == len(frame)
    assert confusion.loc["all", "flagged"] + confusion.loc["all", "not_flagged"] == len(frame)


def test_galleries_are_bounded_escaped_and_re_encoded_from_pixels(tmp_path):
    frame, scored, y = _items(tmp_path)
    predictions = predictions_table(frame, scored, y, y, 0.5)
    shown = galleries(frame, predictions)
    human, slop = shown.values()
    assert len(human) == len(slop) == GALLERY_SIZE  # 20 of each, bounded
    humans = predictions[predictions["label"] == "human"].sort_values("triage_score", ascending=False)
    assert [g.item_id for g in human] == humans["item_id"].head(GALLERY_SIZE).tolist()
    assert [g.triage_score for g in slop] == sorted(g.triage_score for g in slop)  # lowest first
    missing = [g for g in human if g.item_id == "i1"]
    assert missing and missing[0].thumbnail_png_base64 is None
    for item in [g for g in human + slop if g.thumbnail_png_base64]:
        data = base64.b64decode(item.thumbnail_png_base64)
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and max(image.size) <= THUMBNAIL_PX
        assert b"secret prompt" not in data and "parameters" not in image.info
    html = write_html_report(EvaluationReport(title="t", galleries=shown), tmp_path / "r.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "Highest-scored human works" in html
    assert "(no image)" in html
