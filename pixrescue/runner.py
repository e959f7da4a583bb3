"""Inference runner: tiles with overlap so that memory stays bounded.

Each tile is cut with a margin at least as wide as the network's receptive
radius and only its centre is kept, so every kept output pixel saw exactly
the context it would have seen in one pass over the whole image: the tiled
output equals the untiled one up to floating-point rounding, and there is
no seam to blend away.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from .imaging.tensors import from_pixels, to_pixels

DEFAULT_TILE = 384


@dataclass(frozen=True)
class Tile:
    """One tile of a picture: the centre that is kept (rows ``top:bottom``,
    columns ``left:right``) and the region cut around it, margin included
    (``t0:t1``, ``l0:l1``), clipped to the picture."""

    top: int
    left: int
    bottom: int
    right: int
    t0: int
    l0: int
    t1: int
    l1: int

    def cut(self, scale: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the cut region, in a picture ``scale`` times larger."""
        return slice(self.t0 * scale, self.t1 * scale), slice(self.l0 * scale, self.l1 * scale)

    def centre(self, scale: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the kept centre in the whole picture (``scale`` times larger)."""
        return slice(self.top * scale, self.bottom * scale), slice(self.left * scale, self.right * scale)

    def kept(self, scale: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the kept centre within the cut region (``scale`` times larger)."""
        return (slice((self.top - self.t0) * scale, (self.bottom - self.t0) * scale),
                slice((self.left - self.l0) * scale, (self.right - self.l0) * scale))


def tiles(height: int, width: int, tile: int, margin: int) -> Iterator[Tile]:
    """The tiles of a ``height`` x ``width`` picture, row by row: centres of
    ``tile`` pixels (smaller at the far edges), each cut with ``margin`` pixels
    of context on every side that has any."""
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            yield Tile(top, left, bottom, right, max(top - margin, 0), max(left - margin, 0),
                       min(bottom + margin, height), min(right + margin, width))


@torch.inference_mode()
def run_tiled(model: nn.Module, x: torch.Tensor, margin: int, tile: int | None = DEFAULT_TILE,
              scale: int = 1) -> torch.Tensor:
    """``model(x)`` for an NCHW tensor, computed tile by tile.

    ``margin`` must be at least the model's receptive radius.  ``tile`` is the
    side of the kept centre of each tile; None runs the whole image at once.
    ``scale``: the model's output is that many times larger than its input
    (upscalers); tiles and margins are counted in input pixels.

    An 8-bit ``x`` (pixels 0-255) gives an 8-bit result: each tile becomes
    floats in [0, 1] only for the network and is rounded back, so a large
    picture never exists as floats (a 9000x9000 RGB picture is 243 MB as
    bytes, 972 MB as floats).
    """
    _, _, height, width = x.shape
    s = scale
    pixels = x.dtype == torch.uint8

    def run(piece: torch.Tensor) -> torch.Tensor:
        if not pixels:
            return model(piece)
        return model(piece.float().div_(255.0)).clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)

    if tile is None or (height <= tile + 2 * margin and width <= tile + 2 * margin):
        return run(x)
    out: torch.Tensor | None = None
    for part in tiles(height, width, tile, margin):
        piece = run(x[(..., *part.cut())])
        if out is None:
            out = torch.empty((x.shape[0], piece.shape[1], height * scale, width * scale), dtype=piece.dtype,
                              memory_format=_memory_format(x))
        out[(..., *part.centre(s))] = piece[(..., *part.kept(s))]
    assert out is not None
    return out


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(
        memory_format=torch.channels_last) else torch.contiguous_format


def run_on_colour(network: nn.Module, colour: Image.Image, margin: int, tile: int | None, gray: bool = False,
                  passes: int = 1) -> Image.Image:
    """An unconditioned picture-to-picture network run ``passes`` times over an
    L or RGB picture, tile by tile: as RGB (a grayscale picture as three equal
    channels, averaged back), or with ``gray`` one channel at a time."""
    parts = []
    for part in colour.split() if gray else [colour.convert("RGB")]:
        x = to_pixels(part)
        for _ in range(passes):
            x = run_tiled(network, x, margin=margin, tile=tile)
        parts.append(from_pixels(x, "L" if gray else colour.mode))
    return parts[0] if len(parts) == 1 else Image.merge(colour.mode, parts)
