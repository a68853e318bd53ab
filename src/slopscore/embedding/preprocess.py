"""Resize and crop decoded images into the fixed-size uint8 tensors a backbone expects.

Workers produce uint8 tensors (four times smaller to pass between processes than
float32); mean/std normalisation happens on the model's device, in the batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from slopscore.media.decode import DRAFT_MIN

__all__ = ["Preprocess", "to_uint8_tensor"]

#: Bumped whenever decoding or resampling changes, so cached embeddings are not reused.
PIPELINE_VERSION = 3
_REDUCING_GAP = 2.0
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass(frozen=True)
class Preprocess:
    """How pixels are prepared for one backbone; travels with its weights.

    Attributes
    ----------
    image_size : int
        Side of the square input.
    mean, std : tuple of float
        Per-channel normalisation applied to values in [0, 1].
    interpolation : {"bicubic", "bilinear"}
        Resampling filter.
    resize_mode : {"shortest", "squash"}
        ``shortest``: resize the shorter side then centre-crop;
        ``squash``: resize both sides to ``image_size`` ignoring aspect.
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    def __post_init__(self) -> None:
        if self.interpolation not in _RESAMPLE:
            raise ValueError(
                f"interpolation {self.interpolation!r} is not one of {sorted(_RESAMPLE)}"
            )
        if self.resize_mode not in {"shortest", "squash"}:
            raise ValueError(f"resize_mode {self.resize_mode!r} is not 'shortest' or 'squash'")

    @property
    def draft_size(self) -> int:
        """The smallest side JPEGs are decoded at (see :data:`slopscore.media.decode.DRAFT_MIN`)."""
        return max(self.image_size, DRAFT_MIN)

    @property
    def id(self) -> str:
        """A short stable identifier, part of every embedding cache key."""
        fields = {**asdict(self), "pipeline": PIPELINE_VERSION}
        payload = json.dumps(fields, sort_keys=True).encode()
        return f"{self.image_size}px-{self.interpolation}-{self.resize_mode}-" + hashlib.sha256(
            payload
        ).hexdigest()[:8]


def to_uint8_tensor(image: Image.Image, preprocess: Preprocess) -> torch.Tensor:
    """Resize/crop an RGB image to a ``(3, S, S)`` uint8 tensor.

    ``shortest`` mode resamples only the centre square (Pillow's ``box``), which
    equals resize-then-crop without computing pixels that are thrown away.
    Large reductions first shrink by an integer factor with a box filter
    (``reducing_gap=2``: Pillow's documented point where the result is
    indistinguishable from full resampling), then apply the final filter.
    """
    size = preprocess.image_size
    resample = _RESAMPLE[preprocess.interpolation]
    width, height = image.size
    box = (0.0, 0.0, float(width), float(height))
    if preprocess.resize_mode == "shortest":
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        box = (left, top, left + side, top + side)
    if image.size != (size, size) or box != (0.0, 0.0, float(size), float(size)):
        image = image.resize((size, size), resample, box=box, reducing_gap=_REDUCING_GAP)
    # numpy's transpose copy: torch's permute().contiguous() on tiny uint8 tensors
    # is far slower when several intra-op threads are active.
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
