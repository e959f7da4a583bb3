"""The one place where pixels become network tensors and back.

Networks see float32 tensors in [0, 1], NCHW.  Inference keeps whole
pictures as 8-bit tensors (``to_pixels``) and the runner makes floats of one
tile at a time.  Alpha never goes through a network: it is split off here and
put back unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """(colour part in L or RGB, alpha channel or None)."""
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    if image.mode == "LA":
        return image.convert("L"), image.getchannel("A")
    return image, None


def merge_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return image
    merged = image.convert("RGBA" if image.mode == "RGB" else "LA")
    merged.putalpha(alpha)
    return merged


def to_planes(image: Image.Image) -> torch.Tensor:
    """An L or RGB image as a batch of single-channel planes, shape (C, 1, H, W)."""
    array = np.array(image, dtype=np.uint8)  # a writable copy
    if array.ndim == 2:
        array = array[None]
    else:
        array = array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(1).float().div_(255.0)


def to_rgb_batch(image: Image.Image) -> torch.Tensor:
    """An L or RGB image as one RGB picture, shape (1, 3, H, W) (grayscale as three equal channels)."""
    return to_planes(image.convert("RGB")).permute(1, 0, 2, 3).contiguous()


def from_rgb_batch(x: torch.Tensor, mode: str) -> Image.Image:
    """Inverse of :func:`to_rgb_batch` (first picture of the batch), rounded to 8
    bits; ``mode`` "L" averages the three channels back into one."""
    rgb = x[0].clamp(0, 1).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    if mode == "L":
        return Image.fromarray(rgb.mean(axis=2).round().astype(np.uint8), "L")
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def to_pixels(image: Image.Image) -> torch.Tensor:
    """An L or RGB image as 8-bit planes: (1, C, H, W) uint8 in
    channels-last memory (C = 1 or 3), for ``runner.run_tiled``, which makes
    floats in [0, 1] of one tile at a time."""
    array = np.array(image, dtype=np.uint8)  # writable, as torch wants
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def from_pixels(x: torch.Tensor, mode: str) -> Image.Image:
    """Inverse of :func:`to_pixels` (first picture of a uint8 batch); ``mode``
    "L" from three channels averages them."""
    array = x[0].permute(1, 2, 0).numpy()
    if mode == "L":
        plane = array[:, :, 0] if array.shape[2] == 1 else array.mean(axis=2).round().astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(plane), "L")
    return Image.fromarray(np.ascontiguousarray(array), mode)


def as_floats(pixels: torch.Tensor) -> torch.Tensor:
    """8-bit pixels (``to_pixels``) as the floats in [0, 1] a network sees, contiguous."""
    return pixels.float().div_(255.0).contiguous()


def round_to_8_bits(x: torch.Tensor, through_clamp: bool = False) -> torch.Tensor:
    """``x`` clamped to [0, 1] and rounded to 8-bit levels, with a straight-through
    gradient.  ``through_clamp``: the gradient also reaches values outside [0, 1]
    (else the clamp stops it there)."""
    inside = x.clamp(0, 1)
    base = x if through_clamp else inside
    return base + ((inside * 255).round() / 255 - base).detach()
