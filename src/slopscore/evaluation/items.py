"""Per-item evaluation outputs: held-out predictions, the confusion table at the review
threshold, and galleries of the costliest mistakes (highest-scored human works,
lowest-scored AI slop).

Gallery thumbnails are decoded from the files and re-encoded from their pixels (PNG, at
most :data:`THUMBNAIL_PX` a side), never the uploaded bytes; titles come from strangers
and are escaped by the report's template.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["GALLERY_SIZE", "THUMBNAIL_PX", "GalleryItem", "confusion_table", "galleries", "predictions_table"]

#: Items per gallery (the report stays small however large the evaluation set).
GALLERY_SIZE = 12
#: Longest side of a gallery thumbnail, in pixels.
THUMBNAIL_PX = 160
_MAX_THUMBNAIL_SOURCE_PIXELS = 64_000_000
_MAX_THUMBNAIL_SOURCE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class GalleryItem:
    """One work in a gallery: what it is, its scores, and a re-encoded PNG thumbnail (or None)."""

    item_id: str
    artist_id: str
    title: str
    label: str
    p_ai: float
    triage_score: float
    thumbnail_png_base64: str | None


def predictions_table(frame: pd.DataFrame, scored: pd.DataFrame, y_ai: np.ndarray, y_violation: np.ndarray,
                      threshold: float) -> pd.DataFrame:
    """One row per evaluated item.

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``artist_id``, ``label``, ``is_ai`` and ``is_violation`` (the
        targets, 0/1), ``p_ai`` (0..1, higher = more likely AI), ``triage_score`` (0..1,
        higher = review sooner), ``flagged`` (``triage_score >= review_threshold``),
        ``review_threshold``, ``model_version``.
    """
    triage = scored["triage_score"].to_numpy(dtype=float)
    return pd.DataFrame({
        "item_id": frame["item_id"].to_numpy(), "artist_id": frame["artist_id"].to_numpy(),
        "label": frame["label"].to_numpy(), "is_ai": y_ai, "is_violation": y_violation,
        "p_ai": scored["p_ai"].to_numpy(dtype=float), "triage_score": triage,
        "flagged": triage >= threshold, "review_threshold": threshold,
        "model_version": scored["model_version"].to_numpy() if "model_version" in scored else "",
    })


def confusion_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Flagged and not flagged at the review threshold, per label and in total.

    Returns
    -------
    pandas.DataFrame
        ``label``, ``items``, ``flagged``, ``not_flagged``, ``flagged_share`` (0..1): for
        ``human`` the false-positive share (lower is better), for ``ai_slop`` the detection
        share (higher is better).
    """
    rows = []
    for label, group in [*predictions.groupby("label", sort=True), ("all", predictions)]:
        flagged = int(group["flagged"].sum())
        rows.append({"label": label, "items": len(group), "flagged": flagged,
                     "not_flagged": len(group) - flagged,
                     "flagged_share": flagged / len(group) if len(group) else float("nan")})
    return pd.DataFrame(rows, columns=["label", "items", "flagged", "not_flagged", "flagged_share"])


def _thumbnail(path: object) -> str | None:
    """A PNG thumbnail re-encoded from the decoded pixels, base64; None when unreadable."""
    from slopscore.media.decode import ImageLoadError, load_image

    if not isinstance(path, str) or not path:
        return None
    try:
        decoded = load_image(path, draft_size=THUMBNAIL_PX, max_pixels=_MAX_THUMBNAIL_SOURCE_PIXELS,
                             max_bytes=_MAX_THUMBNAIL_SOURCE_BYTES)
    except (ImageLoadError, OSError, ValueError):
        return None
    image = decoded.image.copy()
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def galleries(frame: pd.DataFrame, predictions: pd.DataFrame, size: int = GALLERY_SIZE) -> dict[str, list[GalleryItem]]:
    """The ``size`` highest-scored human works and the ``size`` lowest-scored AI slop works.

    Returns
    -------
    dict of str to list of GalleryItem
        Titled galleries, most costly mistake first (human: highest ``triage_score``
        first; AI slop: lowest first).
    """
    scored = predictions.assign(title=frame["title"].fillna("").astype(str).to_numpy() if "title" in frame else "",
                                path=frame["path"].to_numpy() if "path" in frame else None)
    scored = scored[np.isfinite(scored["triage_score"].to_numpy(dtype=float))]
    human = scored[scored["label"] == "human"].sort_values("triage_score", ascending=False, kind="stable")
    slop = scored[scored["is_violation"] == 1].sort_values("triage_score", ascending=True, kind="stable")

    def items(rows: pd.DataFrame) -> list[GalleryItem]:
        return [GalleryItem(str(r.item_id), str(r.artist_id), str(r.title)[:300], str(r.label), float(r.p_ai),
                            float(r.triage_score), _thumbnail(r.path)) for r in rows.head(size).itertuples()]

    return {f"Highest-scored human works (top {size}: the false accusations to fear)": items(human),
            f"Lowest-scored AI slop (bottom {size}: what the queue misses)": items(slop)}
