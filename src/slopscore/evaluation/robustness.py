"""Robustness: how often the detector's verdict flips when an image is recompressed or resized."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from slopscore.embedding.encoder import ImageEncoder, embed_sources
from slopscore.evaluation.verdicts import verdict_flip_rate
from slopscore.media.decode import DEFAULT_MAX_BYTES, ImageLoadError, load_image, read_source
from slopscore.model.detector import AIDetector

__all__ = ["PERTURBATIONS", "perturb", "verdict_flips"]

PERTURBATIONS = ("jpeg95", "jpeg75", "jpeg50", "downscale_0.5", "thumbnail_256")


def perturb(data: bytes, name: str) -> bytes:
    """Re-encode ``data`` as JPEG after one of :data:`PERTURBATIONS` (quality or size)."""
    image = load_image(data).image
    if name.startswith("jpeg"):
        quality = int(name[4:])
    else:
        quality = 95
        if name == "downscale_0.5":
            image = image.resize((max(1, image.width // 2), max(1, image.height // 2)),
                                 Image.Resampling.LANCZOS)
        else:
            image.thumbnail((256, 256), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def verdict_flips(frame: pd.DataFrame, p_ai: np.ndarray, encoder: ImageEncoder,
                  detector: AIDetector, *, batch_size: int = 32,
                  max_bytes: int = DEFAULT_MAX_BYTES, max_items: int = 200) -> dict:
    """Flip rates of the verdict P(AI) ≥ 0.5 under each perturbation (first ``max_items`` items).

    Returns
    -------
    dict of str to :class:`slopscore.evaluation.verdicts.FlipRate`
        Per perturbation: items, flipped, rate in [0, 1] (lower = more robust), Wilson interval.
    """
    rows = np.arange(len(frame))[np.isfinite(p_ai)][:max_items]
    originals = {}
    for i in rows:
        try:
            originals[i] = read_source(frame["path"].iloc[i], max_bytes)
        except ImageLoadError:
            continue  # the file changed or vanished since it was scored
    keep = np.array(sorted(originals))
    results = {}
    for name in PERTURBATIONS:
        perturbed = [perturb(originals[i], name) for i in keep]
        vectors = [r.vector for r in embed_sources(perturbed, encoder, num_workers=0,
                                                   batch_size=batch_size)]
        p_new = detector.predict_ai_probability(np.stack(vectors))
        results[name] = verdict_flip_rate(p_ai[keep], p_new, 0.5)
    return results
