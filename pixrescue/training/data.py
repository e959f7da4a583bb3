"""Training data for JPEG artifact removal: degraded / clean pairs and patches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..imaging import ImageLoadError, load
from ..imaging.io import find_images, flatten
from ..imaging.jpeg import compress

TARGETS = ("q100", "original")


def limit_side(image: Image.Image, max_side: int | None) -> Image.Image:
    """``image`` shrunk (Lanczos) so that its long side is at most ``max_side``."""
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.LANCZOS)
    return image


@dataclass(frozen=True)
class JpegPair:
    """Input compressed at ``quality``; target the clean image or its q100 copy."""

    quality: int = 10
    target: str = "q100"

    def __call__(self, clean: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        degraded = compress(clean, self.quality)
        wanted = compress(clean, 100) if self.target == "q100" else clean
        return np.asarray(degraded), np.asarray(wanted)


def load_clean_images(folders: list[str | Path], max_side: int | None, mode: str | None = "L") -> list[Image.Image]:
    """Every readable image under ``folders`` (recursively), first frame only,
    converted to ``mode``; ``None`` keeps grayscale as L and makes the rest RGB."""
    images = []
    for path in find_images(list(folders), recursive=True):
        try:
            frame = load(path).image
        except ImageLoadError:
            continue
        frame = flatten(frame, (255, 255, 255))
        frame = frame.convert(mode or ("L" if frame.mode == "L" else "RGB"))
        if min(frame.size) >= 16:
            images.append(limit_side(frame, max_side))
    return images


def split(items: list, fraction: float) -> tuple[list, list]:
    """Deterministic hold-out: every k-th item goes to validation."""
    if fraction <= 0 or len(items) < 4:
        return items, []
    k = max(2, round(1 / fraction))
    return [x for i, x in enumerate(items) if i % k], [x for i, x in enumerate(items) if not i % k]


class PatchSampler:
    """Random aligned crops of (input, target) pairs, with flips and 90° turns."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], patch: int) -> None:
        self.pairs = [p for p in pairs if min(p[0].shape[:2]) >= patch]
        if not self.pairs:
            raise ValueError(f"no training image is at least {patch}x{patch}")
        self.patch = patch

    def patches_per_epoch(self) -> int:
        return sum((a.shape[0] // self.patch) * (a.shape[1] // self.patch) for a, _ in self.pairs)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.patch
        xs, ys = [], []
        for index in rng.integers(len(self.pairs), size=batch):
            degraded, clean = self.pairs[index]
            top = rng.integers(degraded.shape[0] - p + 1)
            left = rng.integers(degraded.shape[1] - p + 1)
            x = degraded[top : top + p, left : left + p]
            y = clean[top : top + p, left : left + p]
            turns, flip = rng.integers(4), rng.integers(2)
            x, y = np.rot90(x, turns), np.rot90(y, turns)
            if flip:
                x, y = x[:, ::-1], y[:, ::-1]
            xs.append(x)
            ys.append(y)
        return to_batch(xs), to_batch(ys)


def to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """uint8 HxW or HxWxC arrays -> float NCHW tensor in [0, 1]."""
    stacked = np.stack([np.ascontiguousarray(a) for a in arrays])
    if stacked.ndim == 3:
        stacked = stacked[:, None]
    else:
        stacked = stacked.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked)).float().div_(255.0)
