"""The written interface of a training recipe: what one kind of model learns
(its samples, its loss, its validation, what its card says).  The loop
(``train.py``) knows a recipe only through these methods; the recipes live in
``recipes/``, one file per family, each with its own config dataclass.

A recipe is built from a ``TrainConfig`` (``config.recipe`` holds its own
options).  Recipes subclass ``Recipe`` to take the defaults of ``trainable``,
``starts_fresh`` and ``calibrate``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import torch


class Recipe(Protocol):
    train_images: int  # how many pictures it trains on (for the log and the card)

    def patches_per_epoch(self) -> int:
        """Patches in an epoch: as many as the training pictures hold without overlap."""
        ...

    def sample(self, batch: int, rng: np.random.Generator) -> Any:
        """One batch drawn from ``rng`` alone, on the CPU: tensors, alone or in tuples, lists or dicts."""
        ...

    def loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        """The loss of ``model`` on a batch of ``sample`` (moved to the training device)."""
        ...

    def validate(self, model: torch.nn.Module) -> dict[str, Any]:
        """Scores on the held-out pictures, on the CPU (``psnr_output`` where there is a PSNR)."""
        ...

    def card(self, arch: str, parameters: int) -> dict[str, Any]:
        """What the card says: task, summary, colour, degradation, target (and scale)."""
        ...

    def trainable(self, model: torch.nn.Module) -> Iterable[torch.nn.Parameter]:
        """The parameters the optimizer moves, in the model's order; the rest stays frozen."""
        return [p for p in model.parameters() if p.requires_grad]

    def starts_fresh(self, name: str) -> bool:
        """Whether the tensor ``name`` keeps its new value when ``--init`` loads weights."""
        return False

    def calibrate(self, model: torch.nn.Module) -> dict[str, Any]:
        """Entries added to the card once trained (measured on the held-out pictures)."""
        return {}
