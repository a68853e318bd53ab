"""scripts/compare_benchmarks.py: the int8 gate compares two benchmark runs cell by cell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_benchmarks.py"


def _run(folder: Path, aurocs: dict[str, float], digest: str = "abc") -> Path:
    folder.mkdir()
    rows = [{"fold_kind": "seen generators", "processing": "as-is", "scenario": scenario, "segment": "all",
             "model": model, "metric": "auroc", "value": value}
            for scenario, value in aurocs.items() for model in ("detector", "triage")]
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    (folder / "README.txt").write_text(f"corpus digest: {digest}\nfolds: 5; seed 0\n", encoding="utf-8")
    return folder


def _compare(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_small_changes_pass_and_one_large_cell_fails(tmp_path):
    before = _run(tmp_path / "fp32", {"established": 0.750, "all undeclared": 0.740})
    close = _run(tmp_path / "int8", {"established": 0.748, "all undeclared": 0.739})
    moved = _run(tmp_path / "int8-moved", {"established": 0.738, "all undeclared": 0.739})
    passed = _compare(before, close)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "largest change: 0.0020 over 2 cells" in passed.stdout
    failed = _compare(before, moved)
    assert failed.returncode == 1 and "over" in failed.stdout
    assert _compare(before, moved, "--max-change", "0.02").returncode == 0


def test_runs_of_different_corpora_are_not_compared(tmp_path):
    before = _run(tmp_path / "a", {"all undeclared": 0.74})
    other = _run(tmp_path / "b", {"all undeclared": 0.74}, digest="def")
    result = _compare(before, other)
    assert result.returncode == 2 and "differ in corpus" in result.stderr
    assert _compare(before, tmp_path / "missing").returncode != 0
