"""The no-reference quality score of a picture: 0-100, higher is better.

The quality network (``nets/quality_score.py``) predicts, from the picture
alone, the PSNR it has against the clean original it came from; the score
maps that PSNR linearly from ``FLOOR_PSNR`` (0) to the network's
``TOP_PSNR`` (100), so 100 means "nothing to repair" and each point is 0.3 dB.
Large pictures are scored tile by tile (``runner.tiles``: 512-pixel centres,
40 pixels of context, on the network's 8-pixel cells), which gives the same
cells as the whole picture up to the network's edge padding.
"""

from __future__ import annotations

import math

import torch
from PIL import Image

from .. import zoo
from ..imaging.tensors import split_alpha, to_rgb_batch
from ..nets.quality_score import TOP_PSNR
from ..runner import tiles

# The predicted PSNR that scores 0: below it everything is equally ruined (heavy noise, a quality-5 JPEG).
FLOOR_PSNR = 20.0
_TILE, _MARGIN, _CELL = 512, 40, 8  # the margin covers the network's receptive radius (34)


def score_of(psnr: float) -> float:
    """The 0-100 score of a predicted PSNR."""
    return 100.0 * min(max((psnr - FLOOR_PSNR) / (TOP_PSNR - FLOOR_PSNR), 0.0), 1.0)


@torch.inference_mode()
def predicted_psnr(model: str, image: Image.Image) -> float:
    """The PSNR that the quality network ``model`` predicts ``image`` (its colour, alpha
    dropped) has against its clean original."""
    network = zoo.load_model(model)
    x = to_rgb_batch(split_alpha(image)[0])
    _, _, height, width = x.shape
    total, cells = 0.0, 0
    for part in tiles(height, width, _TILE, _MARGIN):
        log_errors = network(x[(..., *part.cut())])
        top, left = (part.top - part.t0) // _CELL, (part.left - part.l0) // _CELL
        rows, cols = math.ceil((part.bottom - part.top) / _CELL), math.ceil((part.right - part.left) / _CELL)
        kept = log_errors[..., top:top + rows, left:left + cols]
        total += float(kept.exp().sum())
        cells += kept.numel()
    return -10.0 * math.log10(total / cells)


def quality_score(model: str, image: Image.Image) -> tuple[float, float]:
    """The score (0-100) of ``image`` and the PSNR it is predicted to have."""
    psnr = predicted_psnr(model, image)
    return score_of(psnr), psnr

