"""Perturbations used to measure verdict flips."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from slopscore.evaluation.robustness import PERTURBATIONS, perturb


@pytest.fixture
def photo() -> bytes:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_each_perturbation_gives_the_promised_jpeg(photo):
    out = {name: perturb(photo, name) for name in PERTURBATIONS}
    sizes = {name: Image.open(io.BytesIO(data)).size for name, data in out.items()}
    assert all(Image.open(io.BytesIO(data)).format == "JPEG" for data in out.values())
    assert sizes["jpeg95"] == sizes["jpeg50"] == (400, 300)
    assert sizes["downscale_0.5"] == (200, 150)
    assert max(sizes["thumbnail_256"]) == 256
    assert len(out["jpeg50"]) < len(out["jpeg75"]) < len(out["jpeg95"])
