"""The benchmark's files and its MLflow run: items.parquet, metrics.csv, README.txt.

Every output says what the data is (:data:`~slopscore.benchmark.tables.DATA_NOTE`): the
Parquet file in its schema metadata, the CSV tables in the README beside them, the MLflow
run in a tag. Text cells that came from manifests are defused against spreadsheet formulas.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slopscore.batch.csv_cells import defuse_cell
from slopscore.benchmark.tables import DATA_NOTE
from slopscore.model.registry import configure_tracking

__all__ = ["EXPERIMENT", "flat_metrics", "log_run", "write_items", "write_metrics", "write_readme"]

EXPERIMENT = "slopscore-benchmark"
_METRIC_NAME = re.compile(r"[^A-Za-z0-9_.\-/ ]")
_KINDS = {"seen generators": "seen", "unseen generator": "unseen"}


def write_items(items: pd.DataFrame, path: Path) -> Path:
    """One row per scored upload, with the data note in the schema metadata."""
    items = items.reset_index(drop=True)
    zoned = [c for c in items.columns if isinstance(items[c].dtype, pd.DatetimeTZDtype)]
    table = pa.Table.from_pandas(items.drop(columns=zoned), preserve_index=False)
    for column in zoned:  # as UTC timestamps (pyarrow's own conversion goes through a deprecated path)
        values = items[column].dt.tz_convert("UTC").dt.tz_convert(None).to_numpy()
        table = table.add_column(items.columns.get_loc(column), column,
                                 pa.array(values, type=pa.timestamp("ns", tz="UTC")))
    metadata = {**(table.schema.metadata or {}), b"slopscore.benchmark": DATA_NOTE.encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


def write_metrics(metrics: pd.DataFrame, path: Path) -> Path:
    """``metrics.csv``: the metric table, text cells defused, floats at full precision."""
    safe = metrics.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(defuse_cell)
    safe.to_csv(path, index=False)
    return path


def write_readme(path: Path, lines: Sequence[str]) -> Path:
    """``README.txt`` beside the tables: what they are, starting with the data note."""
    text = [f"slopscore benchmark: {DATA_NOTE}.", "", *lines, ""]
    path.write_text("\n".join(text), encoding="utf-8")
    return path


def flat_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """MLflow metric names (``seen/as-is/backlog/all/triage/fpr_at_threshold``) for the rows with a value;
    scenario-level rows also get ``_low`` and ``_high``."""
    flat = {}
    for row in metrics[metrics["status"] == "ok"].to_dict("records"):
        parts = [_KINDS.get(row["fold_kind"], row["fold_kind"]), row["processing"], row["scenario"],
                 row["segment"], row["model"].replace(" - ", "_minus_"), row["metric"]]
        name = _METRIC_NAME.sub("_", "/".join(str(p) for p in parts))[:250]
        flat[name] = float(row["value"])
        if row["segment"] == "all":
            flat[f"{name}_low"], flat[f"{name}_high"] = float(row["low"]), float(row["high"])
    return flat


def log_run(store_dir: str, metrics: pd.DataFrame, *, params: Mapping[str, object],
            tags: Mapping[str, str], artifacts: Sequence[Path]) -> str:
    """Log the benchmark as one run of the ``slopscore-benchmark`` experiment; returns the run id."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)  # not MLflow's notes on creating its tables
    try:
        return _log_run(store_dir, metrics, params, tags, artifacts)
    finally:
        logger.setLevel(level)


def _log_run(store_dir: str, metrics: pd.DataFrame, params: Mapping[str, object], tags: Mapping[str, str],
             artifacts: Sequence[Path]) -> str:
    uri = configure_tracking(store_dir)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        store = Path(store_dir).expanduser().resolve()
        local = uri == f"sqlite:///{store / 'mlflow.db'}"  # our local store keeps artifacts beside it
        experiment_id = mlflow.create_experiment(
            EXPERIMENT, artifact_location=(store / "artifacts").as_uri() if local else None)
    else:
        experiment_id = experiment.experiment_id
    with mlflow.start_run(experiment_id=experiment_id, run_name="benchmark") as run:
        mlflow.set_tags({"data": DATA_NOTE, "mlflow.note.content": f"slopscore benchmark: {DATA_NOTE}",
                         **tags})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        flat = list(flat_metrics(metrics).items())
        for start in range(0, len(flat), 500):
            mlflow.log_metrics(dict(flat[start:start + 500]))
        for path in artifacts:
            mlflow.log_artifact(str(path))
    return run.info.run_id
