"""Stand-ins for the shipped networks, for checking that the quality tests can fail.

With PIXRESCUE_TEST_IDENTITY=1, tests/conftest.py replaces ``pixrescue.zoo.load_model``
by ``load_stand_in``: artifact removers return their input (the blind model keeps
its quality estimator), upscalers interpolate (bicubic), rescalers and
fingerprint networks are their untrained architectures (a rescaler then shrinks
by the block mean).  Every quality test (``-m quality``) should fail with them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixrescue import zoo

ENVIRONMENT = "PIXRESCUE_TEST_IDENTITY"
_real_load_model = zoo.load_model


class Unchanged(nn.Module):
    """An artifact remover that returns its input; quality estimates come from the real model."""

    def __init__(self, real: nn.Module):
        super().__init__()
        self.real = real

    def forward(self, x: torch.Tensor, *conditioning) -> torch.Tensor:
        return x

    def estimate_quality(self, x: torch.Tensor) -> torch.Tensor:
        return self.real.estimate_quality(x)


class Interpolation(nn.Module):
    """An upscaler that enlarges by bicubic interpolation (or returns an already enlarged input)."""

    def __init__(self, enlarged_input: bool):
        super().__init__()
        self.enlarged_input = enlarged_input

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        if self.enlarged_input:
            return x
        return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def load_stand_in(name: str) -> nn.Module:
    real = _real_load_model(name)  # same errors as the real loader for unknown or missing models
    spec = zoo.get_spec(name)
    if spec.task == "jpeg":
        return Unchanged(real).eval()
    if spec.task == "upscale":
        return Interpolation(spec.enlarged_input).eval()
    torch.manual_seed(0)
    untrained = spec.build().eval()
    for p in untrained.parameters():
        p.requires_grad_(False)
    return untrained
