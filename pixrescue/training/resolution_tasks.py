"""What the upscalers learn (``super-resolution``).

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

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from .. import zoo
from ..imaging.jpeg import compress
from ..imaging.tensors import as_floats, from_rgb_batch, to_rgb_batch
from ..tasks.upscale import network_input
from .data import load_clean_images, split
from .metrics import luma, psnr

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


class SuperResolutionTask:
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


def round_to_8_bits(x: torch.Tensor) -> torch.Tensor:
    """Clamped and rounded to 8-bit levels, with a straight-through gradient."""
    x = x.clamp(0, 1)
    return x + ((x * 255).round() / 255 - x).detach()


def jpeg_straight_through(x: torch.Tensor, qualities: np.ndarray) -> torch.Tensor:
    """Each picture of ``x`` (8-bit levels) through a real JPEG at its quality
    (Pillow, 4:2:0); the gradient passes straight through, as if it were not there."""
    decoded = [to_rgb_batch(compress(from_rgb_batch(picture[None], "RGB"), int(quality), "4:2:0"))[0]
               for picture, quality in zip(x.detach().cpu(), qualities)]
    return x + (torch.stack(decoded).to(x.device) - x).detach()


def bicubic_downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic (Pillow's filter, as torch implements it) to 1/scale."""
    return F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)


class RescalingTask:
    """The invertible rescaler (IRN's recipe): the small picture is pulled
    towards a bicubic downscale (L2, weight ``GUIDE_WEIGHT[scale]``, or the
    configuration's ``guide_weight``), the original is rebuilt from the small
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
        self.guide_weight = self.GUIDE_WEIGHT[self.scale] if config.guide_weight is None else config.guide_weight
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
        90 for the JPEG-robust task) with z = 0 and with one draw of z ~ N(0, I)."""
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


class JpegRobustRescalingTask(RescalingTask):
    # Through JPEG the network gains by drawing strong patterns into the small
    # picture (with weight 16 it fell to 23 dB from bicubic in 300 steps), so
    # the guide weighs four times as much here: the small picture must still
    # look right.  A model trained this way is then pulled closer still by
    # short runs with ``--guide-weight`` (the shipped irn.x4-jpeg: 1,500 steps
    # at 128, then 1,500 at 256, which moved its small picture from 29.8 to
    # 37.8 dB RGB of bicubic for 0.07 dB of Set5 q90 recovery; docs/rescaling.md).
    GUIDE_WEIGHT = {2: 16.0, 4: 64.0}
    jpeg = True
