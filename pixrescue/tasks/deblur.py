"""Blind deblurring (``pixrescue deblur``): camera motion, defocus and soft
focus removed by a network trained on synthetic blur (``training/blur.py``),
alpha kept, every frame, tile by tile."""

from __future__ import annotations

import torch
from PIL import Image

from .. import zoo
from ..imaging import Picture
from ..imaging.tensors import merge_alpha, split_alpha
from ..runner import prepared, run_on_colour


def deblur_frame(frame: Image.Image, model: str, tile: int | None = -1) -> Image.Image:
    """``frame`` (L, LA, RGB or RGBA) deblurred by ``model``; ``tile=-1`` uses the
    model's own tile size, None runs the whole picture at once."""
    spec = zoo.get_spec(model)
    colour, alpha = split_alpha(frame)
    network = zoo.load_model(model)
    tile = spec.tile if tile == -1 else tile
    call, bf16 = prepared(model, network, (torch.rand(1, 3, 64, 64),))
    return merge_alpha(run_on_colour(call, colour, spec.receptive_radius, tile, bf16=bf16), alpha)


def deblur_picture(picture: Picture, model: str) -> Picture:
    """Every frame of ``picture`` deblurred; metadata kept."""
    return picture.with_frames([deblur_frame(frame, model) for frame in picture.frames])
