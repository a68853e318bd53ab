"""Assemble the per-item feature table the scorer reads.

One row per valid manifest row: the manifest fields, the embedding (or its skip
reason), what the file says about itself (provenance, PDQ hash), portfolio
consistency against the artist's own earlier accepted works, and duplicate counts
within the artist (mass production) and across accounts (reposts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from slopscore.media.manifest import Label, ManifestRow
from slopscore.signals.duplicates import (
    cross_account_duplicates,
    find_near_duplicates,
    within_artist_duplicates,
)
from slopscore.signals.pdq import PdqHash
from slopscore.signals.pdq_index import PdqIndex
from slopscore.signals.portfolio import FEATURE_NAMES, PortfolioConfig, portfolio_features

__all__ = ["ContextSettings", "add_context_features", "build_feature_table", "manifest_frame"]


class ContextSettings(Protocol):
    """What the context features read (``slopscore.config.PortfolioSettings`` provides it)."""

    min_portfolio: int
    k_nearest: int
    near_duplicate_similarity: float
    near_duplicate_window_hours: float
    burst_window_hours: float
    pdq_max_distance: int
    pdq_min_quality: int


def manifest_frame(rows: Sequence[ManifestRow]) -> pd.DataFrame:
    """The manifest fields as columns (labels as strings, tags joined with ``;``)."""
    return pd.DataFrame({
        "item_id": [r.item_id for r in rows],
        "artist_id": [r.artist_id for r in rows],
        "path": [r.path for r in rows],
        "uploaded_at": pd.to_datetime([r.uploaded_at for r in rows], utc=True),
        "label": [r.label.value if r.label else None for r in rows],
        "declared_ai": pd.array([r.declared_ai for r in rows], dtype="boolean"),
        "has_process_notes": pd.array([r.has_process_notes for r in rows], dtype="boolean"),
        "title": [r.title for r in rows],
        "tags": [";".join(r.tags) for r in rows],
        "review_outcome": [r.review_outcome for r in rows],
    })


def build_feature_table(
    rows: Sequence[ManifestRow],
    embeddings: pd.DataFrame,
    file_signals: Sequence[dict],
    settings: ContextSettings,
) -> pd.DataFrame:
    """Join manifest rows, embeddings and file signals, then add portfolio and duplicate features.

    Parameters
    ----------
    rows : sequence of ManifestRow
        Valid rows, in the order of ``file_signals``; history first, then new uploads.
    embeddings : pandas.DataFrame
        ``item_id``, ``sha256``, ``status``, ``skip_reason``, ``embedding`` (from
        :func:`slopscore.batch.embed_job.run_embedding_job`).
    file_signals : sequence of dict
        :func:`slopscore.signals.file_signals.file_signals` per row.
    settings : ContextSettings
        ``Settings.portfolio``.

    Returns
    -------
    pandas.DataFrame
        Portfolio features are NaN without an embedding or in cold start;
        ``near_duplicates`` is the larger of the embedding-space and PDQ counts
        within the artist; ``cross_account_posters`` counts other artists who
        posted a near-identical image (informational, never AI evidence).
    """
    frame = manifest_frame(rows)
    wanted = ["item_id", "sha256", "status", "skip_reason", "embedding"]
    frame = frame.merge(embeddings[wanted].drop_duplicates("item_id"), on="item_id", how="left")
    frame = pd.concat([frame, pd.DataFrame(list(file_signals), index=frame.index)], axis=1)
    add_context_features(frame, settings)
    return frame


def add_context_features(frame: pd.DataFrame, settings: ContextSettings) -> None:
    """Add portfolio and duplicate features in place (see :func:`build_feature_table`).

    ``frame`` holds the manifest columns, ``embedding`` and the file-signal columns
    for every work of the artists concerned: features of a row depend only on the
    rows of its own artist, except ``cross_account_posters`` (all rows of ``frame``).
    """
    _add_portfolio(frame, settings)
    _add_duplicates(frame, settings)


def _accepted(labels: pd.Series) -> np.ndarray:
    """Works in the artist's accepted body of work: anything not confirmed as slop."""
    return (labels != Label.AI_SLOP.value).to_numpy()


def _add_portfolio(frame: pd.DataFrame, settings: ContextSettings) -> None:
    has = frame["embedding"].map(lambda e: e is not None and len(e) > 0).to_numpy(dtype=bool)
    columns = {name: np.full(len(frame), np.nan) for name in FEATURE_NAMES}
    columns["cold_start"] = np.ones(len(frame), dtype=bool)  # no embedding: nothing to compare
    if not has.any():
        for name, values in columns.items():
            frame[name] = values
        return
    config = PortfolioConfig(
        min_portfolio=max(2, settings.min_portfolio), k=settings.k_nearest,
        near_duplicate_threshold=settings.near_duplicate_similarity,
        near_duplicate_window_s=settings.near_duplicate_window_hours * 3600,
        burst_window_s=settings.burst_window_hours * 3600,
    )
    subset = frame[has]
    features = portfolio_features(
        np.stack([np.asarray(e, np.float32) for e in subset["embedding"]]),
        subset["artist_id"].to_numpy(),
        subset["uploaded_at"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]"),
        _accepted(subset["label"]),
        subset["item_id"].to_numpy(),
        config,
    )
    for name, values in features.as_dict().items():
        columns[name][has] = values
        frame[name] = columns[name]


def _add_duplicates(frame: pd.DataFrame, settings: ContextSettings) -> None:
    frame["pdq_duplicates"] = 0
    frame["cross_account_posters"] = 0
    hashed = frame["pdq_hex"].notna().to_numpy()
    if hashed.any():
        subset = frame[hashed]
        hashes = [PdqHash.from_hex(h, int(q)) for h, q in zip(subset["pdq_hex"], subset["pdq_quality"])]
        index = PdqIndex.from_arrays(
            np.stack([h.words for h in hashes]), [h.quality for h in hashes],
            subset["item_id"].to_numpy(), subset["artist_id"].to_numpy(),
            subset["uploaded_at"].dt.tz_convert(None).to_numpy(dtype="datetime64[s]"),
        )
        near = find_near_duplicates(index, max_distance=settings.pdq_max_distance,
                                    min_quality=settings.pdq_min_quality)
        window = timedelta(hours=settings.near_duplicate_window_hours)
        own = within_artist_duplicates(index, near, window=window, earlier_only=True)
        others = cross_account_duplicates(index, near)
        frame.loc[hashed, "pdq_duplicates"] = own.counts
        frame.loc[hashed, "cross_account_posters"] = others.counts
    frame["near_duplicates"] = np.fmax(frame["recent_near_duplicates"].to_numpy(dtype=float),
                                       frame["pdq_duplicates"].to_numpy(dtype=float))
