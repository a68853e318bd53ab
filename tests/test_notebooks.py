"""Both notebooks execute top to bottom on demo data they generate (as CI runs them)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT_S = 420


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fpr_review", "train_and_evaluate"])
def test_notebook_executes(name, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    path = NOTEBOOKS / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        f"{path.name} is stored with outputs; clear them"
    monkeypatch.setenv("SLOPSCORE_NOTEBOOK_WORK", str(tmp_path / "work"))  # the kernel inherits it
    started = time.monotonic()
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    print(f"{name}: executed in {time.monotonic() - started:.0f} s")
