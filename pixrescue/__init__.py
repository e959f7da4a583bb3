"""pixrescue: rescue images that the internet has degraded.

The Python API::

    import pixrescue
    fixed = pixrescue.restore("meme.jpg")             # path or PIL.Image in, PIL.Image out
    fixed = pixrescue.restore(image, model="srcnn.jpeg-q10-gray", passes=2)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["decode", "encode", "expand", "fingerprint", "load", "models", "restore", "save", "shrink", "upscale"]
__version__ = "0.1.0"


def restore(
    image: Image.Image | str | os.PathLike,
    model: str | None = None,
    passes: int = 1,
    strength: int | None = None,
    project: bool | None = None,
) -> Image.Image:
    """Remove JPEG artifacts from ``image`` (a PIL image or a path).

    ``model`` names a registered model (see :func:`models`; default: the blind
    ``qgunet.jpeg-blind``); ``passes`` runs it that many times.  The blind
    model reads the JPEG's quantization tables (from a path, or from a PIL
    image opened from a JPEG), and is told the harshest compression the
    pixels show when they were compressed harder before the last save, or
    estimates the compression from the pixels of another picture; ``strength``
    (an IJG quality, 1-100) overrides that.  ``project`` moves the result back
    into the quantization intervals of the JPEG (default: as the model's card
    says, when the file shows a single compression).  Alpha is kept unchanged.  A path is read with
    :func:`load` (EXIF orientation applied; for animations only the first
    frame is returned: use the ``pixrescue fix`` command to restore every
    frame of a file).
    """
    from . import zoo
    from .tasks.restore import check_model, restore_frame

    model = model or zoo.DEFAULT_MODEL["jpeg"]
    check_model(model, strength)
    frame, jpeg, orientation = _source(image)
    return restore_frame(frame, model, passes, jpeg=jpeg, strength=strength, project=project,
                         orientation=orientation)


def upscale(
    image: Image.Image | str | os.PathLike, scale: int = 2, model: str | None = None, deblock: bool | None = None
) -> Image.Image:
    """``image`` enlarged ``scale`` (2, 3 or 4) times by ``model``: nearest,
    bilinear, bicubic, lanczos, an upscaler's architecture (srcnn, fsrcnn,
    drcn, vdsr, edsr) or registered name; default the light EDSR.
    ``deblock`` removes JPEG artifacts first (default: when ``image`` is a
    JPEG, read from a path or opened by Pillow)."""
    from .tasks.upscale import upscale_frame

    frame, jpeg, orientation = _source(image)
    deblock = jpeg is not None if deblock is None else deblock
    return upscale_frame(frame, scale, model, deblock, jpeg, orientation)


def shrink(image, scale: int = 2, jpeg_robust: bool = False, refine: int = 0):
    """A :class:`pixrescue.imaging.Picture` ``scale`` (2 or 4) times smaller,
    made by the invertible rescaler so that :func:`expand` can recover the
    original; save it as PNG with :func:`save` (its metadata names the model).
    ``image``: a path, a PIL image or a Picture.  ``refine``: steps spent
    tuning the small picture so that :func:`expand` recovers more (slower;
    not with ``jpeg_robust``)."""
    from .tasks.rescale import shrink_picture

    return shrink_picture(_picture(image), scale, jpeg_robust, refine)


def expand(image, seed: int = 0, temperature: float | None = None, model: str | None = None):
    """The full-size :class:`pixrescue.imaging.Picture` recovered from what
    :func:`shrink` made (a path or a Picture that kept its metadata; ``model``
    forces one for a picture that lost it).  ``seed`` and ``temperature``
    set the draw of the latent (temperature 0: its mean)."""
    from .tasks.rescale import DEFAULT_TEMPERATURE, expand_picture

    temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
    return expand_picture(_picture(image), seed, temperature, model)


def _picture(image):
    """A Picture from a path, a PIL image or a Picture."""
    from .imaging import Picture, load
    from .imaging.io import normalise_mode, read_text

    if isinstance(image, Picture):
        return image
    if isinstance(image, (str, os.PathLike)):
        return load(image)
    return Picture(frames=[normalise_mode(image)[0]], text=read_text(image))


def encode(image: Image.Image | str | os.PathLike):
    """The autoencoder's 128-d code (a float32 numpy array) of ``image``'s
    64x64 grayscale thumbnail; :func:`decode` turns it back into a thumbnail."""
    import torch

    from . import zoo
    from .collection.fingerprints import EMBEDDINGS, thumbnail

    with torch.inference_mode():
        return zoo.load_model(EMBEDDINGS["ae"]).encode(thumbnail(_frame(image))[None])[0].numpy()


def decode(code) -> Image.Image:
    """The 64x64 grayscale thumbnail the autoencoder reconstructs from ``code``."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    from . import zoo
    from .collection.fingerprints import EMBEDDINGS

    with torch.inference_mode():
        out = zoo.load_model(EMBEDDINGS["ae"]).decode(torch.as_tensor(np.asarray(code, dtype=np.float32))[None])
    return PILImage.fromarray((out[0, 0].numpy() * 255).round().astype(np.uint8), "L")


def fingerprint(image: Image.Image | str | os.PathLike, rotations: bool = False) -> dict:
    """Every fingerprint of ``image``: the four perceptual hashes (lists of
    64-bit ints) and the two learned embeddings ((V, 128) unit vectors); with
    ``rotations``, of each of its 8 flips and quarter turns."""
    from .collection.fingerprints import embeddings, perceptual_hashes

    frame = _frame(image)
    return {**perceptual_hashes(frame, rotations), **embeddings(frame, rotations)}


def _source(image):
    """(first frame, JPEG facts or None, EXIF orientation applied) of a path or a PIL image."""
    from .imaging import load
    from .imaging.history import with_history
    from .imaging.io import normalise_mode
    from .imaging.jpeg import read_info

    if isinstance(image, (str, os.PathLike)):
        picture = load(image)
        return picture.image, picture.jpeg, picture.orientation
    return normalise_mode(image)[0], with_history(image, read_info(image)), 1


def _frame(image):
    return _source(image)[0]


def models() -> dict[str, dict]:
    """Registered model names and their cards."""
    from . import zoo

    return {name: zoo.load_card(name) for name in zoo.MODELS}


def load(path: str | os.PathLike):
    """Read an image file with everything it holds (see :class:`pixrescue.imaging.Picture`)."""
    from .imaging import load as _load

    return _load(path)


def save(picture, path: str | os.PathLike, **options):
    """Write a :class:`pixrescue.imaging.Picture` atomically (format from the extension)."""
    from .imaging import save as _save

    return _save(picture, path, **options)
