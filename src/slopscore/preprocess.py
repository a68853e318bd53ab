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

__all__ = ["Preprocess", "to_uint8_tensor"]

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
    def id(self) -> str:
        """A short stable identifier, part of every embedding cache key."""
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return f"{self.image_size}px-{self.interpolation}-{self.resize_mode}-" + hashlib.sha256(
            payload
        ).hexdigest()[:8]


def to_uint8_tensor(image: Image.Image, preprocess: Preprocess) -> torch.Tensor:
    """Resize/crop an RGB image to a ``(3, S, S)`` uint8 tensor.

    Large images are first shrunk with Pillow's ``reducing_gap`` (fast box
    reduction) before the final filter, which keeps quality and saves time.
    """
    size = preprocess.image_size
    resample = _RESAMPLE[preprocess.interpolation]
    width, height = image.size
    if preprocess.resize_mode == "squash":
        image = image.resize((size, size), resample, reducing_gap=3.0)
    else:
        scale = size / min(width, height)
        new_w = max(size, round(width * scale))
        new_h = max(size, round(height * scale))
        if (new_w, new_h) != (width, height):
            image = image.resize((new_w, new_h), resample, reducing_gap=3.0)
        left = (new_w - size) // 2
        top = (new_h - size) // 2
        if (new_w, new_h) != (size, size):
            image = image.crop((left, top, left + size, top + size))
    # numpy's transpose copy: torch's permute().contiguous() on tiny uint8 tensors
    # is far slower when several intra-op threads are active.
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)))
