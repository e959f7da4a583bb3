"""SRCNN (Dong et al. 2014), 9-1-5 layout, used here at equal input and output size:
as a JPEG artifact remover, and as an upscaler on the bicubic-enlarged Y channel."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SRCNN(nn.Module):
    """Conv 9x9 (64) -> ReLU -> Conv 1x1 (32) -> ReLU -> Conv 5x5 (out).

    Padding keeps the output the same size as the input.
    """

    def __init__(self, channels: int = 1, features: int = 64, mapped: int = 32, identity_init: bool = False) -> None:
        super().__init__()
        self.extract = nn.Conv2d(channels, features, 9, padding=4)
        self.map = nn.Conv2d(features, mapped, 1)
        self.reconstruct = nn.Conv2d(mapped, channels, 5, padding=2)
        self.act = nn.ReLU(inplace=True)
        if identity_init:
            self._start_as_identity()

    @torch.no_grad()
    def _start_as_identity(self) -> None:
        """Route the input unchanged through one filter of each layer (pixel
        values are >= 0, so the ReLUs pass them): training starts from the
        bicubic-enlarged picture, not from noise, and the layout stays 9-1-5."""
        channels = self.extract.in_channels
        for c in range(channels):
            self.extract.weight[c] = 0
            self.extract.weight[c, c, 4, 4] = 1
            self.extract.bias[c] = 0
            self.map.weight[c] = 0
            self.map.weight[c, c] = 1
            self.map.bias[c] = 0
        self.reconstruct.weight.mul_(0.01)
        for c in range(channels):
            self.reconstruct.weight[c, :, :, :] = 0
            self.reconstruct.weight[c, c, 2, 2] = 1
            self.reconstruct.bias[c] = 0

    def forward(self, x: Tensor, scale: int | None = None) -> Tensor:
        """``scale`` is ignored: as an upscaler SRCNN sees the bicubic-enlarged picture."""
        return self.reconstruct(self.act(self.map(self.act(self.extract(x)))))
