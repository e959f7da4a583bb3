"""The blind deblurring recipe (``deblur``): clean crops blurred by a random
camera path, a defocus disc or a Gaussian (``training/blur.py``), with a
little noise and sometimes a JPEG save after the blur
(``degrade.blur_sample``); the target is the clean crop.  L1 loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..blur import disc_kernel, gaussian_kernel, motion_kernel
from ..data import patches_in, photos_and_held_out, to_batch
from ..degrade import BLUR_JPEG_SHARE, BLUR_NOISE, SHARP_SHARE, blur_sample
from ..metrics import psnr
from ..recipe import Recipe

# The held-out crops: this side, and these blurs (motion lengths, defocus radii, Gaussian sigmas).
VAL_SIDE = 192
VAL_MOTION, VAL_DEFOCUS, VAL_GAUSSIAN = (7, 15), (3,), (2,)


@dataclass
class DeblurConfig:
    """Deblurring has no options of its own."""


def validation_kernels() -> list[np.ndarray]:
    rng = np.random.default_rng(77)
    return ([motion_kernel(length, rng) for length in VAL_MOTION] + [disc_kernel(r) for r in VAL_DEFOCUS]
            + [gaussian_kernel(s) for s in VAL_GAUSSIAN])


class DeblurRecipe(Recipe):
    def __init__(self, config) -> None:
        self.photos, val_images = photos_and_held_out(config, VAL_SIDE)
        self.config = config
        self.train_images = len(self.photos)
        rng = np.random.default_rng(2468)  # the same held-out crops every time
        kernels = validation_kernels()
        self.val = [blur_sample(image, VAL_SIDE, rng, kernels[i % len(kernels)], jpeg=None)
                    for i, image in enumerate(val_images[:24])]

    def patches_per_epoch(self) -> int:
        return patches_in(self.photos, self.config.patch)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = [], []
        for index in rng.integers(len(self.photos), size=batch):
            degraded, clean = blur_sample(self.photos[index], self.config.patch, rng)
            turns = int(rng.integers(4))
            inputs.append(np.rot90(degraded, turns))
            targets.append(np.rot90(clean, turns))
        return to_batch(inputs), to_batch(targets)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.l1_loss(model(x), y)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict[str, Any]:
        model.eval()
        raw, restored = [], []
        for degraded, clean in self.val:
            out = model(to_batch([degraded])).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            raw.append(psnr(clean, degraded))
            restored.append(psnr(clean, (out * 255.0).round().astype(np.uint8)))
        model.train()
        return {"psnr_input": float(np.mean(raw)), "psnr_output": float(np.mean(restored)), "images": len(raw)}

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        return {
            "task": "deblur",
            "summary": f"{arch} ({parameters:,} parameters), blind: camera motion up to 15 pixels, defocus, "
            "Gaussian blur, colour or grayscale",
            "colour": "RGB network; a grayscale image is given as three equal channels and averaged back",
            "degradation": f"blur_sample (pixrescue/training/degrade.py): motion along a random camera path 3-15 px "
            f"(half the samples), defocus disc radius 1-7.5, Gaussian sigma 0.5-3; Gaussian noise sigma 0-{BLUR_NOISE:g}; "
            f"{BLUR_JPEG_SHARE:.0%} saved as JPEG (quality 50-95) after the blur; {SHARP_SHARE:.0%} left sharp",
            "target": "the clean crop",
        }
