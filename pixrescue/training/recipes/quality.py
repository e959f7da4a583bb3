"""The quality score's recipe (``quality-score``): clean crops put through
``degrade.mixed_degradation`` (JPEG histories, blur, downscaling, noise, or
nothing), the target being the PSNR of the degraded crop against the clean
one; the network predicts it without seeing the clean crop.

The loss is the L1 error of the crop's predicted PSNR plus, with weight
``CELL_WEIGHT``, that of every 8x8 cell's (the network's output is per cell,
and the clean crop says what each cell's error is): a crop gives the network
144 targets instead of one, and a cell it gets wrong cannot hide behind the
crop's mean."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ...nets.quality_score import TOP_PSNR as CLEAN_PSNR
from ..data import patches_in, photos_and_held_out, to_batch
from ..degrade import MIXED_RECIPES, mixed_degradation
from ..metrics import psnr
from ..recipe import Recipe

# Weight of the cells' L1 error (dB) beside the crop's; cells are judged at most CLEAN_PSNR like crops.
CELL_WEIGHT = 0.5
CELL = 8
# Pictures that never went through a lossy encoder keep a sensor's fine noise, which a slight JPEG save
# removes; the training photographs mostly came from JPEGs and have none.  Untaught, the network called
# such a clean photograph worse than its quality-90 copy.  So half of the samples are cut from a window
# of the photograph with Gaussian grain of sigma up to GRAIN_SIGMA levels added first: part of the clean
# picture, the reference for every degradation.
GRAIN_SHARE, GRAIN_SIGMA = 0.5, 3.0
# The training photographs went through JPEG before (BSDS500's are quality-95 JPEGs; the others come
# from the same kind of sources), so the network learnt to take the traces of a mild JPEG save for
# clean.  Each one at least twice the size a sample needs is averaged down by this factor (2x2 boxes)
# first, which leaves little of the 8x8 grid or its ringing: the clean reference then looks like a
# picture that never was a JPEG.
CLEAN_REDUCTION = 2
# Held-out crops: this many degradations of each held-out picture, this side.
VAL_PER_PICTURE, VAL_SIDE = 6, 128


@dataclass
class QualityScoreConfig:
    """The quality score has no options of its own."""


def target_psnr(clean: np.ndarray, degraded: np.ndarray) -> float:
    """The PSNR of ``degraded`` against ``clean`` (uint8), at most ``CLEAN_PSNR``."""
    return min(psnr(clean, degraded), CLEAN_PSNR)


def with_grain(photo: Image.Image, side: int, rng: np.random.Generator) -> Image.Image:
    """A ``side`` x ``side`` window of ``photo`` (all of it where smaller), RGB, with Gaussian grain."""
    left = int(rng.integers(max(photo.width - side, 0) + 1))
    top = int(rng.integers(max(photo.height - side, 0) + 1))
    window = photo.crop((left, top, min(left + side, photo.width), min(top + side, photo.height))).convert("RGB")
    window = np.asarray(window, dtype=np.float32)
    grain = rng.standard_normal(window.shape, dtype=np.float32) * np.float32(rng.uniform(0.0, GRAIN_SIGMA))
    return Image.fromarray(np.clip(np.rint(window + grain), 0, 255).astype(np.uint8))


def without_jpeg_traces(photo: Image.Image, patch: int) -> Image.Image:
    """``photo`` averaged down by ``CLEAN_REDUCTION`` where it stays at least ``patch`` + 32 on each side."""
    if min(photo.size) >= CLEAN_REDUCTION * (patch + 32):
        return photo.reduce(CLEAN_REDUCTION)
    return photo


def cell_psnr(clean: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """(H/8, W/8) the PSNR (dB) of each 8x8 cell of ``degraded`` against ``clean``, at most ``CLEAN_PSNR``."""
    error = (clean.astype(np.float64) - degraded.astype(np.float64)) / 255.0
    height, width = error.shape[0] // CELL, error.shape[1] // CELL
    cells = error[:height * CELL, :width * CELL].reshape(height, CELL, width, CELL, -1)
    mse = np.square(cells).mean(axis=(1, 3, 4))
    return np.minimum(-10.0 * np.log10(np.maximum(mse, 1e-12)), CLEAN_PSNR)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


class QualityScoreRecipe(Recipe):
    def __init__(self, config) -> None:
        photos, val_images = photos_and_held_out(config, VAL_SIDE)
        self.photos = [without_jpeg_traces(photo, config.patch) for photo in photos]
        self.config = config
        self.train_images = len(self.photos)
        rng = np.random.default_rng(4321)  # the same held-out crops every time
        recipes = list(MIXED_RECIPES)
        self.val = [mixed_degradation(image, VAL_SIDE, rng, recipes[k % len(recipes)])[:2]
                    for image in val_images for k in range(VAL_PER_PICTURE)]

    def patches_per_epoch(self) -> int:
        return patches_in(self.photos, self.config.patch)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inputs, targets, cells = [], [], []
        for index in rng.integers(len(self.photos), size=batch):
            photo = self.photos[index]
            if rng.random() < GRAIN_SHARE:
                photo = with_grain(photo, 3 * self.config.patch + 64, rng)  # room for the re-shares' shrinking
            degraded, clean, _ = mixed_degradation(photo, self.config.patch, rng)
            turns = int(rng.integers(4))
            inputs.append(np.rot90(degraded, turns))
            targets.append(target_psnr(clean, degraded))
            cells.append(np.rot90(cell_psnr(clean, degraded), turns))
        cells = torch.from_numpy(np.ascontiguousarray(np.stack(cells)[:, None])).float()
        return to_batch(inputs), torch.tensor(targets, dtype=torch.float32), cells

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, target, cells = batch
        log_errors = model(x).float()
        predicted_cells = (-10.0 / math.log(10.0)) * log_errors
        return (F.l1_loss(model.psnr_of(log_errors), target)
                + CELL_WEIGHT * F.l1_loss(predicted_cells.clamp(max=CLEAN_PSNR), cells))

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
            "by a JPEG save (quality 20-95) half of the time; each training photograph at least "
            f"{CLEAN_REDUCTION} times the size a sample needs is first averaged down by {CLEAN_REDUCTION} "
            "(box), which removes the traces of the JPEG it came from; in a share of "
            f"{GRAIN_SHARE:g} of the samples the photograph first gets Gaussian grain of sigma 0-{GRAIN_SIGMA:g} levels, "
            "part of the clean reference",
            "target": f"the PSNR of the degraded crop against the clean one, at most {CLEAN_PSNR:g} dB (L1 loss), and "
            f"that of each 8x8 cell (L1 loss, weight {CELL_WEIGHT:g})",
        }
