"""Degradations that pictures go through on the internet: re-shared JPEG
histories for training the blind artifact-removal model (``share_chain``),
and those with blur, downscaling and noise for the quality score
(``mixed_degradation``).

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


@dataclass(frozen=True)
class ReshareCase:
    crops: np.ndarray  # K x side x side x 3 uint8 crops of the picture, on the last save's 8x8 grid
    last: int  # the last save's IJG quality
    harsher_before: bool  # compressed at least HARSHER_BY quality points harder before the last save


HARSHER_BY = 25


def reshare_case(clean: Image.Image, side: int, crops: int, rng: np.random.Generator) -> ReshareCase:
    """A JPEG history for the re-share detector (``nets/qgunet.py: ReshareDetector``),
    seen as ``fix`` sees a picture: ``crops`` crops of ``side`` pixels on its last
    grid.  Half of them were harsher before, with nothing but the last save's grid
    left: a harsh save (quality 5-40), a resize by 0.5-0.95 (most of them) or a
    shifted grid, then one or two saves at least HARSHER_BY points gentler.  The
    other half: a single save at 30-95 (a third of them of a picture enlarged
    first, smoother than most photographs), or an earlier save no harsher than
    the last.  ``clean`` must be at least 2 * side + 16 pixels on each side."""
    subsampling = 2 if rng.random() < 0.7 else 0
    x = _random_crop(clean, 2 * side + 16, rng).convert("RGB")
    harsh = rng.random() < 0.5
    if harsh:
        first = int(rng.integers(5, 41))
        last = int(rng.integers(max(first + HARSHER_BY, 60), 96))
    else:
        last = int(rng.integers(30, 96)) if rng.random() < 0.3 else int(rng.integers(60, 96))
        first = int(rng.integers(max(last - 5, 30), 101)) if rng.random() < 0.3 else 100
    if first == 100 and rng.random() < 0.33:  # a picture enlarged before its only save
        x = _resize(x.crop((0, 0, side + 16, side + 16)), float(rng.uniform(1.3, 2.2)))
    elif first < 100:
        x, _ = jpeg_round_trip(x, first, subsampling)
        factor = float(rng.uniform(0.5, 0.95)) if rng.random() < 0.8 else 1.0
        if factor != 1.0:
            x = _resize(x, max(factor, (side + 16) / min(x.size)))
        else:  # re-cropped: the grid moves
            dx, dy = (int(v) for v in rng.integers(1, 8, size=2))
            x = x.crop((dx, dy, x.width, x.height))
    for _ in range(int(rng.integers(1, 3)) if harsh else 1):
        x, _ = jpeg_round_trip(x, last, subsampling)
    cut = []
    for _ in range(crops):
        top = 16 * int(rng.integers(0, (x.height - side) // 16 + 1))
        left = 16 * int(rng.integers(0, (x.width - side) // 16 + 1))
        cut.append(np.asarray(x.crop((left, top, left + side, top + side)).convert("RGB")))
    return ReshareCase(np.stack(cut), last, harsh)


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


# The camera noise added to a blurred picture: sigma up to this many 8-bit levels.
BLUR_NOISE = 2.0


def blurred(pixels: np.ndarray, kernel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``pixels`` (HxWx3, 0-255) blurred by ``kernel``, with Gaussian noise of a
    sigma drawn up to ``BLUR_NOISE``; float, not rounded."""
    from .blur import blur

    return blur(pixels, kernel) + rng.normal(0, rng.uniform(0, BLUR_NOISE), pixels.shape)


# Deblurring: the share of samples left sharp, and of blurred ones saved as JPEG after the blur.
SHARP_SHARE, BLUR_JPEG_SHARE = 0.05, 0.3


def blur_sample(clean: Image.Image, patch: int, rng: np.random.Generator,
                kernel: np.ndarray | None = None, jpeg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A ``patch``-sized crop of ``clean`` (at least ``patch`` + 30 pixels on each
    side) blurred (``kernel``, or one drawn by ``blur.random_kernel``; left sharp
    ``SHARP_SHARE`` of the time) with a little noise, then saved as JPEG at
    quality ``jpeg`` (or, drawn, ``BLUR_JPEG_SHARE`` of the time at 50-95).
    Returns the degraded and the clean crop, HxWx3 uint8."""
    from .blur import MAX_KERNEL, random_kernel

    margin = MAX_KERNEL
    crop = np.asarray(_random_crop(clean, patch + 2 * margin, rng).convert("RGB"), dtype=np.float64)
    if kernel is None and rng.random() >= SHARP_SHARE:
        kernel = random_kernel(rng)[1]
    degraded = np.clip(np.rint(blurred(crop, kernel, rng)), 0, 255).astype(np.uint8) if kernel is not None \
        else crop.astype(np.uint8)
    if jpeg is None and kernel is not None and rng.random() < BLUR_JPEG_SHARE:
        jpeg = int(rng.integers(50, 96))
    if jpeg is not None:
        degraded = np.asarray(jpeg_round_trip(Image.fromarray(degraded), jpeg)[0])
    inner = (slice(margin, margin + patch), slice(margin, margin + patch))
    return degraded[inner], crop[inner].astype(np.uint8)


# What the quality score learns from (``mixed_degradation``): the share of each recipe.
MIXED_RECIPES = {"clean": 0.08, "jpeg": 0.37, "blur": 0.2, "downscale": 0.15, "noise": 0.2}


def mixed_degradation(clean: Image.Image, patch: int, rng: np.random.Generator,
                      recipe: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """One of the ways a picture gets worse, applied to a ``patch``-sized crop
    of ``clean`` (RGB or L, at least ``patch`` + 32 pixels on each side): a
    JPEG history (``share_chain``), blur (``blur.random_kernel``: motion,
    defocus, Gaussian) with a little noise, downscaling by 0.25-0.8 and
    enlarging back (bicubic), or Gaussian noise (sigma 2-30 levels), the last
    three followed by a JPEG save half of the time; or nothing.  Returns the
    degraded and the clean crop (HxWx3 uint8) and the recipe's name
    (``recipe`` forces one of ``MIXED_RECIPES``)."""
    from .blur import MAX_KERNEL, random_kernel

    recipe = recipe or str(rng.choice(list(MIXED_RECIPES), p=list(MIXED_RECIPES.values())))
    if recipe == "jpeg":
        sample = share_chain(clean, patch, rng)
        return sample.degraded, sample.clean, recipe
    margin = MAX_KERNEL
    crop = np.asarray(_random_crop(clean, patch + 2 * margin, rng).convert("RGB"), dtype=np.float64)
    if recipe == "blur":
        degraded = blurred(crop, random_kernel(rng)[1], rng)
    elif recipe == "downscale":
        factor = rng.uniform(0.25, 0.8)
        small = _resize(Image.fromarray(crop.astype(np.uint8)), factor)
        if rng.random() < 0.5:
            small = jpeg_round_trip(small, int(rng.integers(20, 96)))[0]
        degraded = np.asarray(small.resize((crop.shape[1], crop.shape[0]), Image.BICUBIC), dtype=np.float64)
    elif recipe == "noise":
        degraded = crop + rng.normal(0, rng.uniform(2, 30), crop.shape)
    else:
        degraded = crop
    degraded = np.clip(np.rint(degraded), 0, 255).astype(np.uint8)
    if recipe in ("blur", "noise") and rng.random() < 0.5:
        degraded = np.asarray(jpeg_round_trip(Image.fromarray(degraded), int(rng.integers(20, 96)))[0])
    inner = (slice(margin, margin + patch), slice(margin, margin + patch))
    return degraded[inner], crop[inner].astype(np.uint8), recipe
