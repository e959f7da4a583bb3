"""Model registry: name -> architecture, weights file and model card.

A model is named ``arch.tag`` (for example ``resnet18.jpeg-q10-gray``).  Its
weights ship inside the package as ``weights/<name>.safetensors`` with a JSON
card beside them.  The registry is a plain dictionary filled here, by explicit
imports: nothing scans folders at import time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from torch import nn

from .nets.conv_autoencoder import ConvAutoencoder
from .nets.embedding_cnn import EmbeddingCNN
from .nets.qgunet import QGUNet
from .nets.resnet18 import ResNet18
from .nets.srcnn import SRCNN

WEIGHTS_DIR = Path(__file__).parent / "weights"

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "srcnn": SRCNN,
    "resnet18": ResNet18,
    "qgunet": QGUNet,
    "autoencoder": ConvAutoencoder,
    "embedcnn": EmbeddingCNN,
}


@dataclass(frozen=True)
class ModelSpec:
    """What the code knows about a model before its card is read."""

    name: str
    task: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    # How far (in pixels) one output pixel sees; tiling overlaps by at least this.
    receptive_radius: int = 8
    # Side of the kept centre of each inference tile.
    tile: int = 384
    # Which training task (pixrescue/training/tasks.py) teaches it.
    trainer: str = "jpeg-seed"

    @property
    def arch(self) -> str:
        return self.name.split(".", 1)[0]

    def build(self) -> nn.Module:
        return ARCHITECTURES[self.arch](**self.arch_kwargs)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("srcnn.jpeg-q10-gray", task="jpeg", receptive_radius=6),
        ModelSpec("resnet18.jpeg-q10-gray", task="jpeg", receptive_radius=18),
        # Theoretical radius about 80 px; 96 keeps tiles on the 16-pixel JPEG grid.
        ModelSpec("qgunet.jpeg-blind", task="jpeg", receptive_radius=96, tile=1024, trainer="jpeg-blind",
                  arch_kwargs={"c1": 32, "c2": 64, "blocks1": 1, "blocks2": 8}),
        ModelSpec("autoencoder.thumb64", task="embedding", trainer="embed-autoencoder"),
        ModelSpec("embedcnn.thumb64", task="embedding", trainer="embed-classifier"),
    )
}

DEFAULT_MODEL = {"jpeg": "qgunet.jpeg-blind"}


class UnknownModelError(ValueError):
    pass


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise UnknownModelError(f"unknown model {name!r} (known: {known})") from None


def weights_path(name: str, directory: Path = WEIGHTS_DIR) -> Path:
    return directory / f"{name}.safetensors"


def card_path(name: str, directory: Path = WEIGHTS_DIR) -> Path:
    return directory / f"{name}.json"


def load_card(name: str) -> dict[str, Any]:
    path = card_path(get_spec(name).name)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


@lru_cache(maxsize=8)
def load_model(name: str) -> nn.Module:
    """The named network with its shipped weights, in eval mode (cached)."""
    from safetensors.torch import load_file

    spec = get_spec(name)
    path = weights_path(name)
    if not path.exists():
        raise FileNotFoundError(f"model {name!r} has no weights file at {path}")
    model = spec.build()
    model.load_state_dict(load_file(str(path)))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
