"""Model registry: name -> architecture, weights file and model card.

A model is named ``arch.tag`` (for example ``resnet18.jpeg-q10-gray``).  Its
weights ship inside the package as ``weights/<name>.safetensors`` with a JSON
card beside them.  The registry is a plain dictionary filled here, by explicit
entries (network classes are imported by name when a network is built):
nothing scans folders at import time.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import cards
from .cards import WEIGHTS_DIR

if TYPE_CHECKING:
    from torch import nn

# Architecture name -> "module:Class" in pixrescue/nets/.  The class is imported when a network is
# built, so that listing models or cards does not import torch (a second at start-up).
ARCHITECTURES: dict[str, str] = {
    "srcnn": "srcnn:SRCNN",
    "resnet18": "resnet18:ResNet18",
    "qgunet": "qgunet:QGUNet",
    "autoencoder": "conv_autoencoder:ConvAutoencoder",
    "embedcnn": "embedding_cnn:EmbeddingCNN",
    "fsrcnn": "fsrcnn:FSRCNN",
    "drcn": "drcn:DRCN",
    "vdsr": "vdsr:VDSR",
    "edsr": "edsr:EDSR",
    "irn": "irn:IRN",
    "qscore": "quality_score:QualityScoreNet",
    "deblurunet": "deblur_unet:DeblurUNet",
    "sideinfo": "side_info:SideInfoNet",
}

# Upscaling methods that need no network: Pillow's filters.
INTERPOLATIONS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
}


def architecture_class(arch: str) -> type[nn.Module]:
    """The network class of architecture ``arch`` (imports its module)."""
    module, name = ARCHITECTURES[arch].split(":")
    return getattr(importlib.import_module(f"{__package__}.nets.{module}"), name)


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
    # The name of the training recipe that teaches it (pixrescue/training/recipes/);
    # nothing outside training decides anything from it.
    trainer: str = "jpeg-seed"
    # Artifact removers: whether the network is told how the picture was
    # compressed (quantization tables) and carries a quality estimator for
    # pictures that do not say (the blind model), rather than being trained
    # for one quality.
    conditioned: bool = False
    # What the network sees: "rgb"; "gray" (one channel: a colour picture goes
    # through one channel at a time); or "y", the Y channel of YCbCr (chroma
    # enlarged by bicubic: the classic upscaling protocol).
    colour: str = "rgb"
    # Upscalers and rescalers: the scales the network knows, and whether its
    # input is the bicubic-enlarged picture (SRCNN, VDSR, DRCN) rather than the
    # small one.  For upscalers that see the small picture, ``receptive_radius``
    # counts small pixels.
    scales: tuple[int, ...] = ()
    enlarged_input: bool = False
    # Side-information models: the blind artifact remover whose output they refine.
    base: str | None = None

    @property
    def arch(self) -> str:
        return self.name.split(".", 1)[0]

    def build(self) -> nn.Module:
        return architecture_class(self.arch)(**self.arch_kwargs)

    def architecture(self) -> dict[str, Any]:
        """The card's ``architecture`` block: the network's class and its constructor arguments."""
        return {"class": ARCHITECTURES[self.arch].split(":")[1], "arguments": json.loads(json.dumps(self.arch_kwargs))}


# The invertible rescalers' fixed latent scale (see nets/irn.py).
LATENT_STD = 0.03

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("srcnn.jpeg-q10-gray", task="jpeg", receptive_radius=6, colour="gray"),
        ModelSpec("resnet18.jpeg-q10-gray", task="jpeg", receptive_radius=18, colour="gray"),
        # Theoretical radius about 80 px; 96 keeps tiles on the 16-pixel JPEG grid.
        ModelSpec("qgunet.jpeg-blind", task="jpeg", receptive_radius=96, tile=1024, trainer="jpeg-blind",
                  conditioned=True, arch_kwargs={"c1": 32, "c2": 64, "blocks1": 1, "blocks2": 8}),
        ModelSpec("autoencoder.thumb64", task="embedding", trainer="embed-autoencoder"),
        ModelSpec("embedcnn.thumb64", task="embedding", trainer="embed-classifier"),
        ModelSpec("srcnn.sr-x2", task="upscale", trainer="super-resolution", receptive_radius=6, tile=512,
                  scales=(2,), colour="y", enlarged_input=True, arch_kwargs={"identity_init": True}),
        ModelSpec("fsrcnn.sr-x2", task="upscale", trainer="super-resolution", receptive_radius=8, tile=256,
                  scales=(2,), colour="y", arch_kwargs={"scale": 2, "bilinear_init": True}),
        ModelSpec("drcn.sr-x2", task="upscale", trainer="super-resolution", receptive_radius=12, tile=512,
                  scales=(2,), colour="y", enlarged_input=True),
        ModelSpec("vdsr.sr-x234", task="upscale", trainer="super-resolution", receptive_radius=20, tile=512,
                  scales=(2, 3, 4), colour="y", enlarged_input=True),
        ModelSpec("edsr.sr-x234", task="upscale", trainer="super-resolution", receptive_radius=24, tile=256,
                  scales=(2, 3, 4), arch_kwargs={"channels": 40, "blocks": 10}),
        ModelSpec("irn.x2", task="rescale", trainer="rescaling", scales=(2,),
                  arch_kwargs={"scale": 2, "latent_std": LATENT_STD}),
        ModelSpec("irn.x4", task="rescale", trainer="rescaling", scales=(4,),
                  arch_kwargs={"scale": 4, "latent_std": LATENT_STD}),
        ModelSpec("irn.x4-jpeg", task="rescale", trainer="rescaling-jpeg", scales=(4,),
                  arch_kwargs={"scale": 4, "latent_std": LATENT_STD, "receiver": 64, "receiver_blocks": 4}),
        ModelSpec("qscore.mixed", task="quality", trainer="quality-score"),
        # Receptive radius about 110 px (12 blocks at a quarter of the resolution, 4 px each); 112 keeps
        # tiles on the network's 4-pixel stride.
        ModelSpec("deblurunet.blind", task="deblur", trainer="deblur", receptive_radius=112, tile=512,
                  arch_kwargs={"blocks2": 12}),
        # Learned side information (pixrescue compress): one model per rate point, the same network trained
        # at three weights of the rate (the cards' lambda).  Receptive radius about 60 px, on the 16-pixel grid.
        *(ModelSpec(f"sideinfo.{rate}", task="side-info", trainer="side-info", receptive_radius=64, tile=512,
                    base="qgunet.jpeg-blind", arch_kwargs={"channels": 32, "blocks": 6, "features": 32})
          for rate in ("low", "medium", "high")),
    )
}

DEFAULT_MODEL = {"jpeg": "qgunet.jpeg-blind", "upscale": "edsr.sr-x234", "quality": "qscore.mixed",
                 "deblur": "deblurunet.blind"}


class UnknownModelError(ValueError):
    pass


def is_weights_file(name: str) -> bool:
    """``name`` is a path to weights (``pixrescue train``'s output), not a registered name."""
    return str(name).lower().endswith(".safetensors")


def _card_beside(weights: str) -> dict[str, Any]:
    """The card ``pixrescue train`` wrote beside ``weights``; it names the registered model they are for."""
    path = Path(weights)
    card = cards.beside(path)
    if not path.is_file():
        raise UnknownModelError(f"{weights}: no such weights file")
    try:
        about = cards.read(card)
        name = about["name"]
        MODELS[name]
    except (OSError, ValueError, KeyError, TypeError):
        raise UnknownModelError(f"{weights}: needs the model card that `pixrescue train` writes beside it "
                                f"({card.name}), naming a registered model") from None
    return about


def get_spec(name: str) -> ModelSpec:
    """The registered specification of ``name``: a registered name, or a
    ``.safetensors`` file whose card (beside it) names one."""
    if is_weights_file(name):
        return MODELS[_card_beside(name)["name"]]
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise UnknownModelError(f"unknown model {name!r} (known: {known}; or a .safetensors file that "
                                "`pixrescue train` wrote)") from None


def models_for(task: str) -> list[str]:
    """The registered names of ``task``'s models ("jpeg", "upscale", "rescale", "embedding")."""
    return [name for name, spec in MODELS.items() if spec.task == task]


def require_task(name: str, task: str, verb: str) -> ModelSpec:
    """``name``'s spec when it is a ``task`` model; else UnknownModelError listing the ones that are."""
    spec = get_spec(name)
    if spec.task != task:
        raise UnknownModelError(f"{name} is {TASK_NAMES[spec.task]} model; {verb} takes one of: "
                                f"{', '.join(models_for(task))}")
    return spec


TASK_NAMES = {"jpeg": "an artifact-removal", "upscale": "an upscaling", "rescale": "a shrink/expand",
              "embedding": "a fingerprinting", "quality": "a quality-scoring", "deblur": "a deblurring",
              "side-info": "a side-information"}


def weights_path(name: str, directory: Path = WEIGHTS_DIR) -> Path:
    return directory / f"{name}.safetensors"


def default_upscaler() -> str:
    """The registry's default upscaler when its weights ship, else bicubic."""
    name = DEFAULT_MODEL["upscale"]
    return name if weights_path(name).exists() else "bicubic"


def load_card(name: str) -> dict[str, Any]:
    if is_weights_file(name):
        return _card_beside(name)
    return cards.read(cards.card_path(get_spec(name).name), missing={})


def check_architecture(spec: ModelSpec, card: dict[str, Any], where: str) -> None:
    """UnknownModelError when ``card`` (found at ``where``) names an architecture
    other than the one the registry builds for ``spec``; a card without one passes."""
    named = card.get("architecture")
    if named is None:
        return
    built = spec.architecture()
    if named != built:
        raise UnknownModelError(f"{where}: its card says the network is {_constructor(named)}, but the registry "
                                f"builds {spec.name} as {_constructor(built)}")


def _constructor(architecture: object) -> str:
    if not isinstance(architecture, dict) or not isinstance(architecture.get("arguments"), dict):
        return repr(architecture)
    arguments = ", ".join(f"{key}={value!r}" for key, value in architecture["arguments"].items())
    return f"{architecture.get('class')}({arguments})"


@lru_cache(maxsize=8)
def load_model(name: str) -> nn.Module:
    """The named network with its shipped weights, in eval mode (cached).  The
    card's ``architecture`` block, when it has one, must match the registry."""
    import torch
    from safetensors.torch import load_file

    spec = get_spec(name)
    path = Path(name) if is_weights_file(name) else weights_path(name)
    if not path.exists():
        raise FileNotFoundError(f"model {name!r} has no weights file at {path}")
    card = cards.beside(path)
    check_architecture(spec, load_card(name), str(card))
    # Built outside inference mode even when called inside it: the cached network also serves
    # computations that need gradients through it (shrink --refine).
    with torch.inference_mode(False):
        model = spec.build()
        try:
            model.load_state_dict(load_file(str(path)))
        except Exception as exc:  # a damaged file or weights of another shape
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnknownModelError(f"{path}: not weights of {spec.name} ({first})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
