"""The duplicate-search embeddings' recipes (``embed-autoencoder``,
``embed-classifier``): thumbnails of random copies (``augment.random_copy``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..augment import random_copy
from ..data import load_clean_images, split
from ..recipe import Recipe


@dataclass
class EmbeddingConfig:
    """The embeddings have no options of their own (thumbnails are 64x64, from pictures of 256 px at most)."""


class EmbeddingRecipe(Recipe):
    """Shared by the two embeddings: training pictures as 64x64 grayscale
    thumbnails of random copies (``augment.random_copy``); validation finds,
    for copies of held-out pictures, their original among the originals."""

    kind = ""

    def __init__(self, config) -> None:
        from ...collection.fingerprints import thumbnail

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


class AutoencoderRecipe(EmbeddingRecipe):
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


class ClassifierRecipe(EmbeddingRecipe):
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
