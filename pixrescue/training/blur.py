"""Blur kernels for synthetic training data: camera motion (a random
trajectory), defocus (a disc) and a Gaussian, each normalised to sum 1, and
their application to a picture."""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

# The largest kernel side drawn (pixels): motion up to this length, defocus up to half of it as radius.
MAX_KERNEL = 15


def motion_kernel(length: float, rng: np.random.Generator, side: int | None = None) -> np.ndarray:
    """A camera path about ``length`` pixels long: a random walk whose direction
    turns a little at each step (shake, not only straight lines), drawn with
    bilinear weights on an odd ``side`` x ``side`` grid and centred on its mass."""
    side = side or (int(np.ceil(length)) | 1) + 2
    steps = max(8, int(4 * length))
    angle = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 0.6 / np.sqrt(steps), size=steps).cumsum() + angle
    points = np.cumsum(np.stack([np.cos(turn), np.sin(turn)], axis=1) * (length / steps), axis=0)
    points -= points.mean(axis=0)
    points += (side - 1) / 2
    kernel = np.zeros((side, side))
    for x, y in np.clip(points, 0, side - 1.001):
        x0, y0 = int(x), int(y)
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += fx * (1 - fy)
        kernel[y0 + 1, x0] += (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += fx * fy
    return kernel / kernel.sum()


def disc_kernel(radius: float) -> np.ndarray:
    """Out-of-focus blur: a disc of ``radius`` pixels, its edge anti-aliased (4x4 samples a pixel)."""
    half = int(np.ceil(radius))
    offsets = (np.arange(4) + 0.5) / 4 - 0.5
    axis = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).ravel()
    inside = (axis[:, None] ** 2 + axis[None, :] ** 2) <= radius**2
    side = 2 * half + 1
    kernel = inside.reshape(side, 4, side, 4).mean(axis=(1, 3))
    return kernel / kernel.sum()


def gaussian_kernel(sigma: float) -> np.ndarray:
    half = max(1, int(np.ceil(3 * sigma)))
    axis = np.arange(-half, half + 1)
    g = np.exp(-(axis**2) / (2 * sigma**2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def random_kernel(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A kernel drawn as the training data has them: motion 3-15 pixels (half the
    draws), defocus radius 1-7, Gaussian sigma 0.5-3; its kind with it."""
    kind = rng.choice(["motion", "defocus", "gaussian"], p=[0.5, 0.3, 0.2])
    if kind == "motion":
        return "motion", motion_kernel(rng.uniform(3, MAX_KERNEL), rng)
    if kind == "defocus":
        return "defocus", disc_kernel(rng.uniform(1, MAX_KERNEL / 2))
    return "gaussian", gaussian_kernel(rng.uniform(0.5, 3))


def blur(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``pixels`` (HxW or HxWxC, any range) convolved with ``kernel``, edges
    mirrored, same size and float64 (not rounded)."""
    pad = kernel.shape[0] // 2
    planes = pixels[..., None] if pixels.ndim == 2 else pixels
    out = np.empty(planes.shape, dtype=np.float64)
    for c in range(planes.shape[2]):
        padded = np.pad(planes[..., c].astype(np.float64), pad, mode="reflect")
        out[..., c] = fftconvolve(padded, kernel, mode="valid")
    return out[..., 0] if pixels.ndim == 2 else out
