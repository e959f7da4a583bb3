"""Colour conversions: the one owner of the YCbCr matrices.

- JPEG's YCbCr (JFIF, full range 0-255, Cb and Cr centred on 128), as
  libjpeg and Pillow convert: the DCT-domain projection, the blind model's
  quality estimator and the JPEG history scan work in it.
- The luma of ITU-R BT.601 in studio range (16-235), on which the
  super-resolution literature measures PSNR and SSIM.

The functions take numpy arrays (channels last) or, where a network needs
them, torch tensors (NCHW); values are in the 0-255 range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is converted: `load` runs without it
    from torch import Tensor


def _luma(r, g, b):
    return 0.299 * r + 0.587 * g + 0.114 * b


def _jfif(r, g, b, centre: float):
    """(Y, Cb, Cr) of JFIF from planes in 0-255 (numpy or torch); chroma offset by ``centre``."""
    y = _luma(r, g, b)
    cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + centre
    cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + centre
    return y, cb, cr


def jfif_luma(rgb: np.ndarray) -> np.ndarray:
    """The JFIF Y (full range) of an RGB array, channels last."""
    return _luma(rgb[..., 0], rgb[..., 1], rgb[..., 2])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """JFIF YCbCr of an RGB float array (channels last, 0-255)."""
    return np.stack(_jfif(rgb[..., 0], rgb[..., 1], rgb[..., 2], 128.0), axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (floats, not clipped)."""
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128.0, ycc[..., 2] - 128.0
    return np.stack([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb], axis=-1)


def rgb_to_ycbcr_levels(x: Tensor) -> Tensor:
    """JFIF YCbCr of an (N, 3, H, W) RGB tensor in 0-255, level-shifted as
    JPEG's DCT sees it: every channel centred on 0 (Y - 128, Cb - 128, Cr - 128)."""
    import torch

    y, cb, cr = _jfif(*x.unbind(dim=1), 0.0)
    return torch.stack([y - 128, cb, cr], dim=1)


def studio_luma(image: np.ndarray) -> np.ndarray:
    """The Y of YCbCr (ITU-R BT.601, studio range 16-235) of an RGB uint8
    array, as float; a grayscale array is its own Y.  The super-resolution
    literature measures PSNR and SSIM on this channel."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    return 16.0 + (65.481 * image[..., 0] + 128.553 * image[..., 1] + 24.966 * image[..., 2]) / 255.0


def studio_from_full(y: np.ndarray) -> np.ndarray:
    """A full-range (JFIF, Pillow) Y mapped to BT.601's studio range 16-235."""
    return 16.0 + y * 219.0 / 255.0
