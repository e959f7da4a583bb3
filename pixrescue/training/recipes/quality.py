"""The quality score's recipe (``quality-score``): clean crops put through
``degrade.mixed_degradation`` (JPEG histories, blur, downscaling, noise, or
nothing), the target being the PSNR of the degraded crop against the clean
one; the network predicts it without seeing the clean crop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ...nets.quality_score import TOP_PSNR as CLEAN_PSNR
from ..data import patches_in, photos_and_held_out, to_batch
from ..degrade import MIXED_RECIPES, mixed_degradation
from ..metrics import psnr
from ..recipe import Recipe

# Held-out crops: this many degradations of each held-out picture, this side.
VAL_PER_PICTURE, VAL_SIDE = 6, 128


@dataclass
class QualityScoreConfig:
    """The quality score has no options of its own."""


def target_psnr(clean: np.ndarray, degraded: np.ndarray) -> float:
    """The PSNR of ``degraded`` against ``clean`` (uint8), at most ``CLEAN_PSNR``."""
    return min(psnr(clean, degraded), CLEAN_PSNR)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


class QualityScoreRecipe(Recipe):
    def __init__(self, config) -> None:
        self.photos, val_images = photos_and_held_out(config, VAL_SIDE)
        self.config = config
        self.train_images = len(self.photos)
        rng = np.random.default_rng(4321)  # the same held-out crops every time
        recipes = list(MIXED_RECIPES)
        self.val = [mixed_degradation(image, VAL_SIDE, rng, recipes[k % len(recipes)])[:2]
                    for image in val_images for k in range(VAL_PER_PICTURE)]

    def patches_per_epoch(self) -> int:
        return patches_in(self.photos, self.config.patch)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = [], []
        for index in rng.integers(len(self.photos), size=batch):
            degraded, clean, _ = mixed_degradation(self.photos[index], self.config.patch, rng)
            turns = int(rng.integers(4))
            inputs.append(np.rot90(degraded, turns))
            targets.append(target_psnr(clean, degraded))
        return to_batch(inputs), torch.tensor(targets, dtype=torch.float32)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, target = batch
        return F.l1_loss(model.predict_psnr(x), target)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict[str, Any]:
        model.eval()
        predicted = [float(model.predict_psnr(to_batch([degraded]))[0]) for degraded, _ in self.val]
        model.train()
        truth = [target_psnr(clean, degraded) for degraded, clean in self.val]
        return {"spearman": spearman(predicted, truth),
                "psnr_error": float(np.mean(np.abs(np.subtract(predicted, truth)))), "images": len(self.val)}

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in MIXED_RECIPES.items())
        return {
            "task": "quality-score",
            "summary": f"{arch} ({parameters:,} parameters): RGB picture -> the log squared error of each 8x8 cell "
            "against its unseen clean original; the picture's predicted PSNR is that of their mean",
            "colour": "RGB network; a grayscale picture is given as three equal channels",
            "degradation": f"mixed_degradation (pixrescue/training/degrade.py): {shares}; JPEG histories as the blind "
            "JPEG model's, blur (motion 3-15 px, defocus radius 1-7, Gaussian sigma 0.5-3) with noise sigma 0-2, "
            "downscaling by 0.25-0.8 and bicubic enlarging back, Gaussian noise sigma 2-30; the last three followed "
            "by a JPEG save (quality 20-95) half of the time",
            "target": f"the PSNR of the degraded crop against the clean one, at most {CLEAN_PSNR:g} dB (L1 loss)",
        }
