"""Image files in and out with full fidelity, and JPEG internals.

``load`` is the only way the package reads an image file and ``save`` the
only way it writes one.
"""

from .io import ImageLoadError, ImageSaveError, Picture, load, save

__all__ = ["ImageLoadError", "ImageSaveError", "Picture", "load", "save"]
