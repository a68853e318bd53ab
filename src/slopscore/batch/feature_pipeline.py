"""From a manifest to the feature table: embed, read file signals, build features.

Used by training, evaluation and scoring alike, so that all three see the same
features. Embeddings come from (and fill) the cache, so repeated runs over the
same files never re-encode them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from slopscore.batch.embed_job import EmbedJobSummary, run_embedding_job
from slopscore.config import Settings
from slopscore.embedding.cache import SignalCache
from slopscore.embedding.encoder import ImageEncoder
from slopscore.media.manifest import ManifestRow, RowError, read_manifest
from slopscore.signals.feature_table import build_feature_table
from slopscore.signals.file_signals import SIGNALS_VERSION, FileSignalReader, empty_signals

__all__ = ["PreparedData", "prepare_features", "write_manifest"]

Progress = Callable[[str, "int | None"], Callable[[int], None]]


@dataclass
class PreparedData:
    """Features for every valid row plus what could not be used."""

    frame: pd.DataFrame
    rows: list[ManifestRow]
    row_errors: list[RowError]
    embed_summary: EmbedJobSummary


def write_manifest(rows: Sequence[ManifestRow], path: str | os.PathLike[str]) -> Path:
    """Write validated rows as a CSV manifest (used to combine history and new uploads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "item_id": [r.item_id for r in rows],
        "artist_id": [r.artist_id for r in rows],
        "path": [r.path for r in rows],
        "uploaded_at": [r.uploaded_at.isoformat() for r in rows],
        "label": [r.label.value if r.label else "" for r in rows],
        "declared_ai": ["" if r.declared_ai is None else str(r.declared_ai).lower() for r in rows],
        "has_process_notes": ["" if r.has_process_notes is None else str(r.has_process_notes).lower()
                              for r in rows],
        "title": [r.title or "" for r in rows],
        "tags": [";".join(r.tags) for r in rows],
        "review_outcome": [r.review_outcome or "" for r in rows],
    }).to_csv(path, index=False)
    return path


def prepare_features(
    manifest: str | os.PathLike[str],
    settings: Settings,
    work_dir: str | os.PathLike[str],
    *,
    encoder: ImageEncoder | None = None,
    progress: Progress | None = None,
) -> PreparedData:
    """Embed every row of ``manifest``, read its files' signals, and build the feature table.

    Parameters
    ----------
    manifest : path-like
        CSV, Parquet or JSON Lines manifest.
    settings : Settings
    work_dir : path-like
        Where ``embeddings.parquet`` and its skip report are written.
    encoder : ImageEncoder, optional
        Reuse a loaded encoder (it must match ``settings.embedding.backbone``).
    progress : callable, optional
        ``progress(description, total)`` returns an ``advance(n)`` callable.
    """
    work_dir = Path(work_dir)
    parsed = read_manifest(manifest)
    cache = SignalCache(settings.cache.dir, SIGNALS_VERSION) if settings.cache.enabled else None
    summary = run_embedding_job(  # each file is read once, for its embedding and its signals
        manifest, work_dir / "embeddings.parquet", settings, encoder=encoder,
        progress=(lambda total: progress("embedding", total)) if progress else None,
        signals=FileSignalReader(settings.images.max_pixels, cache),
    )
    embeddings = pq.read_table(summary.out).to_pandas()
    signals = [summary.signals.get(row.item_id) or empty_signals() for row in parsed.rows]
    frame = build_feature_table(parsed.rows, embeddings, signals, settings.portfolio)
    return PreparedData(frame, parsed.rows, parsed.errors, summary)
