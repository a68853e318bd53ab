"""Generator-look images of the synthetic demo platform: what "slop" accounts post.

Glossy gradients, glows, bokeh and a subject or a landscape, finished by the pipeline of
the account that posts them: clean, film grain, upscaler sharpening, JPEG re-saves or a
painterly filter. Also the protest image that many accounts repost.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from slopscore.demo.canvas import (
    add_bokeh,
    add_glow,
    add_grain,
    grid,
    hsv,
    organic_harmonics,
    outline,
    random_size,
    smoothstep,
    to_array,
    to_image,
)

__all__ = ["FINISHES", "generator_image", "generator_params", "jitter", "protest_image"]

LAYOUTS = ("portrait", "offset", "landscape")
# post-processing pipelines of slop accounts; the first one (grainy) is always in use
FINISHES = ("film_grain", "clean", "upscaled", "painterly", "resaved")
HYPE = ("Ethereal", "Epic", "Cosmic", "Majestic", "Mystical", "Neon", "Divine")
SUBJECTS = ("dragon", "castle", "goddess", "wolf", "astronaut", "phoenix",
            "crystal tree", "samurai", "mermaid", "galaxy cat")
_JITTER = {"c1": 0.04, "c2": 0.04, "glow": 0.04, "subject": 0.04, "bokeh_rgb": 0.04,
           "centre": 0.03, "bokeh": 0.02, "angle": 0.15}


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
        "c1": hsv(hue, sat, rng.uniform(0.2, 0.5)),
        "c2": hsv(hue + rng.uniform(0.3, 0.6), sat * 0.95, rng.uniform(0.75, 1.0)),
        "angle": rng.uniform(0, 2 * np.pi), "glow": hsv(hue + 0.1, 0.6 * sat, 1.0),
        "glow_sigma": rng.uniform(0.25, 0.5), "glow_strength": rng.uniform(0.3, 0.9),
        "centre": np.array([rng.choice((-1, 1)) * rng.uniform(0.15, 0.35) if offset
                            else rng.normal(0, 0.02), rng.uniform(-0.1, 0.1)]),
        "radius": rng.uniform(0.2, 0.35) if offset else rng.uniform(0.3, 0.45),
        "outline": np.vstack([[rng.integers(3, 9), rng.uniform(0, 0.3), rng.uniform(0, 2 * np.pi)],
                              organic_harmonics(rng)]),  # star lobes, then irregularities
        "subject": hsv(hue + rng.uniform(0.2, 0.8), sat, 0.95),
        "bokeh": rng.uniform([-1, -1, 0.04], [1, 1, 0.16], (12, 3))[: rng.integers(0, 13)],
        "bokeh_rgb": np.array([hsv(hue + rng.normal(0, 0.15), 0.5 * sat, 1.0) for _ in range(12)]),
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
    edge = outline(np.arctan2(dx, dy), p["radius"], p["outline"])
    mask = smoothstep(edge, edge - 0.05, r)[..., None]
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
        mask = smoothstep(ridge - 0.01, ridge + 0.01, yy)[..., None]
        rgb = rgb * (1 - mask) + colour * mask
    return rgb


def generator_image(p: dict) -> Image.Image:
    """Render gradient, glow, bokeh and a glossy subject or a landscape, then the finish."""
    w, h = p["size"]
    xx, yy = grid(w, h)
    t = np.clip((xx * np.cos(p["angle"]) + yy * np.sin(p["angle"]) + 1) / 2, 0, 1)[..., None]
    rgb = p["c1"] * (1 - t) + p["c2"] * t
    rgb = add_glow(rgb, xx, yy, p["centre"], p["glow_sigma"], p["glow_strength"] * p["glow"])
    rgb = add_bokeh(rgb, xx, yy, p["bokeh"], p["bokeh_rgb"])
    specular = 0.0
    if p["layout"] == "landscape":
        rgb = _landscape(p, xx, yy, rgb)
    else:
        rgb, specular = _subject(p, xx, yy, rgb)
    blurred = to_image(rgb).filter(ImageFilter.GaussianBlur(p["blur"]))
    rgb = to_array(blurred) + 0.9 * specular
    img = ImageEnhance.Color(to_image(rgb)).enhance(p["saturation"])
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
