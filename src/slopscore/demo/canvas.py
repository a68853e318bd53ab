"""Pixel primitives shared by the demo's drawing procedures (numpy + Pillow only).

Colours are RGB floats in [0, 1] until :func:`to_image`; coordinates from :func:`grid` are 0 at
the image centre and +-1 at the ends of its long side.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

__all__ = ["SIZES", "add_bokeh", "add_glow", "add_grain", "grid", "hsv", "organic_harmonics", "outline",
           "random_size", "rgb255", "smoothstep", "to_array", "to_image"]

# (width, height); both classes draw from the same sizes
SIZES = ((256, 256), (256, 192), (192, 256), (256, 144), (160, 256), (224, 224),
         (224, 168), (176, 224), (288, 192), (216, 288), (288, 240))


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """HSV (any hue, clipped s and v) to an RGB float array in [0, 1]."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)))


def rgb255(rgb: np.ndarray) -> tuple[int, ...]:
    """RGB floats in [0, 1] to a Pillow colour tuple."""
    return tuple(int(c) for c in np.round(np.clip(rgb, 0, 1) * 255))


def to_image(rgb: np.ndarray) -> Image.Image:
    """An (h, w, 3) float array in [0, 1] to an RGB image."""
    return Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def to_array(img: Image.Image) -> np.ndarray:
    """An RGB image to an (h, w, 3) float array in [0, 1]."""
    return np.asarray(img, dtype=np.float64) / 255


def smoothstep(edge0, edge1, x: np.ndarray) -> np.ndarray:
    """Smooth 0-to-1 ramp from ``edge0`` to ``edge1`` (either order)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, 0 at the centre and +-1 at the ends of the long side."""
    half = max(w, h) / 2
    return np.meshgrid((np.arange(w) - (w - 1) / 2) / half, (np.arange(h) - (h - 1) / 2) / half)


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """One of the platform's image sizes, uniformly."""
    return SIZES[rng.integers(len(SIZES))]


def add_glow(rgb: np.ndarray, xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, sigma: float,
              colour: np.ndarray) -> np.ndarray:
    """Add a Gaussian glow of ``colour`` (its brightness is the strength) around ``centre``."""
    glow = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))
    return rgb + colour * glow[..., None]


def add_bokeh(rgb: np.ndarray, xx: np.ndarray, yy: np.ndarray, discs: np.ndarray,
               colours: np.ndarray) -> np.ndarray:
    """Add soft-edged light discs; ``discs`` holds (x, y, radius) rows."""
    for (bx, by, br), col in zip(discs, colours):
        rgb = rgb + 0.3 * col * smoothstep(br, 0.8 * br, np.hypot(xx - bx, yy - by))[..., None]
    return rgb


def organic_harmonics(rng: np.random.Generator) -> np.ndarray:
    """Low-order outline harmonics of an organic, irregular shape."""
    return np.column_stack([(1, 2, 3), rng.uniform(0, 0.2, 3), rng.uniform(0, 2 * np.pi, 3)])


def outline(theta: np.ndarray, radius: float, harmonics: np.ndarray) -> np.ndarray:
    """Radius of a closed outline at angles ``theta``; rows are (order, amplitude, phase)."""
    return radius * (1 + sum(amp * np.cos(k * theta + phase) for k, amp, phase in harmonics))


def add_grain(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    """Add paper/canvas or film grain: mostly luminance noise plus a little colour noise."""
    arr = np.asarray(img, dtype=np.float64)
    noise = rng.normal(0, sigma, arr.shape[:2] + (1,)) + rng.normal(0, sigma / 3, arr.shape)
    return Image.fromarray(np.clip(arr + noise + 0.5, 0, 255).astype(np.uint8))
