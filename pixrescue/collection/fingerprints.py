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

import copy
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
    side reduced to at most ``WORKING_SIDE`` (``frame`` itself when it is already that)."""
    normalised, _ = normalise_mode(frame)
    factor = -(-max(normalised.size) // WORKING_SIDE)
    if factor > 1:
        normalised = normalised.reduce(factor)
    flat = flatten(normalised, BACKGROUND)
    return flat if flat.mode == "RGB" else flat.convert("RGB")


def dihedral(image: Image.Image) -> list[Image.Image]:
    """The image, its three quarter turns, and the mirror image of each."""
    turns = [image] + [image.rotate(angle, expand=True) for angle in (90, 180, 270)]
    return turns + [ImageOps.mirror(t) for t in turns]


def variants(frame: Image.Image, rotations: bool = False) -> list[Image.Image]:
    """What every fingerprint is computed from: ``prepare(frame)`` in grayscale
    (each hash and the thumbnail read grayscale), and with ``rotations`` its 7
    other flips and turns, in the order of :func:`dihedral`."""
    gray = prepare(frame).convert("L")
    return dihedral(gray) if rotations else [gray]


THUMBNAIL = 64


def _thumbnail_of(gray: Image.Image) -> torch.Tensor:
    small = gray.resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR, reducing_gap=2.0)
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)[None]


def thumbnail(frame: Image.Image) -> torch.Tensor:
    """The (1, 64, 64) float grayscale thumbnail the embeddings read: alpha
    composited on white, the whole picture squeezed to a square."""
    return _thumbnail_of(variants(frame)[0])


def thumbnails(images: list[Image.Image]) -> torch.Tensor:
    """The (V, 1, 64, 64) thumbnails of :func:`variants`."""
    return torch.stack([_thumbnail_of(image) for image in images])


def to_int(value: imagehash.ImageHash) -> int:
    bits = np.asarray(value.hash, dtype=bool).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def hashes(images: list[Image.Image]) -> dict[str, list[int]]:
    """For each method, the hash of each of :func:`variants`."""
    return {name: [to_int(method(image)) for image in images] for name, method in METHODS.items()}


def perceptual_hashes(frame: Image.Image, rotations: bool = False) -> dict[str, list[int]]:
    """For each method, the hash of the image (and, with ``rotations``, of its
    7 other flips and turns, in the order of :func:`dihedral`)."""
    return hashes(variants(frame, rotations))


# Learned embeddings: method name -> registered model (see zoo.py).
EMBEDDINGS = {"ae": "autoencoder.thumb64", "cnn": "embedcnn.thumb64"}

# The networks read thumbnails CHUNK at a time, the last chunk padded: the convolutions' arithmetic
# depends on how many pictures they are given at once, so one fixed count makes a picture's
# embedding the same whether it was computed alone or among many (and 8 at a time, in channels-last
# layout, took 2.1 ms a thumbnail for both networks on one core where one at a time took 5.1 ms).
CHUNK = 8
_networks: dict[str, tuple[torch.nn.Module, torch.nn.Module]] = {}  # name -> (zoo's, channels-last copy)


def _network(name: str) -> torch.nn.Module:
    """The registered model ``name``, in channels-last layout (a copy: the cached one is shared)."""
    from .. import zoo

    model = zoo.load_model(name)
    cached = _networks.get(name)
    if cached is None or cached[0] is not model:
        with torch.inference_mode(False):
            cached = (model, copy.deepcopy(model).to(memory_format=torch.channels_last))
        _networks[name] = cached
    return cached[1]


@torch.inference_mode()
def embed(batch: torch.Tensor) -> dict[str, np.ndarray]:
    """For each learned embedding, the (N, 128) float32 unit vectors of an
    (N, 1, 64, 64) batch of thumbnails, computed ``CHUNK`` at a time."""
    count = len(batch)
    padded = torch.zeros((-(-count // CHUNK) * CHUNK, 1, THUMBNAIL, THUMBNAIL), dtype=torch.float32)
    padded[:count] = batch
    from ..runner import device, placed

    where = device()
    padded = padded.contiguous(memory_format=torch.channels_last).to(where)
    result = {}
    for name, model in EMBEDDINGS.items():
        network = placed(_network(model), where)
        parts = [network.embed(padded[i:i + CHUNK]) for i in range(0, len(padded), CHUNK)]
        result[name] = torch.cat(parts)[:count].cpu().numpy().astype(np.float32)
    return result


def embeddings(frame: Image.Image, rotations: bool = False) -> dict[str, np.ndarray]:
    """For each learned embedding, a (V, 128) float32 array of unit vectors:
    V = 1, or 8 with ``rotations`` (the variants of :func:`dihedral`)."""
    return embed(thumbnails(variants(frame, rotations)))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
