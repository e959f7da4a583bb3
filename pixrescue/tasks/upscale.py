"""Enlarging small pictures.

Methods: nearest, bilinear, bicubic and Lanczos interpolation (Pillow; no
weights).  A JPEG input is deblocked first by the default artifact-removal
model, told the file's quantization tables, so that enlarging does not
magnify its 8x8 blocks (``deblock``; default: on for JPEG inputs only).
``benchmarks/upscale.py`` measures what deblocking first adds.  Alpha is
enlarged by bicubic interpolation; every frame of an animation is enlarged.
"""

from __future__ import annotations

from PIL import Image

from .. import zoo
from ..imaging import Picture
from ..imaging.jpeg import JpegInfo
from ..imaging.tensors import merge_alpha, split_alpha
from .restore import restore_frame

INTERPOLATIONS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
}
DEFAULT_METHOD = "bicubic"
SCALES = (2, 3, 4)


def upscale_frame(frame: Image.Image, scale: int, method: str = DEFAULT_METHOD, deblock: bool = False,
                  jpeg: JpegInfo | None = None, orientation: int = 1) -> Image.Image:
    """``frame`` enlarged ``scale`` times (exactly: output = scale x input size)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}")
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown upscaling method {method!r} (known: {', '.join(INTERPOLATIONS)})")
    if deblock:
        frame = restore_frame(frame, zoo.DEFAULT_MODEL["jpeg"], jpeg=jpeg, orientation=orientation)
    colour, alpha = split_alpha(frame)
    size = (colour.width * scale, colour.height * scale)
    enlarged = colour.resize(size, INTERPOLATIONS[method])
    return merge_alpha(enlarged, None if alpha is None else alpha.resize(size, Image.BICUBIC))


def upscale_picture(picture: Picture, scale: int, method: str = DEFAULT_METHOD, deblock: bool | None = None) -> Picture:
    """Every frame enlarged; ``deblock`` None means: when the source is a JPEG."""
    deblock = picture.jpeg is not None if deblock is None else deblock
    return picture.with_frames([
        upscale_frame(f, scale, method, deblock, picture.jpeg, picture.orientation) for f in picture.frames
    ])
