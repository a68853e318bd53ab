"""Image-drawing procedures of the synthetic demo platform (numpy + Pillow only).

Human artists draw with a consistent personal style: traditional media (strokes, ink,
pixels, prints) on grainy paper, or smooth digital work (airbrushed gradients and glows,
clean vector shapes) with little or no grain. Generator-look images are glossy
gradients, glows, bokeh and a subject or a landscape, finished by the pipeline of the
account that posts them: clean, film grain, upscaler sharpening, JPEG re-saves or a
painterly filter. The classes overlap on purpose, as on real platforms.
"""

from __future__ import annotations

import colorsys
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

# (width, height); both classes draw from the same sizes
SIZES = ((256, 256), (256, 192), (192, 256), (256, 144), (160, 256), (224, 224),
         (224, 168), (176, 224), (288, 192), (216, 288), (288, 240))
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
LAYOUTS = ("portrait", "offset", "landscape")
# post-processing pipelines of slop accounts; the first one (grainy) is always in use
FINISHES = ("film_grain", "clean", "upscaled", "painterly", "resaved")
HYPE = ("Ethereal", "Epic", "Cosmic", "Majestic", "Mystical", "Neon", "Divine")
SUBJECTS = ("dragon", "castle", "goddess", "wolf", "astronaut", "phoenix",
            "crystal tree", "samurai", "mermaid", "galaxy cat")
_JITTER = {"c1": 0.04, "c2": 0.04, "glow": 0.04, "subject": 0.04, "bokeh_rgb": 0.04,
           "centre": 0.03, "bokeh": 0.02, "angle": 0.15}
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


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """HSV (any hue, clipped s and v) to an RGB float array in [0, 1]."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)))


def _rgb255(rgb: np.ndarray) -> tuple[int, ...]:
    """RGB floats in [0, 1] to a Pillow colour tuple."""
    return tuple(int(c) for c in np.round(np.clip(rgb, 0, 1) * 255))


def _to_image(rgb: np.ndarray) -> Image.Image:
    """An (h, w, 3) float array in [0, 1] to an RGB image."""
    return Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))


def _to_array(img: Image.Image) -> np.ndarray:
    """An RGB image to an (h, w, 3) float array in [0, 1]."""
    return np.asarray(img, dtype=np.float64) / 255


def _smoothstep(edge0, edge1, x: np.ndarray) -> np.ndarray:
    """Smooth 0-to-1 ramp from ``edge0`` to ``edge1`` (either order)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, 0 at the centre and +-1 at the ends of the long side."""
    half = max(w, h) / 2
    return np.meshgrid((np.arange(w) - (w - 1) / 2) / half, (np.arange(h) - (h - 1) / 2) / half)


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """One of the platform's image sizes, uniformly."""
    return SIZES[rng.integers(len(SIZES))]


def random_style(rng: np.random.Generator, mark: str) -> Style:
    """Draw a personal style: palette, paper, mark-making, grain and composition habit."""
    medium, density, width = MARKS[mark]
    hue, dark, digital = rng.random(), mark == "woodcut", mark in DIGITAL
    spread, saturation = rng.uniform(0.04, 0.25), rng.uniform(0.3, 0.95 if digital else 0.7)
    palette = tuple(
        _rgb255(_hsv(hue + rng.normal(0, spread), saturation + rng.normal(0, 0.1),
                     rng.uniform(0.7, 0.95) if dark else rng.uniform(0.25, 0.95)))
        for _ in range(rng.integers(4, 7)))
    if digital:  # any backdrop colour, light or dark
        paper = _rgb255(_hsv(hue + rng.normal(0, 0.2), rng.uniform(0.1, 0.8),
                             rng.uniform(0.15, 0.95)))
        grain = rng.uniform(0, 1) if mark == "airbrush" else 0.0
    else:
        paper = _rgb255(_hsv(rng.random(), rng.uniform(0.02, 0.12),
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
        xx, yy = _grid(w, h)
        a = style.angle + rng.normal(0, 0.3)
        t = rng.uniform(0.2, 0.8) * np.clip((xx * np.cos(a) + yy * np.sin(a) + 1) / 2, 0, 1)
        far = _palette_colour(rng, style)
        return _to_image(np.array(style.paper) / 255 * (1 - t[..., None]) + far * t[..., None])
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


def _add_glow(rgb: np.ndarray, xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, sigma: float,
              colour: np.ndarray) -> np.ndarray:
    """Add a Gaussian glow of ``colour`` (its brightness is the strength) around ``centre``."""
    glow = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))
    return rgb + colour * glow[..., None]


def _add_bokeh(rgb: np.ndarray, xx: np.ndarray, yy: np.ndarray, discs: np.ndarray,
               colours: np.ndarray) -> np.ndarray:
    """Add soft-edged light discs; ``discs`` holds (x, y, radius) rows."""
    for (bx, by, br), col in zip(discs, colours):
        rgb = rgb + 0.3 * col * _smoothstep(br, 0.8 * br, np.hypot(xx - bx, yy - by))[..., None]
    return rgb


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


def _organic_harmonics(rng: np.random.Generator) -> np.ndarray:
    """Low-order outline harmonics of an organic, irregular shape."""
    return np.column_stack([(1, 2, 3), rng.uniform(0, 0.2, 3), rng.uniform(0, 2 * np.pi, 3)])


def _outline(theta: np.ndarray, radius: float, harmonics: np.ndarray) -> np.ndarray:
    """Radius of a closed outline at angles ``theta``; rows are (order, amplitude, phase)."""
    return radius * (1 + sum(amp * np.cos(k * theta + phase) for k, amp, phase in harmonics))


def _soft_form(rng: np.random.Generator, style: Style, rgb: np.ndarray, xx: np.ndarray,
               yy: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Paint an irregular, softly shaded and lit form (a character, a creature, a plant)."""
    dx, dy = xx - centre[0], yy - centre[1]
    theta, radius = np.arctan2(dy, dx), rng.uniform(0.15, 0.35)
    backlight = rng.uniform(0, 0.7) * _hsv(rng.random(), rng.uniform(0, 0.6), 1)
    rgb = _add_glow(rgb, xx, yy, centre, radius * rng.uniform(1, 2), backlight)
    edge = _outline(theta, radius, _organic_harmonics(rng))
    mask = _smoothstep(edge, edge - rng.uniform(0.01, 0.08), np.hypot(dx, dy))[..., None]
    light = rng.uniform(0, 2 * np.pi)
    shade = np.clip(0.75 + 0.5 * (dx * np.cos(light) + dy * np.sin(light)) / radius, 0.3, 1.3)
    rgb = rgb * (1 - mask) + _palette_colour(rng, style) * shade[..., None] * mask
    highlight = centre + 0.5 * radius * np.array([np.cos(light), np.sin(light)])  # sheen to gloss
    return _add_glow(rgb, xx, yy, highlight, radius * rng.uniform(0.1, 1.0),
                     rng.uniform(0.2, 0.9) * _hsv(rng.random(), 0.3, 1))


def _airbrush_marks(img: Image.Image, rng: np.random.Generator, style: Style,
                    amount: float) -> Image.Image:
    """Soft airbrush dabs, a lit form, glows, bokeh sparkles and a little clean line art."""
    w, h = img.size
    xx, yy = _grid(w, h)
    pts = _sample_points(rng, style.habit, w, h, _mark_count(rng, style, amount))
    centres = (pts - [(w - 1) / 2, (h - 1) / 2]) / (max(w, h) / 2)
    rgb = _soft_dabs(rng, style, _to_array(img), xx, yy, centres)
    if rng.random() < 0.8:  # the focus of the piece, near the middle
        rgb = _soft_form(rng, style, rgb, xx, yy, rng.normal(0, 0.15, 2))
    for _ in range(rng.integers(0, 3)):
        rgb = _add_glow(rgb, xx, yy, rng.uniform(-0.6, 0.6, 2), rng.uniform(0.05, 0.25),
                        rng.uniform(0.2, 0.5) * _palette_colour(rng, style) ** 0.3)
    m = int(rng.integers(0, 10))  # a bokeh brush: sparkles and soft discs in palette tints
    sparkles = rng.uniform([-1, -1, 0.01], [1, 1, 0.12], (m, 3))
    tints = [_palette_colour(rng, style) ** 0.3 for _ in range(m)]
    img = _to_image(_add_bokeh(rgb, xx, yy, sparkles, tints))
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


def add_grain(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    """Add paper/canvas or film grain: mostly luminance noise plus a little colour noise."""
    arr = np.asarray(img, dtype=np.float64)
    noise = rng.normal(0, sigma, arr.shape[:2] + (1,)) + rng.normal(0, sigma / 3, arr.shape)
    return Image.fromarray(np.clip(arr + noise + 0.5, 0, 255).astype(np.uint8))


def human_image(rng: np.random.Generator, style: Style) -> Image.Image:
    """A work in the artist's style: backdrop, marks, then the artist's grain (maybe none)."""
    w, h = style.size if rng.random() < 0.7 else random_size(rng)
    img = draw_marks(_backdrop(rng, style, w, h), rng, style)
    return add_grain(img, rng, style.grain)


def generator_params(rng: np.random.Generator, size: tuple[int, int] | None = None,
                     finish: str | None = None) -> dict:
    """Random parameters of one generator-look image and of its finishing pipeline."""
    hue, layout = rng.random(), str(rng.choice(LAYOUTS, p=(0.4, 0.3, 0.3)))
    sat = rng.choice((0.9, 0.6, 0.35))  # vivid, cinematic or pastel
    offset = layout == "offset"
    ridges = rng.uniform([-0.3, 0.02, 1, 0], [0.6, 0.15, 7, 2 * np.pi], (rng.integers(2, 5), 4))
    return {
        "size": size or random_size(rng),
        "title": f"{rng.choice(HYPE)} {rng.choice(SUBJECTS)}",
        "layout": layout,
        "c1": _hsv(hue, sat, rng.uniform(0.2, 0.5)),
        "c2": _hsv(hue + rng.uniform(0.3, 0.6), sat * 0.95, rng.uniform(0.75, 1.0)),
        "angle": rng.uniform(0, 2 * np.pi), "glow": _hsv(hue + 0.1, 0.6 * sat, 1.0),
        "glow_sigma": rng.uniform(0.25, 0.5), "glow_strength": rng.uniform(0.3, 0.9),
        "centre": np.array([rng.choice((-1, 1)) * rng.uniform(0.15, 0.35) if offset
                            else rng.normal(0, 0.02), rng.uniform(-0.1, 0.1)]),
        "radius": rng.uniform(0.2, 0.35) if offset else rng.uniform(0.3, 0.45),
        "outline": np.vstack([[rng.integers(3, 9), rng.uniform(0, 0.3), rng.uniform(0, 2 * np.pi)],
                              _organic_harmonics(rng)]),  # star lobes, then irregularities
        "subject": _hsv(hue + rng.uniform(0.2, 0.8), sat, 0.95),
        "bokeh": rng.uniform([-1, -1, 0.04], [1, 1, 0.16], (12, 3))[: rng.integers(0, 13)],
        "bokeh_rgb": np.array([_hsv(hue + rng.normal(0, 0.15), 0.5 * sat, 1.0) for _ in range(12)]),
        "ridges": ridges[np.argsort(ridges[:, 0])],  # far (high) to near (low)
        "blur": rng.uniform(1.5, 3.0), "saturation": rng.uniform(0.8, 1.5),
        "finish": finish or str(rng.choice(FINISHES)), "strength": rng.random(),
        "finish_seed": int(rng.integers(2**31)),
    }


def jitter(rng: np.random.Generator, params: dict) -> dict:
    """A near-duplicate: small colour and position jitter of the same base."""
    return {key: value + rng.normal(0, _JITTER[key], np.shape(value)) if key in _JITTER else value
            for key, value in params.items()}


def _subject(p: dict, xx: np.ndarray, yy: np.ndarray,
             rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paint the glossy subject; returns the image and the specular highlight."""
    cx, cy = p["centre"]
    dx, dy = xx - cx, yy - cy
    if p["layout"] == "portrait":
        dx = np.abs(dx)  # mirror-symmetric subject
    r = np.hypot(dx, dy)
    edge = _outline(np.arctan2(dx, dy), p["radius"], p["outline"])
    mask = _smoothstep(edge, edge - 0.05, r)[..., None]
    depth = np.sqrt(np.clip(1 - (r / edge) ** 2, 0, 1))[..., None]
    rgb = rgb * (1 - mask) + p["subject"] * (0.35 + 0.75 * depth) * mask
    hx, hy = cx - 0.35 * p["radius"], cy - 0.4 * p["radius"]
    return rgb, np.exp(-((xx - hx) ** 2 + (yy - hy) ** 2) / (2 * 0.05**2))[..., None]


def _landscape(p: dict, xx: np.ndarray, yy: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Paint hazy ridges in front of the sky, nearer ones darker."""
    for i, (base, amp, freq, phase) in enumerate(p["ridges"]):
        ridge = base + amp * (np.sin(freq * xx + phase) + np.sin(2.7 * freq * xx + 2 * phase) / 3)
        near = (i + 1) / len(p["ridges"])
        colour = p["c1"] * (0.3 + 0.7 * near) + p["glow"] * 0.5 * (1 - near)
        mask = _smoothstep(ridge - 0.01, ridge + 0.01, yy)[..., None]
        rgb = rgb * (1 - mask) + colour * mask
    return rgb


def generator_image(p: dict) -> Image.Image:
    """Render gradient, glow, bokeh and a glossy subject or a landscape, then the finish."""
    w, h = p["size"]
    xx, yy = _grid(w, h)
    t = np.clip((xx * np.cos(p["angle"]) + yy * np.sin(p["angle"]) + 1) / 2, 0, 1)[..., None]
    rgb = p["c1"] * (1 - t) + p["c2"] * t
    rgb = _add_glow(rgb, xx, yy, p["centre"], p["glow_sigma"], p["glow_strength"] * p["glow"])
    rgb = _add_bokeh(rgb, xx, yy, p["bokeh"], p["bokeh_rgb"])
    specular = 0.0
    if p["layout"] == "landscape":
        rgb = _landscape(p, xx, yy, rgb)
    else:
        rgb, specular = _subject(p, xx, yy, rgb)
    blurred = _to_image(rgb).filter(ImageFilter.GaussianBlur(p["blur"]))
    rgb = _to_array(blurred) + 0.9 * specular
    img = ImageEnhance.Color(_to_image(rgb)).enhance(p["saturation"])
    return _finish(img, p["finish"], p["strength"], np.random.default_rng(p["finish_seed"]))


def _jpeg_roundtrip(img: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG in memory and decode again."""
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _painterly(img: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """An "oil paint" filter: mode filter, then short strokes in the colours underneath."""
    w, h = img.size
    source = np.asarray(img)
    img = img.filter(ImageFilter.ModeFilter(3))
    draw = ImageDraw.Draw(img)
    n, angle = int((0.5 + strength) * w * h / 60), rng.uniform(0, np.pi)
    pts = rng.uniform(0, [w - 1, h - 1], (n, 2))
    angles = angle + rng.normal(0, 0.5, n)
    lengths, widths = rng.uniform(3, 6 + 8 * strength, n), rng.integers(2, 5, n)
    tints = rng.normal(0, 8 + 16 * strength, n)  # impasto: strokes lighter or darker
    for p, a, length, wd, tint in zip(pts, angles, lengths, widths, tints):
        d = length / 2 * np.array([np.cos(a), np.sin(a)])
        col = tuple(int(c) for c in np.clip(source[int(p[1]), int(p[0])] + tint, 0, 255))
        draw.line([tuple(p - d), tuple(p + d)], fill=col, width=int(wd))
    return img


def _finish(img: Image.Image, finish: str, strength: float,
            rng: np.random.Generator) -> Image.Image:
    """Post-processing of a generator pipeline; ``strength`` in [0, 1]."""
    w, h = img.size
    if finish == "film_grain":
        return add_grain(img, rng, 3 + 4 * strength)
    if finish == "upscaled":  # 2x upscale, oversharpened with halos, fine noise
        small = img.resize((w // 2, h // 2), Image.Resampling.BICUBIC)
        big = small.resize((w, h), Image.Resampling.LANCZOS)
        sharp = big.filter(ImageFilter.UnsharpMask(2 + 2 * strength, int(150 + 200 * strength), 1))
        return add_grain(sharp, rng, 1 + strength)
    if finish == "resaved":  # downscaled and re-saved as low-quality JPEG, once or twice
        shrink = 0.5 + 0.3 * rng.random()
        small = img.resize((int(w * shrink), int(h * shrink)), Image.Resampling.BILINEAR)
        img = small.resize((w, h), Image.Resampling.BICUBIC)
        for _ in range(1 + int(strength > 0.5)):
            img = _jpeg_roundtrip(img, int(rng.integers(25, 60)))
        return img
    if finish == "painterly":
        return _painterly(img, rng, strength)
    return img


def assisted_image(rng: np.random.Generator, style: Style) -> Image.Image:
    """A generator-look base with the artist's own marks and grain on top."""
    img = draw_marks(generator_image(generator_params(rng, style.size, "clean")), rng, style,
                     amount=0.5)
    return add_grain(img, rng, style.grain * 0.6)


def protest_image() -> Image.Image:
    """A bold crossed-out "AI" with a "NO AI ART" banner (no randomness)."""
    img = Image.new("RGB", (256, 256), (250, 248, 240))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default_imagefont()
    for text, scale, centre in (("AI", 7, (128, 104)), ("NO AI ART", 4, (128, 222))):
        _, _, tw, th = font.getbbox(text)
        small = Image.new("L", (tw, th), 0)
        ImageDraw.Draw(small).text((0, 0), text, fill=255, font=font)
        big = small.resize((tw * scale, th * scale), Image.Resampling.NEAREST)
        img.paste((20, 20, 20), (centre[0] - big.width // 2, centre[1] - big.height // 2), big)
    draw.ellipse([38, 14, 218, 194], outline=(200, 20, 30), width=16)
    draw.line([(70, 46), (186, 162)], fill=(200, 20, 30), width=16)
    return img
