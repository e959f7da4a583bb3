"""The invertible rescalers' recipes (``rescaling``, and ``rescaling-jpeg``,
robust to a JPEG of the small picture), IRN's losses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ... import zoo
from ...imaging.jpeg import compress
from ...imaging.tensors import as_floats, from_rgb_batch, round_to_8_bits, to_rgb_batch
from ...tasks.upscale import network_input
from ..data import load_clean_images, split
from ..metrics import psnr
from ..recipe import Recipe
from .super_resolution import validation_crops


@dataclass
class RescalingConfig:
    guide_weight: float | None = None  # weight of the small picture's pull to bicubic (None: the recipe's)


def jpeg_straight_through(x: torch.Tensor, qualities: np.ndarray) -> torch.Tensor:
    """Each picture of ``x`` (8-bit levels) through a real JPEG at its quality
    (Pillow, 4:2:0); the gradient passes straight through, as if it were not there."""
    decoded = [to_rgb_batch(compress(from_rgb_batch(picture[None], "RGB"), int(quality), "4:2:0"))[0]
               for picture, quality in zip(x.detach().cpu(), qualities)]
    return x + (torch.stack(decoded).to(x.device) - x).detach()


def bicubic_downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic (Pillow's filter, as torch implements it) to 1/scale."""
    return F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)


class RescalingRecipe(Recipe):
    """The invertible rescaler (IRN's recipe): the small picture is pulled
    towards a bicubic downscale (L2, weight ``GUIDE_WEIGHT[scale]``, or the
    config's ``guide_weight``), the original is rebuilt from the small
    picture rounded to 8 bits and a fresh z ~ N(0, I) (L1), and z is pulled
    towards N(0, I) (sum of z squared).
    Losses are sums per picture, as in IRN, so their weights compare.
    ``jpeg``: the small picture also goes through a real JPEG at quality
    ``JPEG_QUALITIES`` (straight-through gradient) before the rebuild."""

    GUIDE_WEIGHT = {2: 4.0, 4: 16.0}
    JPEG_QUALITIES = (70, 96)
    jpeg = False

    def __init__(self, config) -> None:
        self.config = config
        self.spec = zoo.get_spec(config.model)
        self.scale = self.spec.scales[0]
        weight = config.recipe.guide_weight
        self.guide_weight = self.GUIDE_WEIGHT[self.scale] if weight is None else weight
        images = load_clean_images(config.data, config.max_side, mode="RGB")
        images = [im for im in images if min(im.size) >= config.patch]
        train_images, val_images = split(images, config.val_fraction)
        self.train_images = len(train_images)
        self.images = [as_floats(network_input(im, self.spec, 1)) for im in train_images]
        self.areas = np.array([t.shape[2] * t.shape[3] for t in self.images], dtype=np.float64)
        self.areas /= self.areas.sum()
        self.val = [as_floats(network_input(im, self.spec, 1)) for im in validation_crops(val_images, 1)]

    def patches_per_epoch(self) -> int:
        p = self.config.patch
        return sum((t.shape[2] // p) * (t.shape[3] // p) for t in self.images)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        p = self.config.patch // self.scale * self.scale
        crops = []
        for index in rng.choice(len(self.images), size=batch, p=self.areas):
            image = self.images[index]
            top, left = int(rng.integers(image.shape[2] - p + 1)), int(rng.integers(image.shape[3] - p + 1))
            crops.append(image[0, :, top : top + p, left : left + p])
        x = torch.rot90(torch.stack(crops), int(rng.integers(4)), (2, 3))
        if rng.integers(2):
            x = x.flip(3)
        qualities = rng.integers(self.JPEG_QUALITIES[0], self.JPEG_QUALITIES[1] + 1, size=batch)
        return x.contiguous(), qualities

    def loss(self, model: torch.nn.Module, batch) -> torch.Tensor:
        x, qualities = batch
        n = x.shape[0]
        small, z = model(x)
        guide = ((small - bicubic_downscale(x, self.scale)) ** 2).sum() / n
        received = round_to_8_bits(small)
        if self.jpeg:
            received = jpeg_straight_through(received, qualities)
        rebuilt = model.inverse(model.receive(received), torch.randn_like(z))
        rebuild = (rebuilt - x).abs().sum() / n
        # IRN's weight for this term is 1 with z the raw high bands; with the
        # network's fixed latent scale, latent_std**2 keeps the same balance.
        gaussian = (z**2).sum() / n * model.latent_std**2
        return self.guide_weight * guide + rebuild + gaussian

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict:
        """PSNR (RGB, 8-bit) of the small picture (as shrink writes it) against
        bicubic, and of the picture rebuilt from it (through a JPEG at quality
        90 for the JPEG-robust recipe) with z = 0 and with one draw of z ~ N(0, I)."""
        model.eval()
        generator = torch.Generator().manual_seed(0)
        as_bytes = lambda t: (t.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round()  # noqa: E731
        small_scores, zero_scores, drawn_scores = [], [], []
        for x in self.val:
            small, z = model(x)
            received = round_to_8_bits(small)
            small_scores.append(psnr(as_bytes(bicubic_downscale(x, self.scale)), as_bytes(received)))
            if self.jpeg:
                received = jpeg_straight_through(received, np.array([90]))
            received = model.receive(received)
            reference = as_bytes(x)
            zero_scores.append(psnr(reference, as_bytes(model.inverse(received, torch.zeros_like(z)))))
            drawn = torch.randn(z.shape, generator=generator)
            drawn_scores.append(psnr(reference, as_bytes(model.inverse(received, drawn))))
        model.train()
        return {"psnr_small": float(np.mean(small_scores)), "psnr_zero_z": float(np.mean(zero_scores)),
                "psnr_output": float(np.mean(drawn_scores)), "images": len(self.val)}

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        s = self.scale
        jpeg = (f", the small picture through a real JPEG at quality {self.JPEG_QUALITIES[0]}-"
                f"{self.JPEG_QUALITIES[1]} (straight-through gradient)" if self.jpeg else "")
        receiver = self.spec.arch_kwargs.get("receiver", 0)
        receives = (f"; before the exact inverse, a receiver ({receiver} channels, "
                    f"{self.spec.arch_kwargs.get('receiver_blocks', 4)} residual blocks) cleans the received small "
                    "picture" if receiver else "")
        return {
            "task": "invertible-rescaling",
            "summary": f"{arch} ({parameters:,} parameters), x{s}: full-size RGB -> small RGB picture + latent z; "
            f"exact inverse{receives}",
            "colour": "RGB",
            "scale": [s],
            "degradation": f"small picture rounded to 8 bits{jpeg}; z drawn afresh from N(0, I)",
            "target": f"small: bicubic downscale (L2, weight {self.guide_weight}); rebuilt: the original (L1); "
            "z: N(0, I) (sum of squares)",
        }


class JpegRobustRescalingRecipe(RescalingRecipe):
    # Through JPEG the network gains by drawing strong patterns into the small
    # picture (with weight 16 it fell to 23 dB from bicubic in 300 steps), so
    # the guide weighs four times as much here: the small picture must still
    # look right.  A model trained this way is then pulled closer still by
    # short runs with ``--guide-weight`` (the shipped irn.x4-jpeg: 1,500 steps
    # at 128, then 1,500 at 256, which moved its small picture from 29.8 to
    # 37.8 dB RGB of bicubic for 0.07 dB of Set5 q90 recovery; docs/rescaling.md).
    GUIDE_WEIGHT = {2: 16.0, 4: 64.0}
    jpeg = True
