"""Degradations that pictures go through on the internet, for training the
blind artifact-removal model.

A training sample is a chain of "shares" applied to a clean crop: each share
may shift the crop (the next encoder's 8x8 grid no longer lines up with the
previous one) or downscale it, then saves it as JPEG at a random quality with
4:2:0 or 4:4:4 chroma.  The clean target goes through the same geometry
without the compression.  Some chains end with a resize after the last JPEG
(the picture was re-saved as PNG); a few samples are never compressed, and
then the network must leave them alone.  The restorer is told the tables of
the harshest compression of the chain (the last file's own tables when it is
the harshest), and the estimator learns that quality: inference tells the
network the harshest compression it finds evidence of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..imaging.jpeg import ijg_tables, round_trip, table_vector

CLEAN_QUALITY = 100  # IJG quality 100: every quantization step is 1


def jpeg_round_trip(image: Image.Image, quality: int, subsampling: int = 2) -> tuple[Image.Image, np.ndarray]:
    """``image`` saved as JPEG and decoded, and the file's 128 quantization steps."""
    decoded, info = round_trip(image, quality, subsampling)
    return decoded, table_vector(info.quantization)


@dataclass(frozen=True)
class Sample:
    degraded: np.ndarray  # HxWx3 uint8
    clean: np.ndarray  # HxWx3 uint8
    tables: np.ndarray  # 128 float steps the restorer is told
    quality: float  # IJG quality of the harshest compression (100 = clean): what the estimator learns


def _resize(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.BICUBIC, reducing_gap=None)


def share_chain(clean: Image.Image, patch: int, rng: np.random.Generator) -> Sample:
    """One random internet history applied to ``clean`` (RGB or L, at least
    ``patch`` + 16 pixels on each side); returns a ``patch``-sized sample whose
    crop lines up with the last encoder's 16x16 grid."""
    if rng.random() < 0.04:  # never compressed: must come out unchanged
        crop = _random_crop(clean, patch, rng)
        rgb = np.asarray(crop.convert("RGB"))
        return Sample(rgb, rgb, ijg_tables(CLEAN_QUALITY), float(CLEAN_QUALITY))

    generations = int(rng.choice([1, 2, 3, 4], p=[0.5, 0.25, 0.15, 0.1]))
    factors = [float(rng.uniform(0.55, 0.95)) if g and rng.random() < 0.35 else 1.0 for g in range(generations)]
    resize_after = rng.random() < 0.12
    after_factor = float(rng.uniform(0.6, 0.95)) if resize_after else 1.0
    shrink = math.prod(factors) * after_factor
    need = math.ceil((patch + 16) / shrink) + 8
    if min(clean.size) < need:  # too small for that much shrinking: no resizing
        factors, after_factor, need = [1.0] * generations, 1.0, patch + 24
        resize_after = False
    x = y = _random_crop(clean, need, rng)
    quality, tables = CLEAN_QUALITY, ijg_tables(CLEAN_QUALITY)
    harshest = CLEAN_QUALITY
    subsampling = 2 if rng.random() < 0.7 else 0
    for g in range(generations):
        if factors[g] != 1.0:
            x, y = _resize(x, factors[g]), _resize(y, factors[g])
        if g and rng.random() < 0.4:  # re-cropped: the grid moves
            dx, dy = (int(v) for v in rng.integers(1, 8, size=2))
            box = (dx, dy, x.width, x.height)
            x, y = x.crop(box), y.crop(box)
        quality = int(rng.integers(5, 96)) if rng.random() < 0.8 else int(rng.integers(5, 31))
        if g and rng.random() < 0.5:
            subsampling = 2 if rng.random() < 0.7 else 0
        x, tables = jpeg_round_trip(x, quality, subsampling)
        harshest = min(harshest, quality)
    if harshest < quality or resize_after:
        # Told the harshest compression, as inference is (tasks/restore.py: the file's tables only
        # when nothing shows an earlier, coarser compression; the estimate for another format).
        tables = ijg_tables(harshest)
    if resize_after:
        x, y = _resize(x, after_factor), _resize(y, after_factor)
        top = int(rng.integers(0, x.height - patch + 1))
        left = int(rng.integers(0, x.width - patch + 1))
    else:  # keep the last grid's phase: offsets on the 16-pixel chroma grid
        top = 16 * int(rng.integers(0, (x.height - patch) // 16 + 1))
        left = 16 * int(rng.integers(0, (x.width - patch) // 16 + 1))
    box = (left, top, left + patch, top + patch)
    degraded = np.asarray(x.crop(box).convert("RGB"))
    target = np.asarray(y.crop(box).convert("RGB"))
    return Sample(degraded, target, tables, float(harshest))


def _random_crop(image: Image.Image, side: int, rng: np.random.Generator) -> Image.Image:
    side_w, side_h = min(side, image.width), min(side, image.height)
    left = int(rng.integers(0, image.width - side_w + 1))
    top = int(rng.integers(0, image.height - side_h + 1))
    return image.crop((left, top, left + side_w, top + side_h))


_WORDS = ("WHEN", "the", "code", "works", "ON FRIDAY", "me:", "nobody:", "lol", "2026", "BRUH", "cat", "Monday",
          "expectation", "reality", "*screams*", "ok", "this is fine", "42%", "NO", "yes!")


def synthetic_illustration(side: int, rng: np.random.Generator) -> Image.Image:
    """A flat-colour drawing with captions: the kind of picture (memes, charts,
    screenshots) whose sharp edges and flat areas JPEG ruins the most."""
    def colour() -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(0, 256, size=3))

    image = Image.new("RGB", (side, side), colour())
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 10))):
        x0, y0 = (int(v) for v in rng.integers(-side // 4, side, size=2))
        x1, y1 = x0 + int(rng.integers(8, side)), y0 + int(rng.integers(8, side))
        shape = rng.integers(3)
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour())
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour())
        else:
            draw.line((x0, y0, x1, y1), fill=colour(), width=int(rng.integers(1, 8)))
    for _ in range(int(rng.integers(1, 5))):
        size = int(rng.integers(10, 48))
        font = ImageFont.load_default(size=size)
        text = " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 4))))
        xy = (int(rng.integers(0, side - size)), int(rng.integers(0, side - size)))
        stroke = int(rng.integers(0, 3))
        draw.text(xy, text, fill=colour(), font=font, stroke_width=stroke, stroke_fill=colour())
    return image
