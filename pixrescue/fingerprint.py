"""Perceptual fingerprints of images: 64-bit hashes from the ``imagehash`` library.

Before hashing, the image is made comparable: EXIF orientation is already
applied by the loader, transparency is composited onto a fixed white
background, and the result is RGB.  With ``rotations`` the hashes of all 8
flips and quarter turns are kept, so that a mirrored or rotated copy matches.

Hashes are Python ints (64 bits); the distance between two is the number of
differing bits (Hamming distance).
"""

from __future__ import annotations

from typing import Callable

import imagehash
import numpy as np
from PIL import Image, ImageOps

from .imaging.io import flatten, normalise_mode

HASH_BITS = 64
BACKGROUND = (255, 255, 255)

METHODS: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "ahash": imagehash.average_hash,
    "dhash": imagehash.dhash,
    "phash": imagehash.phash,  # DCT of a 32x32 downscale, 8x8 low frequencies
    "whash": imagehash.whash,  # Haar wavelets
}


def prepare(frame: Image.Image) -> Image.Image:
    """``frame`` as RGB with any transparency composited onto white."""
    normalised, _ = normalise_mode(frame)
    return flatten(normalised, BACKGROUND).convert("RGB")


def dihedral(image: Image.Image) -> list[Image.Image]:
    """The image, its three quarter turns, and the mirror image of each."""
    turns = [image] + [image.rotate(angle, expand=True) for angle in (90, 180, 270)]
    return turns + [ImageOps.mirror(t) for t in turns]


def to_int(value: imagehash.ImageHash) -> int:
    bits = np.asarray(value.hash, dtype=bool).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def perceptual_hashes(frame: Image.Image, rotations: bool = False) -> dict[str, list[int]]:
    """For each method, the hash of the image (and, with ``rotations``, of its
    7 other flips and turns, in the order of :func:`dihedral`)."""
    image = prepare(frame)
    variants = dihedral(image) if rotations else [image]
    return {name: [to_int(method(v)) for v in variants] for name, method in METHODS.items()}


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
