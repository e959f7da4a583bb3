"""The side-information recipe (``side-info``): the descriptor extractor, the
context model and the conditional restorer of ``nets/side_info.py`` trained
end to end on L = D + lambda R, D the MSE of the restored picture against the
clean one (pixels in [0, 1]), R the side information's bits per pixel under
the context model (``--rate-weight`` is lambda).

Inputs: clean colour crops (grayscale ones as three equal channels) saved as
baseline JPEG by Pillow's IJG encoder (the project's one encoder, 4:2:0) at a
quality drawn uniformly from 10-50, decoded, and the default blind model's
output on them (frozen; the model the spec names as its ``base``), exactly
what ``pixrescue fix`` computes on such a file.  The blind model is the slow
part, so a pool of crops is prepared once when the recipe is built (each
160x160 crop compressed whole, the blind model run on it, its centre 128x128
kept, so the patches see the blind output away from the crop's edges); each
batch cuts patches from the pool on the 16-pixel block grid, with flips and
90-degree turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ... import zoo
from ...nets.side_info import BLOCK
from ..data import load_clean_images, split, to_batch
from ..degrade import jpeg_round_trip
from ..metrics import psnr
from ..recipe import Recipe

QUALITIES = (10, 50)  # the JPEG qualities trained on (inclusive)
CROP, KEPT = 160, 128  # pool crops, and their centre that is kept
VAL_SIDE = 256
GRAY_SHARE = 0.2


@dataclass
class SideInfoConfig:
    rate_weight: float | None = None  # lambda, in squared 8-bit levels per bit per pixel (required)
    diversity: float = 1.0  # weight of the pull towards using every symbol (see the module's docstring)
    pool: int = 4000  # prepared crops


def blind_output(network: torch.nn.Module, decoded: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """The blind network's 8-bit output on an HxWx3 uint8 picture, told ``tables`` (as ``fix`` runs it)."""
    with torch.inference_mode():
        x = to_batch([decoded])
        out = network(x, torch.from_numpy(np.asarray(tables, np.float32))[None])
        return (out.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)


def prepared(image: Image.Image, quality: int, network: torch.nn.Module) -> tuple[np.ndarray, ...]:
    """(clean, decoded, blind) HxWx3 uint8 of an RGB ``image`` saved at ``quality``."""
    decoded, tables = jpeg_round_trip(image, quality)
    decoded = np.asarray(decoded.convert("RGB"))
    return np.asarray(image), decoded, blind_output(network, decoded, tables)


class SideInfoRecipe(Recipe):
    def __init__(self, config) -> None:
        if config.recipe.rate_weight is None:
            raise ValueError(f"{config.model} needs --rate-weight (lambda of L = D + lambda R; the card of each "
                             "shipped rate point records its own)")
        if config.patch % BLOCK or config.patch > KEPT:
            raise ValueError(f"--patch must be a multiple of {BLOCK} up to {KEPT} for {config.model}")
        self.config = config
        spec = zoo.get_spec(config.model)
        self.base = spec.base
        network = zoo.load_model(spec.base)
        images = load_clean_images(config.data, config.max_side, mode=None)
        train_images, val_images = split([im for im in images if min(im.size) >= CROP], config.val_fraction)
        self.train_images = len(train_images)
        gray = np.array([im.mode == "L" for im in train_images])
        weights = np.where(gray, GRAY_SHARE / max(gray.sum(), 1), (1 - GRAY_SHARE) / max((~gray).sum(), 1))
        weights = weights / weights.sum()
        rng = np.random.default_rng([config.seed, 4321])
        self.pool: list[tuple[np.ndarray, ...]] = []
        margin = (CROP - KEPT) // 2
        for _ in range(config.recipe.pool):
            image = train_images[int(rng.choice(len(train_images), p=weights))].convert("RGB")
            top = int(rng.integers(image.height - CROP + 1))
            left = int(rng.integers(image.width - CROP + 1))
            crop = image.crop((left, top, left + CROP, top + CROP))
            quality = int(rng.integers(QUALITIES[0], QUALITIES[1] + 1))
            arrays = prepared(crop, quality, network)
            self.pool.append(tuple(a[margin:margin + KEPT, margin:margin + KEPT].copy() for a in arrays))
        self.val = []
        for i, image in enumerate(val_images[:12]):
            side = min(VAL_SIDE, image.width // BLOCK * BLOCK, image.height // BLOCK * BLOCK)
            crop = image.convert("RGB").crop((0, 0, side, side))
            self.val.append(prepared(crop, (10, 30, 50)[i % 3], network))

    def patches_per_epoch(self) -> int:
        return len(self.pool) * (KEPT // self.config.patch) ** 2

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        p = self.config.patch
        offsets = range(0, KEPT - p + 1, BLOCK)
        parts: list[list[np.ndarray]] = [[], [], []]
        for index in rng.integers(len(self.pool), size=batch):
            top, left = int(rng.choice(offsets)), int(rng.choice(offsets))
            turns, flip = int(rng.integers(4)), int(rng.integers(2))
            for part, array in zip(parts, self.pool[index]):
                piece = np.rot90(array[top:top + p, left:left + p], turns)
                part.append(piece[:, ::-1] if flip else piece)
        return tuple(to_batch(part) for part in parts)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        clean, decoded, blind = batch
        restored, bits, diversity = model(clean, decoded, blind)
        distortion = F.mse_loss(restored.float() * 255, clean.float() * 255)
        return (distortion + self.config.recipe.rate_weight * bits.float().mean() / BLOCK**2
                + self.config.recipe.diversity * diversity)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict[str, Any]:
        """PSNR of the JPEG, of the blind model and of the side-information result, on held-out crops at
        qualities 10/30/50, and the side information's bits per pixel under the context model."""
        model.eval()
        jpeg, blind, restored, bpp, used = [], [], [], [], set()
        for clean, decoded, base in self.val:
            c, d, b = (to_batch([a]) for a in (clean, decoded, base))
            out, bits, _ = model(c, d, b)
            used |= set(model.describe(c, d).unique().tolist())
            out = (out.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
            jpeg.append(psnr(clean, decoded))
            blind.append(psnr(clean, base))
            restored.append(psnr(clean, out))
            bpp.append(float(bits.sum()) / (clean.shape[0] * clean.shape[1]))
        model.train()
        return {"psnr_input": float(np.mean(jpeg)), "psnr_blind": float(np.mean(blind)),
                "psnr_output": float(np.mean(restored)), "side_bpp": float(np.mean(bpp)),
                "symbols_used": float(len(used)), "images": len(jpeg)}

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        lam = self.config.recipe.rate_weight
        return {
            "task": "jpeg-side-information",
            "summary": f"{arch} ({parameters:,} parameters): learned side information sent with a JPEG "
            f"(16-way code per 16x16 block, context-coded), refining the output of {self.base}; lambda {lam:g}",
            "colour": "RGB network; a grayscale image is given as three equal channels and averaged back",
            "degradation": f"crops saved by Pillow (IJG libjpeg, baseline, 4:2:0) at a quality drawn from "
            f"{QUALITIES[0]}-{QUALITIES[1]}, decoded, and the output of {self.base} (frozen) on them",
            "why": f"The restorer refines the output of {self.base} (frozen) rather than restoring the JPEG alone, "
            "as Ma et al.'s EDSR-baseline* does: the bar is JPEG plus that blind model, which took hours of a CPU to "
            "train, and a restorer trained from scratch in the minutes left would first have to relearn it before "
            "the side information could add anything; refining, its last layer starts at zero (the blind output "
            "exactly) and every bit goes to what the blind model gets wrong.  It works at half resolution "
            "(pixel-unshuffle, as the blind model) for speed on a CPU; a per-pixel gain on the blind model's "
            "correction from the artifact features gives the codes a one-layer path to the picture.",
            "target": "the clean crop; loss MSE (8-bit levels squared) + lambda * (side-information bits per pixel) "
            f"+ {self.config.recipe.diversity:g} * (log 16 - entropy of the batch's mean code distribution)",
        }
