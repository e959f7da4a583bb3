"""``round_to_8_bits``, used by the rescalers' recipe (``recipes/rescaling.py``)."""

from __future__ import annotations

import torch


def round_to_8_bits(x: torch.Tensor) -> torch.Tensor:
    """Clamped and rounded to 8-bit levels, with a straight-through gradient."""
    x = x.clamp(0, 1)
    return x + ((x * 255).round() / 255 - x).detach()
