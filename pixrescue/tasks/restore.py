"""JPEG artifact removal with the grayscale seed models.

A grayscale image goes through the network directly; a colour image goes
through it one RGB channel at a time and the channels are merged.
``passes`` feeds the output through the network again.  Alpha is split off
before and put back unchanged after.
"""

from __future__ import annotations

import torch
from PIL import Image

from .. import zoo
from ..imaging import Picture
from ..imaging.tensors import from_planes, merge_alpha, split_alpha, to_planes
from ..runner import DEFAULT_TILE, run_tiled


@torch.inference_mode()
def restore_frame(frame: Image.Image, model: str, passes: int = 1, tile: int | None = DEFAULT_TILE) -> Image.Image:
    if passes < 1:
        raise ValueError("passes must be at least 1")
    spec = zoo.get_spec(model)
    network = zoo.load_model(model)
    colour, alpha = split_alpha(frame)
    bands = []
    for band in colour.split():  # one channel at a time keeps peak memory to one float plane
        plane = to_planes(band)
        for _ in range(passes):
            plane = run_tiled(network, plane, margin=spec.receptive_radius, tile=tile).clamp_(0, 1)
        bands.append(from_planes(plane, "L"))
    restored = bands[0] if len(bands) == 1 else Image.merge(colour.mode, bands)
    return merge_alpha(restored, alpha)


def restore_picture(picture: Picture, model: str | None = None, passes: int = 1) -> Picture:
    """Every frame of ``picture`` restored; metadata kept."""
    model = model or zoo.DEFAULT_MODEL["jpeg"]
    return picture.with_frames([restore_frame(f, model, passes) for f in picture.frames])
