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

__all__ = ["restore", "models", "load", "save"]
__version__ = "0.1.0"


def restore(image: Image.Image | str | os.PathLike, model: str | None = None, passes: int = 1) -> Image.Image:
    """Remove JPEG artifacts from ``image`` (a PIL image or a path).

    ``model`` names a registered model (see :func:`models`; default
    ``resnet18.jpeg-q10-gray``); ``passes`` runs it that many times.  Alpha
    is kept unchanged.  A path is read with :func:`load` (EXIF orientation
    applied; for animations only the first frame is returned: use the
    ``pixrescue fix`` command to restore every frame of a file).
    """
    from .imaging import load
    from .imaging.io import normalise_mode
    from .tasks.restore import restore_frame
    from . import zoo

    if isinstance(image, (str, os.PathLike)):
        frame = load(image).image
    else:
        frame, _ = normalise_mode(image)
    return restore_frame(frame, model or zoo.DEFAULT_MODEL["jpeg"], passes)


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
