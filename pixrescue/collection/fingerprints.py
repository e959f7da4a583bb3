"""Fingerprints of images: 64-bit perceptual hashes from the ``imagehash``
library, and 128-d learned embeddings of a 64x64 grayscale thumbnail (a
convolutional autoencoder's code, and a classifier's hidden layer).

Before hashing, the image is made comparable: EXIF orientation is already
applied by the loader, transparency is composited onto a fixed white
background, and the result is RGB.  With ``rotations`` the hashes of all 8
flips and quarter turns are kept, so that a mirrored or rotated copy matches.

Hashes are Python ints (64 bits); the distance between two is the number of
differing bits (Hamming distance).  Embeddings are unit vectors; the distance
between two is the cosine distance (1 - cosine similarity).
"""

from __future__ import annotations

from typing import Callable

import imagehash
import numpy as np
import torch
from PIL import Image, ImageOps

from ..imaging.io import flatten, normalise_mode

HASH_BITS = 64
BACKGROUND = (255, 255, 255)

METHODS: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "ahash": imagehash.average_hash,
    "dhash": imagehash.dhash,
    "phash": imagehash.phash,  # DCT of a 32x32 downscale, 8x8 low frequencies
    "whash": imagehash.whash,  # Haar wavelets
}


# Pictures are fingerprinted from a copy whose long side is at most this (reduced by a whole
# factor, box-filtered): the hashes and thumbnails are 64 pixels or less, and a 9000x9000 picture
# hashed at full size took 3 GB (wavelet hash) where its reduced copy takes a few megabytes.
WORKING_SIDE = 1024


def prepare(frame: Image.Image) -> Image.Image:
    """``frame`` as RGB with any transparency composited onto white, its long
    side reduced to at most ``WORKING_SIDE``."""
    normalised, _ = normalise_mode(frame)
    factor = -(-max(normalised.size) // WORKING_SIDE)
    if factor > 1:
        normalised = normalised.reduce(factor)
    return flatten(normalised, BACKGROUND).convert("RGB")


def dihedral(image: Image.Image) -> list[Image.Image]:
    """The image, its three quarter turns, and the mirror image of each."""
    turns = [image] + [image.rotate(angle, expand=True) for angle in (90, 180, 270)]
    return turns + [ImageOps.mirror(t) for t in turns]


THUMBNAIL = 64


def thumbnail(frame: Image.Image) -> torch.Tensor:
    """The (1, 64, 64) float grayscale thumbnail the embeddings read: alpha
    composited on white, the whole picture squeezed to a square."""
    gray = prepare(frame).convert("L").resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR, reducing_gap=2.0)
    return torch.from_numpy(np.asarray(gray, dtype=np.float32) / 255.0)[None]


def to_int(value: imagehash.ImageHash) -> int:
    bits = np.asarray(value.hash, dtype=bool).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def perceptual_hashes(frame: Image.Image, rotations: bool = False) -> dict[str, list[int]]:
    """For each method, the hash of the image (and, with ``rotations``, of its
    7 other flips and turns, in the order of :func:`dihedral`)."""
    image = prepare(frame)
    variants = dihedral(image) if rotations else [image]
    return {name: [to_int(method(v)) for v in variants] for name, method in METHODS.items()}


# Learned embeddings: method name -> registered model (see zoo.py).
EMBEDDINGS = {"ae": "autoencoder.thumb64", "cnn": "embedcnn.thumb64"}


@torch.inference_mode()
def embeddings(frame: Image.Image, rotations: bool = False) -> dict[str, np.ndarray]:
    """For each learned embedding, a (V, 128) float32 array of unit vectors:
    V = 1, or 8 with ``rotations`` (the variants of :func:`dihedral`)."""
    from .. import zoo

    image = prepare(frame)
    batch = torch.stack([thumbnail(v) for v in (dihedral(image) if rotations else [image])])
    result = {}
    for name, model in EMBEDDINGS.items():
        result[name] = zoo.load_model(model).embed(batch).numpy().astype(np.float32)
    return result


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
