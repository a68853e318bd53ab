"""The command line, called in process (CliRunner) and, for start-up cost, as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from typer.testing import CliRunner

from slopscore.cli.main import app

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("embed", "train", "evaluate", "promote", "demo", "backbones"):
        assert command in result.output


def test_help_does_not_import_heavy_libraries():
    code = "import sys, slopscore.cli.main; print(sorted({'torch', 'open_clip', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_slopscore_makes_idle_openmp_threads_sleep_unless_told_otherwise():
    code = "import os, slopscore; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env)
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert (default.stdout.strip(), chosen.stdout.strip()) == ("PASSIVE", "ACTIVE")


def _manifest(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((40, 50, 3), i * 60, np.uint8)).save(images / f"{i}.png")
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    lines = ["item_id,artist_id,path,uploaded_at"]
    lines += [f"i{i},a,images/{i}.png,2026-01-0{i + 1}T00:00:00Z" for i in range(4)]
    lines += ["i9,a,images/broken.jpg,2026-01-09T00:00:00Z", "i9,a,images/0.png,2026-01-09T00:00:00Z",
              "i10,a,images/gone.png,2026-01-10T00:00:00Z", "i11,a,images/0.png,not-a-date"]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_embed_writes_one_row_per_input_and_a_skip_report(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "out" / "emb.parquet"
    args = ["embed", str(manifest), "--out", str(out), "--backbone", "test:tiny-clip",
            "--cache-dir", str(tmp_path / "cache"), "--workers", "0", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "input 8 = embedded 4 (from cache 0) + skipped 4" in result.output
    table = pq.read_table(out).to_pylist()
    assert len(table) == 8
    skipped = {r["row_number"]: r["skip_reason"] for r in table if r["status"] == "skipped"}
    assert skipped == {6: "truncated", 7: "duplicate_item_id", 8: "missing", 9: "malformed_row"}
    assert [r["row_number"] for r in table] == list(range(2, 10))  # manifest order kept
    embedded = [r for r in table if r["status"] == "embedded"]
    assert all(len(r["embedding"]) == 32 and r["backbone_id"] == "test:tiny-clip/seed0" for r in embedded)
    report = (tmp_path / "out" / "emb.skips.csv").read_text().splitlines()
    assert report[0] == "item_id,row_number,reason,detail" and len(report) == 5

    again = runner.invoke(app, args)
    assert "embedded 4 (from cache 4)" in again.output


def test_embed_reports_bad_settings_and_missing_weights_clearly(tmp_path):
    manifest = _manifest(tmp_path)
    out = str(tmp_path / "e.parquet")
    bad = runner.invoke(app, ["embed", str(manifest), "--out", out, "--precision", "fp8"])
    assert bad.exit_code == 2 and "embedding.precision" in bad.output and "'fp8'" in bad.output
    offline = runner.invoke(app, ["embed", str(manifest), "--out", out, "--no-download",
                                  "--weights-dir", str(tmp_path / "w"),
                                  "--backbone", "open_clip:ViT-B-32/laion2b_s34b_b79k"])
    assert offline.exit_code == 2 and "No pretrained weights" in offline.output


def test_a_device_this_machine_lacks_is_one_line(tmp_path):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    manifest = _manifest(tmp_path)
    result = runner.invoke(app, ["embed", str(manifest), "--out", str(tmp_path / "e.parquet"),
                                 "--backbone", "test:tiny-clip", "--cache-dir", str(tmp_path / "cache"),
                                 "--workers", "0", "--device", "cuda"],
                           env={"SLOPSCORE_ALLOW_TEST_BACKBONE": "1"})
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1 and "CUDA is not available" in line


def test_backbones_command_says_what_works_offline(tmp_path):
    result = runner.invoke(app, ["backbones", "--weights-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "effnet-lite0" in result.output and "open_clip:ViT-B-32/laion2b_s34b_b79k" in result.output
