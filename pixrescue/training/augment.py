"""Random copies of a picture as they turn up in a meme folder: recompressed,
resized, cropped, re-shared several times, captioned, mirrored, recoloured.
The embeddings learn to see through these (``training/recipes/embedding.py``)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from ..imaging.jpeg import compress

_WORDS = ("WHEN", "THE", "MEME", "me", "nobody:", "lol", "BRUH", "this is fine", "MONDAY", "ok", "no", "yes")


def random_copy(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """``image`` (RGB) through 1-3 random edits."""
    for _ in range(int(rng.integers(1, 4))):
        edit = int(rng.integers(8))
        w, h = image.size
        if edit == 0:
            image = compress(image, int(rng.integers(10, 91)))
        elif edit == 1:
            factor = float(np.exp(rng.uniform(np.log(0.25), np.log(2.0))))
            image = image.resize((max(8, round(w * factor)), max(8, round(h * factor))), Image.BICUBIC)
        elif edit == 2:
            fx, fy = rng.uniform(0.0, 0.2, size=2)
            left, top = int(w * fx * rng.random()), int(h * fy * rng.random())
            image = image.crop((left, top, max(left + 8, int(w * (1 - fx)) + left), max(top + 8, int(h * (1 - fy)) + top)))
        elif edit == 3:
            for g in range(int(rng.integers(2, 5))):
                w, h = image.size
                image = compress(image.resize((max(8, int(w * 0.85)), max(8, int(h * 0.85))), Image.BICUBIC),
                                 int(rng.integers(40, 86)))
        elif edit == 4:
            image = caption(image, " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 4)))),
                            top=bool(rng.integers(2)))
        elif edit == 5:
            image = ImageOps.mirror(image)
        elif edit == 6:
            image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.7, 1.3)))
        else:
            image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.4, 1.6)))
    return image


def caption(image: Image.Image, text: str, top: bool = True) -> Image.Image:
    """White text with a black outline across the top (or bottom), meme style."""
    image = image.copy()
    draw = ImageDraw.Draw(image)
    size = max(10, image.height // 10)
    font = ImageFont.load_default(size=size)
    y = 5 if top else image.height - size - 10
    draw.text((10, y), text, font=font, fill="white", stroke_width=max(1, size // 12), stroke_fill="black")
    return image
