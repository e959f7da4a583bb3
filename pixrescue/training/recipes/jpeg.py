"""The JPEG artifact removers' recipes.

- ``jpeg-seed``: the seed recipe, grayscale, one JPEG quality, MSE.
- ``jpeg-blind``: the default artifact remover, colour, every quality and
  re-sharing history of ``degrade.share_chain``, conditioned on the
  quantization tables, with its quality estimator trained alongside (or
  alone, ``--only estimator``); L1.  ``--only reshare`` trains its re-share
  detector alone (``degrade.reshare_case``, cross-entropy) and writes the
  probability above which ``fix`` believes it into the card (``reshare``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..data import JpegPair, PatchSampler, load_clean_images, split, to_batch
from ..degrade import (HARSHER_BY, ReshareCase, Sample, jpeg_round_trip, reshare_case, share_chain,
                       synthetic_illustration)
from ..metrics import psnr
from ..recipe import Recipe


@dataclass
class SeedJpegConfig:
    quality: int = 10  # JPEG quality of the inputs
    target: str = "q100"  # "q100": the image saved at JPEG quality 100; "original": the clean image


class SeedJpegRecipe(Recipe):
    def __init__(self, config) -> None:
        images = load_clean_images(config.data, config.max_side, mode="L")
        train_images, val_images = split(images, config.val_fraction)
        degrade = JpegPair(config.recipe.quality, config.recipe.target)
        self.config = config
        self.sampler = PatchSampler([degrade(im) for im in train_images], config.patch)
        self.val_pairs = [(degrade(im)[0], np.asarray(im)) for im in val_images[:16]]
        self.train_images = len(self.sampler.pairs)

    def patches_per_epoch(self) -> int:
        return self.sampler.patches_per_epoch()

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        return self.sampler.sample(batch, rng)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(model(x), y)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict:
        """Mean PSNR against the clean image, of the degraded input and of the output."""
        model.eval()
        raw, restored = [], []
        for degraded, clean in self.val_pairs:
            out = model(to_batch([degraded])).clamp(0, 1)
            out = (out[0, 0].numpy() * 255.0).round().astype(np.uint8)
            raw.append(psnr(clean, degraded))
            restored.append(psnr(clean, out))
        model.train()
        return {"psnr_input": float(np.mean(raw)), "psnr_output": float(np.mean(restored)), "images": len(raw)}

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        q = self.config.recipe.quality
        return {
            "task": "jpeg-artifact-removal",
            "summary": f"{arch} ({parameters:,} parameters), grayscale, trained on JPEG quality {q}; "
            "colour images are restored one channel at a time",
            "colour": "grayscale network; colour images go through it one RGB channel at a time",
            "degradation": f"grayscale image saved by Pillow (IJG libjpeg) at JPEG quality {q}",
            "target": {"q100": "the same image saved at JPEG quality 100",
                       "original": "the clean image"}[self.config.recipe.target],
        }


# Where the blind model's patches come from: synthetic drawings, grayscale
# pictures (Train400 alone has more images than all the colour folders), and
# colour pictures (the rest).
ILLUSTRATION_SHARE = 0.15
GRAY_SHARE = 0.2
# The blind model's quality estimator and re-share detector: their tensors' names start with these.
ESTIMATOR = "estimator."
RESHARE = "reshare."
# The re-share detector sees each picture as fix does, through crops of the estimator's size.
RESHARE_CROPS = 4
RESHARE_VAL_CASES = 48  # per held-out picture
# fix believes the detector above the probability that gave at most this share of false
# detections on the held-out pictures.
RESHARE_FALSE_DETECTIONS = 0.02


@dataclass
class BlindJpegConfig:
    only: str = "all"  # "estimator" / "reshare": train the quality estimator / re-share detector alone


class BlindJpegRecipe(Recipe):
    def __init__(self, config) -> None:
        self.config = config
        self.val_samples: list[Sample] = []
        images = load_clean_images(self.config.data, self.config.max_side, mode=None)
        self.reshare_only = self.config.recipe.only == "reshare"
        need = 2 * self.config.patch + 16 if self.reshare_only else self.config.patch + 24
        train_images, val_images = split([im for im in images if min(im.size) >= need], self.config.val_fraction)
        self.photos = train_images
        self.train_images = len(train_images)
        gray = np.array([im.mode == "L" for im in train_images])
        weights = np.where(gray, GRAY_SHARE / max(gray.sum(), 1), (1 - GRAY_SHARE) / max((~gray).sum(), 1))
        self.weights = weights / weights.sum()
        rng = np.random.default_rng(1234)  # the same validation set every time
        for i, image in enumerate(val_images[:24]):
            crop = image.crop((0, 0, image.width // 16 * 16, image.height // 16 * 16))
            quality = (10, 30, 50)[i % 3]
            degraded, tables = jpeg_round_trip(crop, quality)
            self.val_samples.append(Sample(np.asarray(degraded.convert("RGB")), np.asarray(crop.convert("RGB")),
                                           tables, float(quality)))
        for i in range(6):
            art = synthetic_illustration(256, rng)
            degraded, tables = jpeg_round_trip(art, (10, 30, 50)[i % 3])
            self.val_samples.append(Sample(np.asarray(degraded), np.asarray(art), tables, float((10, 30, 50)[i % 3])))
        self.val_cases: list[ReshareCase] = []
        if self.reshare_only:
            cases = np.random.default_rng(4321)
            self.val_cases = [reshare_case(image, self.config.patch, RESHARE_CROPS, cases)
                              for image in val_images for _ in range(RESHARE_VAL_CASES)]

    def patches_per_epoch(self) -> int:
        p = self.config.patch
        return sum((im.width // p) * (im.height // p) for im in self.photos)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        if self.reshare_only:
            return collate_cases([reshare_case(self.photos[int(rng.choice(len(self.photos), p=self.weights))],
                                               self.config.patch, RESHARE_CROPS, rng) for _ in range(batch)])
        samples = []
        for _ in range(batch):
            if rng.random() < ILLUSTRATION_SHARE:
                source = synthetic_illustration(self.config.patch * 2, rng)
            else:
                source = self.photos[int(rng.choice(len(self.photos), p=self.weights))]
            sample = share_chain(source, self.config.patch, rng)
            turns, flip = int(rng.integers(4)), int(rng.integers(2))
            if turns or flip:  # rotate after compression: the grid stays on multiples of 8
                x, y = np.rot90(sample.degraded, turns), np.rot90(sample.clean, turns)
                if flip:
                    x, y = x[:, ::-1], y[:, ::-1]
                sample = Sample(x, y, sample.tables, sample.quality)
            samples.append(sample)
        return collate(samples)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.reshare_only:
            crops, last, harsher = batch
            return F.binary_cross_entropy_with_logits(model.detect_reshare(crops, last)[1].float(), harsher)
        x, y, tables, quality = batch
        estimate = F.l1_loss(model.estimate_quality(x), quality)
        if self.config.recipe.only == "estimator":
            return estimate
        return F.l1_loss(model(x, tables), y) + 0.1 * estimate

    def _alone(self) -> str | None:
        """The prefix of the part trained alone (``only``), or None for the whole network."""
        return {"estimator": ESTIMATOR, "reshare": RESHARE}.get(self.config.recipe.only)

    def trainable(self, model: torch.nn.Module) -> Iterable[torch.nn.Parameter]:
        """All the parameters but the re-share detector's (it is fitted to a finished
        estimator), or with ``only`` the named part's alone."""
        alone = self._alone()
        return [p for name, p in model.named_parameters()
                if (name.startswith(alone) if alone else not name.startswith(RESHARE))]

    def starts_fresh(self, name: str) -> bool:
        """With ``only`` the named part starts afresh; the rest comes from ``--init``."""
        alone = self._alone()
        return alone is not None and name.startswith(alone)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module) -> dict:
        model.eval()
        raw, restored, errors = [], [], []
        for sample in self.val_samples:
            x, _, tables, quality = collate([sample])
            out = model(x, tables).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            out = (out * 255.0).round().astype(np.uint8)
            raw.append(psnr(sample.clean, sample.degraded))
            restored.append(psnr(sample.clean, out))
            errors.append(abs(float(model.estimate_quality(x)[0]) - float(quality[0])) * 100)
        model.train()
        scores = {"psnr_input": float(np.mean(raw)), "psnr_output": float(np.mean(restored)),
                  "quality_estimate_error": float(np.mean(errors)), "images": len(raw)}
        if self.val_cases:
            scores.update({f"reshare_{k}": v for k, v in self.reshare_scores(model).items()})
        return scores

    @torch.no_grad()
    def reshare_scores(self, model: torch.nn.Module) -> dict[str, Any]:
        """The re-share detector on the held-out cases: the probability above which at most
        RESHARE_FALSE_DETECTIONS of the cases not harsher before are detected, and at it the
        share of false detections and of detections."""
        was = model.training
        model.eval()
        crops, last, harsher = collate_cases(self.val_cases)
        probability = torch.cat([torch.sigmoid(model.detect_reshare(crops[i : i + 64], last[i : i + 64])[1])
                                 for i in range(0, len(last), 64)]).numpy()
        model.train(was)
        truth = harsher.numpy() > 0.5
        negatives, positives = probability[~truth], probability[truth]
        threshold = (float(np.quantile(negatives, 1 - RESHARE_FALSE_DETECTIONS, method="higher"))
                     if len(negatives) else 0.5)
        return {"threshold": threshold,
                "false_detections": float(np.mean(negatives > threshold)) if len(negatives) else 0.0,
                "detections": float(np.mean(positives > threshold)) if len(positives) else 0.0, "cases": len(truth)}

    def calibrate(self, model: torch.nn.Module) -> dict[str, Any]:
        """``--only reshare``: the card's ``reshare`` entry, which ``fix`` reads."""
        if not self.val_cases:
            return {}
        return {"reshare": {**self.reshare_scores(model), "harsher_by": HARSHER_BY,
                            "meaning": "fix believes the re-share detector above this probability (threshold): "
                                       f"at most {RESHARE_FALSE_DETECTIONS:.0%} false detections on the held-out "
                                       "cases of degrade.reshare_case"}}

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        return {
            "task": "jpeg-artifact-removal",
            "summary": f"{arch} ({parameters:,} parameters), blind: colour or grayscale, any JPEG quality, "
            "conditioned on the file's quantization tables (estimated from the pixels for other formats)",
            "colour": "RGB network; a grayscale image is given as three equal channels and averaged back",
            "degradation": "share_chain (pixrescue/training/degrade.py): 1-4 JPEG generations at quality 5-95, "
            "4:2:0 or 4:4:4, grid shifts and downscaling between them, some resized after the last JPEG, "
            "4% never compressed; 15% of patches are synthetic flat-colour drawings with text; the network is told, "
            "and the estimator learns, the harshest compression of each history (as fix tells it)",
            "target": "the clean image through the same crops and resizes, without compression",
        }


def collate_cases(cases: list[ReshareCase]) -> tuple[torch.Tensor, ...]:
    """(crops (N, K, 3, S, S) in [0, 1], last quality / 100 (N,), harsher before (N,) as 0 or 1)."""
    crops = torch.stack([to_batch(list(case.crops)) for case in cases])
    last = torch.tensor([case.last / 100.0 for case in cases], dtype=torch.float32)
    harsher = torch.tensor([float(case.harsher_before) for case in cases], dtype=torch.float32)
    return crops, last, harsher


def collate(samples: list[Sample]) -> tuple[torch.Tensor, ...]:
    x = to_batch([s.degraded for s in samples])
    y = to_batch([s.clean for s in samples])
    tables = torch.from_numpy(np.stack([s.tables for s in samples]))
    quality = torch.tensor([s.quality / 100.0 for s in samples], dtype=torch.float32)
    return x, y, tables, quality
