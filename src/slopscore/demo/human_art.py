"""Human artists' works on the synthetic demo platform, and AI-assisted works with their marks.

Each artist draws with a consistent personal style: traditional media (strokes, ink,
pixels, prints) on grainy paper, or smooth digital work (airbrushed gradients and glows,
clean vector shapes) with little or no grain. The classes overlap on purpose, as on real
platforms: digital human work shares the glows and gradients of generator-look images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from slopscore.demo.canvas import (
    add_bokeh,
    add_glow,
    add_grain,
    grid,
    hsv,
    organic_harmonics,
    outline,
    random_size,
    rgb255,
    smoothstep,
    to_array,
    to_image,
)
from slopscore.demo.generator_art import generator_image, generator_params

__all__ = ["DIGITAL", "MARKS", "TRADITIONAL", "Style", "assisted_image", "draw_marks", "human_image",
           "random_style"]

# mark-making -> (medium tag, marks per image, stroke width range in px)
MARKS = {
    "strokes": ("painting", (150, 300), (1, 3)),
    "blobs": ("painting", (30, 70), (1, 1)),
    "hatching": ("ink", (20, 45), (1, 2)),
    "blocks": ("pixel", (15, 40), (1, 1)),
    "stipple": ("ink", (1500, 3000), (1, 4)),
    "woodcut": ("print", (10, 25), (3, 8)),
    "airbrush": ("digital", (8, 20), (1, 2)),
    "vector": ("vector", (6, 16), (1, 1)),
}
DIGITAL = ("airbrush", "vector")
TRADITIONAL = tuple(mark for mark in MARKS if mark not in DIGITAL)
HABITS = ("centre", "horizon", "uniform", "diagonal")
_SUPERSAMPLE = 4  # vector shapes are drawn this much larger, then downsampled (anti-aliasing)


@dataclass(frozen=True)
class Style:
    """A human artist's consistent personal style."""

    mark: str
    medium: str
    palette: tuple[tuple[int, int, int], ...]
    paper: tuple[int, int, int]
    width: tuple[int, int]
    density: int
    grain: float
    habit: str
    angle: float
    size: tuple[int, int]


def random_style(rng: np.random.Generator, mark: str) -> Style:
    """Draw a personal style: palette, paper, mark-making, grain and composition habit."""
    medium, density, width = MARKS[mark]
    hue, dark, digital = rng.random(), mark == "woodcut", mark in DIGITAL
    spread, saturation = rng.uniform(0.04, 0.25), rng.uniform(0.3, 0.95 if digital else 0.7)
    palette = tuple(
        rgb255(hsv(hue + rng.normal(0, spread), saturation + rng.normal(0, 0.1),
                     rng.uniform(0.7, 0.95) if dark else rng.uniform(0.25, 0.95)))
        for _ in range(rng.integers(4, 7)))
    if digital:  # any backdrop colour, light or dark
        paper = rgb255(hsv(hue + rng.normal(0, 0.2), rng.uniform(0.1, 0.8),
                             rng.uniform(0.15, 0.95)))
        grain = rng.uniform(0, 1) if mark == "airbrush" else 0.0
    else:
        paper = rgb255(hsv(rng.random(), rng.uniform(0.02, 0.12),
                             rng.uniform(0.08, 0.15) if dark else rng.uniform(0.88, 0.97)))
        grain = rng.uniform(1.5, 7)
    return Style(mark, medium, palette, paper, width, int(rng.integers(*density)), grain,
                 str(rng.choice(HABITS)), rng.uniform(0, np.pi), random_size(rng))


def _sample_points(rng: np.random.Generator, habit: str, w: int, h: int, n: int) -> np.ndarray:
    """Mark positions (n, 2) following a composition habit."""
    if habit == "centre":
        pts = rng.normal([w / 2, h / 2], [w / 5, h / 5], (n, 2))
    elif habit == "horizon":
        horizon = h * rng.uniform(0.5, 0.7)
        pts = np.column_stack([rng.uniform(0, w, n), rng.normal(horizon, h / 10, n)])
    elif habit == "diagonal":
        t = rng.random(n)
        pts = np.column_stack([t * w, (1 - t) * h]) + rng.normal(0, w / 8, (n, 2))
    else:
        pts = rng.uniform(0, [w, h], (n, 2))
    return np.clip(pts, 0, [w - 1, h - 1])


def _wobbly(rng: np.random.Generator, p0: np.ndarray, p1: np.ndarray, wobble: float) -> list:
    """A hand-drawn line: the midpoint is displaced a little."""
    mid = (p0 + p1) / 2 + rng.normal(0, wobble, 2)
    return [tuple(p0), tuple(mid), tuple(p1)]


def _jagged_polygon(rng: np.random.Generator, centre: np.ndarray, radius: float,
                    vertices: int, roughness: float) -> list:
    """An irregular, slightly elongated polygon around ``centre``."""
    ang = np.linspace(0, 2 * np.pi, vertices, endpoint=False) + rng.uniform(0, np.pi)
    aspect = np.array([[1.0], [rng.uniform(0.5, 1.5)]])
    rad = radius * (1 + rng.normal(0, roughness, vertices)) * aspect
    return [tuple(q) for q in (centre[:, None] + rad * np.stack([np.cos(ang), np.sin(ang)])).T]


def _backdrop(rng: np.random.Generator, style: Style, w: int, h: int) -> Image.Image:
    """Uneven paper for traditional media, a smooth two-colour gradient for digital work."""
    if style.mark in DIGITAL:
        xx, yy = grid(w, h)
        a = style.angle + rng.normal(0, 0.3)
        t = rng.uniform(0.2, 0.8) * np.clip((xx * np.cos(a) + yy * np.sin(a) + 1) / 2, 0, 1)
        far = _palette_colour(rng, style)
        return to_image(np.array(style.paper) / 255 * (1 - t[..., None]) + far * t[..., None])
    unevenness = Image.fromarray(rng.normal(0, 6, (4, 4)).astype(np.float32))  # mode "F"
    shade = np.asarray(unevenness.resize((w, h), Image.Resampling.BILINEAR))[..., None]
    return Image.fromarray(np.clip(np.array(style.paper) + shade, 0, 255).astype(np.uint8))


def _mark_count(rng: np.random.Generator, style: Style, amount: float) -> int:
    """How many marks one image gets."""
    return max(1, int(style.density * amount * rng.uniform(0.8, 1.2)))


def _traditional_marks(img: Image.Image, rng: np.random.Generator, style: Style,
                       amount: float) -> None:
    """Draw strokes, blobs, hatching, pixel blocks, stipple or woodcut onto ``img`` in place."""
    w, h = img.size
    draw = ImageDraw.Draw(img)
    n = _mark_count(rng, style, amount)
    pts = _sample_points(rng, style.habit, w, h, n)
    cols = [style.palette[i] for i in rng.integers(0, len(style.palette), n)]
    widths = rng.integers(style.width[0], style.width[1] + 1, n)
    for p, col, wd in zip(pts, cols, widths):
        if style.mark == "strokes":
            a = style.angle + rng.normal(0, 0.35)
            d = rng.uniform(8, 40) * np.array([np.cos(a), np.sin(a)])
            draw.line(_wobbly(rng, p - d / 2, p + d / 2, 1.2), fill=col, width=int(wd),
                      joint="curve")
        elif style.mark == "blobs":
            draw.polygon(_jagged_polygon(rng, p, rng.uniform(5, 18), 12, 0.12), fill=col)
        elif style.mark == "hatching":
            a = style.angle + np.pi / 2 * rng.integers(2) + rng.normal(0, 0.1)
            u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
            size = rng.uniform(12, 30)
            for off in np.linspace(-size / 2, size / 2, rng.integers(4, 9)):
                start, end = p + v * off - u * size / 2, p + v * off + u * size / 2
                draw.line(_wobbly(rng, start, end, 0.8), fill=col, width=int(wd))
        elif style.mark == "blocks":
            x0, y0 = (p // 16) * 16 + rng.integers(-1, 2, 2)
            bw, bh = 16 * rng.integers(1, 4, 2)
            draw.rectangle([x0, y0, x0 + bw - 1, y0 + bh - 1], fill=col)
        elif style.mark == "stipple":
            r = wd / 2 + rng.uniform(0, 0.6)
            draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=col)
        else:  # woodcut: light jagged shapes and gouges on dark paper
            shape = _jagged_polygon(rng, p, rng.uniform(10, 45), int(rng.integers(5, 11)), 0.35)
            draw.polygon(shape, fill=col)
            draw.line(_wobbly(rng, p, p + rng.normal(0, 25, 2), 3), fill=style.paper, width=int(wd))


def _palette_colour(rng: np.random.Generator, style: Style) -> np.ndarray:
    """One colour of the artist's palette as floats in [0, 1]."""
    return np.array(style.palette[rng.integers(len(style.palette))]) / 255


def _soft_dabs(rng: np.random.Generator, style: Style, rgb: np.ndarray, xx: np.ndarray,
               yy: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Paint elongated Gaussian airbrush dabs over ``rgb``."""
    for cx, cy in centres:
        a = style.angle + rng.normal(0, 0.6)
        sx, squash = rng.uniform(0.05, 0.3), rng.uniform(0.2, 0.8)  # length and width ratio
        u = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
        v = (yy - cy) * np.cos(a) - (xx - cx) * np.sin(a)
        alpha = rng.uniform(0.3, 0.8) * np.exp(-(u**2 + (v / squash) ** 2) / (2 * sx**2))
        rgb = rgb * (1 - alpha[..., None]) + _palette_colour(rng, style) * alpha[..., None]
    return rgb


def _soft_form(rng: np.random.Generator, style: Style, rgb: np.ndarray, xx: np.ndarray,
               yy: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Paint an irregular, softly shaded and lit form (a character, a creature, a plant)."""
    dx, dy = xx - centre[0], yy - centre[1]
    theta, radius = np.arctan2(dy, dx), rng.uniform(0.15, 0.35)
    backlight = rng.uniform(0, 0.7) * hsv(rng.random(), rng.uniform(0, 0.6), 1)
    rgb = add_glow(rgb, xx, yy, centre, radius * rng.uniform(1, 2), backlight)
    edge = outline(theta, radius, organic_harmonics(rng))
    mask = smoothstep(edge, edge - rng.uniform(0.01, 0.08), np.hypot(dx, dy))[..., None]
    light = rng.uniform(0, 2 * np.pi)
    shade = np.clip(0.75 + 0.5 * (dx * np.cos(light) + dy * np.sin(light)) / radius, 0.3, 1.3)
    rgb = rgb * (1 - mask) + _palette_colour(rng, style) * shade[..., None] * mask
    highlight = centre + 0.5 * radius * np.array([np.cos(light), np.sin(light)])  # sheen to gloss
    return add_glow(rgb, xx, yy, highlight, radius * rng.uniform(0.1, 1.0),
                     rng.uniform(0.2, 0.9) * hsv(rng.random(), 0.3, 1))


def _airbrush_marks(img: Image.Image, rng: np.random.Generator, style: Style,
                    amount: float) -> Image.Image:
    """Soft airbrush dabs, a lit form, glows, bokeh sparkles and a little clean line art."""
    w, h = img.size
    xx, yy = grid(w, h)
    pts = _sample_points(rng, style.habit, w, h, _mark_count(rng, style, amount))
    centres = (pts - [(w - 1) / 2, (h - 1) / 2]) / (max(w, h) / 2)
    rgb = _soft_dabs(rng, style, to_array(img), xx, yy, centres)
    if rng.random() < 0.8:  # the focus of the piece, near the middle
        rgb = _soft_form(rng, style, rgb, xx, yy, rng.normal(0, 0.15, 2))
    for _ in range(rng.integers(0, 3)):
        rgb = add_glow(rgb, xx, yy, rng.uniform(-0.6, 0.6, 2), rng.uniform(0.05, 0.25),
                        rng.uniform(0.2, 0.5) * _palette_colour(rng, style) ** 0.3)
    m = int(rng.integers(0, 10))  # a bokeh brush: sparkles and soft discs in palette tints
    sparkles = rng.uniform([-1, -1, 0.01], [1, 1, 0.12], (m, 3))
    tints = [_palette_colour(rng, style) ** 0.3 for _ in range(m)]
    img = to_image(add_bokeh(rgb, xx, yy, sparkles, tints))
    draw, ink = ImageDraw.Draw(img), min(style.palette, key=sum)
    for p in _sample_points(rng, style.habit, w, h, int(rng.integers(0, 8 * amount + 1))):
        width = int(rng.integers(*style.width, endpoint=True))
        draw.line(_wobbly(rng, p, p + rng.normal(0, 30, 2), 4), fill=ink, width=width,
                  joint="curve")
    return img


def _vector_shape(draw: ImageDraw.ImageDraw, centre: np.ndarray, shape: tuple,
                  fill: tuple[int, ...]) -> None:
    """Draw a disc, pill, regular polygon or ring; ``shape`` is (kind, radius, sides, rotation)."""
    (x, y), (kind, r, sides, rotation) = centre, shape
    if kind == 0:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    elif kind == 1:
        draw.rounded_rectangle([x - r, y - r / 2, x + r, y + r / 2], r / 4, fill=fill)
    elif kind == 2:
        draw.regular_polygon((x, y, r), sides, rotation, fill=fill)
    else:
        draw.ellipse([x - r, y - r, x + r, y + r], outline=fill, width=max(1, int(r / 4)))


def _vector_marks(img: Image.Image, rng: np.random.Generator, style: Style,
                  amount: float) -> Image.Image:
    """Clean flat shapes with anti-aliased edges, some with a flat drop shadow."""
    w, h = img.size
    k = _SUPERSAMPLE
    layer = Image.new("RGBA", (w * k, h * k), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer, "RGBA")  # blends the translucent shadows
    n = _mark_count(rng, style, amount)
    for p in _sample_points(rng, style.habit, w, h, n) * k:
        col = style.palette[rng.integers(len(style.palette))]
        shape = (int(rng.integers(4)), rng.uniform(0.04, 0.22) * max(w, h) * k,
                 int(rng.integers(3, 7)), rng.uniform(0, 360))
        if rng.random() < 0.4:  # flat drop shadow
            _vector_shape(draw, p + shape[1] / 6, shape, (0, 0, 0, 60))
        _vector_shape(draw, p, shape, col + (255,))
    shapes = layer.resize((w, h), Image.Resampling.LANCZOS)  # Pillow premultiplies alpha here
    return Image.alpha_composite(img.convert("RGBA"), shapes).convert("RGB")


def draw_marks(img: Image.Image, rng: np.random.Generator, style: Style,
               amount: float = 1.0) -> Image.Image:
    """The image with the artist's marks on top (``img`` itself may be drawn on)."""
    if style.mark == "airbrush":
        return _airbrush_marks(img, rng, style, amount)
    if style.mark == "vector":
        return _vector_marks(img, rng, style, amount)
    _traditional_marks(img, rng, style, amount)
    return img


def human_image(rng: np.random.Generator, style: Style) -> Image.Image:
    """A work in the artist's style: backdrop, marks, then the artist's grain (maybe none)."""
    w, h = style.size if rng.random() < 0.7 else random_size(rng)
    img = draw_marks(_backdrop(rng, style, w, h), rng, style)
    return add_grain(img, rng, style.grain)


def assisted_image(rng: np.random.Generator, style: Style) -> Image.Image:
    """A generator-look base with the artist's own marks and grain on top."""
    img = draw_marks(generator_image(generator_params(rng, style.size, "clean")), rng, style,
                     amount=0.5)
    return add_grain(img, rng, style.grain * 0.6)
