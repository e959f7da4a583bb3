"""The registry of training recipes: a model spec's ``trainer`` -> its recipe
class and its config class (``recipe.Recipe`` is the interface)."""

from __future__ import annotations

from typing import NamedTuple

from ... import zoo
from .embedding import AutoencoderRecipe, ClassifierRecipe, EmbeddingConfig
from .deblur import DeblurConfig, DeblurRecipe
from .jpeg import BlindJpegConfig, BlindJpegRecipe, SeedJpegConfig, SeedJpegRecipe
from .quality import QualityScoreConfig, QualityScoreRecipe
from .side_info import SideInfoConfig, SideInfoRecipe
from .rescaling import JpegRobustRescalingRecipe, RescalingConfig, RescalingRecipe
from .super_resolution import SuperResolutionConfig, SuperResolutionRecipe


class Registered(NamedTuple):
    recipe: type
    config: type


RECIPES: dict[str, Registered] = {
    "jpeg-seed": Registered(SeedJpegRecipe, SeedJpegConfig),
    "jpeg-blind": Registered(BlindJpegRecipe, BlindJpegConfig),
    "embed-autoencoder": Registered(AutoencoderRecipe, EmbeddingConfig),
    "embed-classifier": Registered(ClassifierRecipe, EmbeddingConfig),
    "super-resolution": Registered(SuperResolutionRecipe, SuperResolutionConfig),
    "rescaling": Registered(RescalingRecipe, RescalingConfig),
    "rescaling-jpeg": Registered(JpegRobustRescalingRecipe, RescalingConfig),
    "quality-score": Registered(QualityScoreRecipe, QualityScoreConfig),
    "deblur": Registered(DeblurRecipe, DeblurConfig),
    "side-info": Registered(SideInfoRecipe, SideInfoConfig),
}


def registered(model: str) -> Registered:
    """The recipe and config classes that train ``model`` (a registered name)."""
    return RECIPES[zoo.get_spec(model).trainer]


def build(config):
    """The recipe of ``config.model``, built from ``config`` (loads its pictures)."""
    return registered(config.model).recipe(config)
