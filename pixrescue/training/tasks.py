"""What each kind of model learns: its data, its loss, its validation and
what its card says.  The training loop (``train.py``) is the same for all.

- ``jpeg-seed``: the seed recipe, grayscale, one JPEG quality, MSE.
- ``jpeg-blind``: the default artifact remover, colour, every quality and
  re-sharing history of ``degrade.share_chain``, conditioned on the
  quantization tables, with its quality estimator trained alongside (or
  alone, ``--only estimator``); L1.
- ``embed-autoencoder`` / ``embed-classifier``: the two duplicate-search
  embeddings, from thumbnails of random copies (``augment.random_copy``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .augment import random_copy
from .data import JpegPair, PatchSampler, load_clean_images, split, to_batch
from .degrade import Sample, jpeg_round_trip, share_chain, synthetic_illustration
from .metrics import psnr
from .resolution_tasks import JpegRobustRescalingTask, RescalingTask, SuperResolutionTask


class SeedJpegTask:
    def __init__(self, config) -> None:
        images = load_clean_images(config.data, config.max_side, mode="L")
        train_images, val_images = split(images, config.val_fraction)
        degrade = JpegPair(config.quality, config.target)
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
        q = self.config.quality
        return {
            "task": "jpeg-artifact-removal",
            "summary": f"{arch} ({parameters:,} parameters), grayscale, trained on JPEG quality {q}; "
            "colour images are restored one channel at a time",
            "colour": "grayscale network; colour images go through it one RGB channel at a time",
            "degradation": f"grayscale image saved by Pillow (IJG libjpeg) at JPEG quality {q}",
            "target": {"q100": "the same image saved at JPEG quality 100",
                       "original": "the clean image"}[self.config.target],
        }


# Where the blind model's patches come from: synthetic drawings, grayscale
# pictures (Train400 alone has more images than all the colour folders), and
# colour pictures (the rest).
ILLUSTRATION_SHARE = 0.15
GRAY_SHARE = 0.2


class BlindJpegTask:
    def __init__(self, config) -> None:
        self.config = config
        self.val_samples: list[Sample] = []
        images = load_clean_images(self.config.data, self.config.max_side, mode=None)
        need = self.config.patch + 24
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

    def patches_per_epoch(self) -> int:
        p = self.config.patch
        return sum((im.width // p) * (im.height // p) for im in self.photos)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
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
        x, y, tables, quality = batch
        estimate = F.l1_loss(model.estimate_quality(x), quality)
        if self.config.only == "estimator":
            return estimate
        return F.l1_loss(model(x, tables), y) + 0.1 * estimate

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
        return {"psnr_input": float(np.mean(raw)), "psnr_output": float(np.mean(restored)),
                "quality_estimate_error": float(np.mean(errors)), "images": len(raw)}

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


class EmbeddingTask:
    """Shared by the two embeddings: training pictures as 64x64 grayscale
    thumbnails of random copies (``augment.random_copy``); validation finds,
    for copies of held-out pictures, their original among the originals."""

    kind = ""

    def __init__(self, config) -> None:
        from ..collection.fingerprints import thumbnail

        images = load_clean_images(config.data, 256, mode="RGB")
        train_images, val_images = split(images, config.val_fraction)
        self.config = config
        self.thumbnail = thumbnail
        self.images = train_images
        self.train_images = len(train_images)
        rng = np.random.default_rng(99)
        self.val_images = val_images
        self.val_originals = torch.stack([thumbnail(im) for im in val_images])
        self.val_copies = [(i, thumbnail(random_copy(im, rng))) for i, im in enumerate(val_images) for _ in range(4)]

    def patches_per_epoch(self) -> int:
        return self.train_images

    @torch.no_grad()
    def calibrate(self, model: torch.nn.Module) -> dict:
        """How far apart held-out pictures stay (the network has learned to push
        the training pictures apart, so their distances would flatter it): each
        held-out picture and 8 random copies of it; the smallest distance
        between a picture (or copy) and a copy of another one, and the share of
        copies within that distance of their original.  For the record: the
        duplicate threshold itself is chosen in ``similarity.py``."""
        model.eval()
        rng = np.random.default_rng(7)
        items = [(i, self.val_images[i]) for i in range(len(self.val_images))]
        items += [(i, random_copy(im, rng)) for i, im in enumerate(self.val_images) for _ in range(8)]
        source = torch.tensor([i for i, _ in items])
        codes = model.embed(torch.stack([self.thumbnail(im) for _, im in items]))
        distance = 1 - codes @ codes.T
        same = source[:, None] == source[None, :]
        threshold = float(distance[~same].min())
        originals = torch.arange(len(self.val_images))
        to_original = distance[len(originals):, :len(originals)][torch.arange(len(items) - len(originals)),
                                                                  source[len(originals):]]
        model.train()
        return {"held_out_separation": {
            "pictures": f"{len(self.val_images)} held-out pictures, 8 copies each",
            "nearest_other_picture": round(threshold, 4),
            "copies_nearer_than_that": round(float((to_original <= threshold).float().mean()), 4)}}

    def validate(self, model: torch.nn.Module) -> dict:
        model.eval()
        with torch.no_grad():
            base = model.embed(self.val_originals)
            queries = model.embed(torch.stack([t for _, t in self.val_copies]))
            truth = torch.tensor([i for i, _ in self.val_copies])
            found = (queries @ base.T).argmax(dim=1)
            result = {"recall_at_1": float((found == truth).float().mean()), "images": len(self.val_copies)}
            if self.kind == "autoencoder":
                out = model(self.val_originals)
                result["reconstruction_psnr"] = float(-10 * torch.log10(F.mse_loss(out, self.val_originals)))
        model.train()
        return result


class AutoencoderTask(EmbeddingTask):
    kind = "autoencoder"

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """Half plain thumbnails, half copies: the target is always the original,
        so the code learns to ignore what a re-share changes (no labels needed)."""
        inputs, targets = [], []
        for index in rng.integers(len(self.images), size=batch):
            image = self.images[index]
            inputs.append(self.thumbnail(random_copy(image, rng) if rng.random() < 0.5 else image))
            targets.append(self.thumbnail(image))
        return torch.stack(inputs), torch.stack(targets)

    def loss(self, model, batch):
        x, y = batch
        return F.mse_loss(model(x), y)

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        return {
            "task": "image-embedding",
            "summary": f"{arch} ({parameters:,} parameters): 64x64 grayscale thumbnail -> 128-d code -> thumbnail",
            "colour": "grayscale thumbnail of the image composited on white",
            "degradation": "input: the thumbnail or that of a random copy (augment.random_copy), half and half",
            "target": "the thumbnail of the original (no labels)",
        }


class ClassifierTask(EmbeddingTask):
    kind = "classifier"

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        labels = rng.integers(len(self.images), size=batch)
        x = torch.stack([self.thumbnail(random_copy(self.images[i], rng)) for i in labels])
        return x, torch.from_numpy(labels)

    def loss(self, model, batch):
        x, labels = batch
        return F.cross_entropy(model(x), labels)

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        return {
            "task": "image-embedding",
            "summary": f"{arch} ({parameters:,} parameters): 64x64 grayscale thumbnail -> unit 128-d embedding, "
            "trained to tell the training pictures apart through random copies",
            "colour": "grayscale thumbnail of the image composited on white",
            "degradation": "random copies of each training picture (augment.random_copy)",
            "target": "the index of the picture the copy came from (cosine classifier, scale 16)",
        }


def collate(samples: list[Sample]) -> tuple[torch.Tensor, ...]:
    x = to_batch([s.degraded for s in samples])
    y = to_batch([s.clean for s in samples])
    tables = torch.from_numpy(np.stack([s.tables for s in samples]))
    quality = torch.tensor([s.quality / 100.0 for s in samples], dtype=torch.float32)
    return x, y, tables, quality


TASKS = {"jpeg-seed": SeedJpegTask, "jpeg-blind": BlindJpegTask, "embed-autoencoder": AutoencoderTask,
         "embed-classifier": ClassifierTask, "super-resolution": SuperResolutionTask,
         "rescaling": RescalingTask, "rescaling-jpeg": JpegRobustRescalingTask}
