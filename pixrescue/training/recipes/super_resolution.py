"""The upscalers' recipe (``super-resolution``).

Pairs are made the way the benchmarks make them (and the literature: the
full-size image cropped to a multiple of 12, the small one by Pillow's
bicubic downscale, antialiased as MATLAB's ``imresize``), once per training
image and scale, then cut into aligned random patches with flips and
quarter turns.  Multi-scale models draw one scale per batch, or one per
patch when the network works on the enlarged picture (see ``sample``).  The network's
input comes from ``tasks.upscale.network_input``, the function inference
uses, so training and use cannot disagree about colour or enlargement.
Loss: L1 (as EDSR); DRCN adds its recursive supervision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ... import zoo
from ...imaging.tensors import as_floats
from ...tasks.upscale import network_input
from ..data import load_clean_images, split
from ..metrics import luma, psnr
from ..recipe import Recipe

# Every scale divides the full-size crop.
ALIGN = 12
# DRCN: weight of the recursions' own outputs in the loss, against the average.
RECURSIVE_WEIGHT = 0.3


def validation_crops(images: list[Image.Image], align: int, side: int = 192, count: int = 12) -> list[Image.Image]:
    """The centre ``side`` x ``side`` of the first ``count`` held-out pictures that
    are large enough, its corner on a multiple of ``align``."""
    crops = []
    for image in images[:count]:
        if min(image.size) >= side:
            left, top = (image.width - side) // 2 // align * align, (image.height - side) // 2 // align * align
            crops.append(image.crop((left, top, left + side, top + side)))
    return crops


def studio_luma(batch: torch.Tensor, border: int) -> np.ndarray:
    """The first picture of a network batch (Y in full range, or RGB) as
    8-bit studio-range Y, ``border`` pixels cropped from each side."""
    planes = (batch[0].clamp(0, 1) * 255).round().numpy()
    if planes.shape[0] == 3:
        y = luma(planes.transpose(1, 2, 0))
    else:  # Pillow's YCbCr is full range (JPEG's): map it to BT.601's 16-235
        y = 16.0 + planes[0] * 219.0 / 255.0
    return y[border:-border, border:-border] if border else y


def shrink(image: Image.Image, scale: int) -> Image.Image:
    return image.resize((image.width // scale, image.height // scale), Image.BICUBIC)


@dataclass
class SuperResolutionConfig:
    """The upscalers have no options of their own (scales and colour come from the model's spec)."""


class SuperResolutionRecipe(Recipe):
    def __init__(self, config) -> None:
        self.config = config
        self.spec = zoo.get_spec(config.model)
        images = load_clean_images(config.data, config.max_side, mode="RGB")
        images = [im.crop((0, 0, im.width // ALIGN * ALIGN, im.height // ALIGN * ALIGN)) for im in images
                  if min(im.size) >= config.patch]
        train_images, val_images = split(images, config.val_fraction)
        self.train_images = len(train_images)
        # Per scale: (input, target) tensors of whole images, (1, C, h, w) each.
        self.pairs = {s: [self._pair(im, s) for im in train_images] for s in self.spec.scales}
        self.areas = np.array([im.width * im.height for im in train_images], dtype=np.float64)
        self.areas /= self.areas.sum()
        crops = validation_crops(val_images, ALIGN)
        self.val = {s: [self._pair(im, s) for im in crops] for s in self.spec.scales}

    def _pair(self, image: Image.Image, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (as_floats(network_input(shrink(image, scale), self.spec, scale)),
                as_floats(network_input(image, self.spec, 1)))

    def patches_per_epoch(self) -> int:
        p = self.config.patch
        first = self.pairs[self.spec.scales[0]]
        return sum((t.shape[2] // p) * (t.shape[3] // p) for _, t in first)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, int | None]:
        """A batch of aligned patches and its scale.  A network that works on
        the enlarged picture (VDSR) gets a scale per patch (the batch's scale
        is then None): with one scale per batch its ×2 output see-sawed by
        0.6 dB from one validation to the next, pulled by the last batches'
        scale.  A network that enlarges inside gets one scale per batch (its
        input size depends on it)."""
        mixed = self.spec.enlarged_input and len(self.spec.scales) > 1
        scales = rng.choice(self.spec.scales, size=batch) if mixed else [rng.choice(self.spec.scales)] * batch
        scale = None if mixed else int(scales[0])
        # A patch side that every scale of the batch divides.
        hr = self.config.patch // ALIGN * ALIGN if mixed else self.config.patch // scale * scale
        xs, ys = [], []
        for index, scale_ in zip(rng.choice(len(self.areas), size=batch, p=self.areas), scales):
            scale_ = int(scale_)
            lr = hr if self.spec.enlarged_input else hr // scale_
            x, y = self.pairs[scale_][index]
            top = int(rng.integers((y.shape[2] - hr) // scale_ + 1)) * scale_
            left = int(rng.integers((y.shape[3] - hr) // scale_ + 1)) * scale_
            # The input's corner: the same pixel, counted in input pixels.
            t, v = (top, left) if self.spec.enlarged_input else (top // scale_, left // scale_)
            xs.append(x[0, :, t : t + lr, v : v + lr])
            ys.append(y[0, :, top : top + hr, left : left + hr])
        x, y = torch.stack(xs), torch.stack(ys)
        turns, flip = int(rng.integers(4)), int(rng.integers(2))
        x, y = torch.rot90(x, turns, (2, 3)), torch.rot90(y, turns, (2, 3))
        if flip:
            x, y = x.flip(3), y.flip(3)
        return x.contiguous(), y.contiguous(), scale

    def loss(self, model: torch.nn.Module, batch) -> torch.Tensor:
        x, y, scale = batch
        if hasattr(model, "outputs"):  # DRCN: every recursion is supervised too
            each, out = model.outputs(x)
            recursive = sum(F.l1_loss(o, y) for o in each) / len(each)
            return RECURSIVE_WEIGHT * recursive + (1 - RECURSIVE_WEIGHT) * F.l1_loss(out, y)
        return F.l1_loss(model(x, scale), y)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict:
        """Mean Y-channel PSNR (studio range, border of ``scale`` cropped: the
        benchmark's measure) of bicubic and of the network."""
        model.eval()
        result: dict[str, Any] = {}
        for scale, pairs in self.val.items():
            plain, network = [], []
            for x, y in pairs:
                if self.spec.enlarged_input:
                    base = x
                else:
                    base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
                target, out, base = (studio_luma(t, scale) for t in (y, model(x, scale), base))
                network.append(psnr(target, out))
                plain.append(psnr(target, base))
            result[f"x{scale}_psnr_bicubic"] = float(np.mean(plain))
            result[f"x{scale}_psnr_output"] = float(np.mean(network))
        result["psnr_output"] = float(np.mean([v for k, v in result.items() if k.endswith("_output")]))
        result["images"] = len(next(iter(self.val.values())))
        model.train()
        return result

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        spec = self.spec
        sees = ("the Y channel of YCbCr (Cb and Cr enlarged by bicubic)" if spec.colour == "y"
                else "RGB (a grayscale picture as three equal channels)")
        where = "the bicubic-enlarged picture" if spec.enlarged_input else "the small picture, enlarging inside"
        scales = ", ".join(f"x{s}" for s in spec.scales)
        return {
            "task": "super-resolution",
            "summary": f"{arch} ({parameters:,} parameters), {scales}; sees {sees}, working on {where}",
            "colour": sees,
            "scale": list(spec.scales),
            "degradation": "bicubic downscale (Pillow, antialiased) of the clean image by the scale",
            "target": "the clean image",
        }
