"""IRN: an invertible network for rescaling (Xiao et al., 2020).

Each x2 stage is a Haar wavelet transform (the low band is the 2x2 mean, the
three high bands the horizontal, vertical and diagonal differences) followed
by affine coupling blocks:

    y1 = x1 + F(x2)
    y2 = x2 * exp(s(y1)) + G(y1),   s = clamp * (2 * sigmoid(H(y1)) - 1)

where x1 is the first 3 channels (the picture-to-be) and x2 the others.  The
first three output channels are the small picture, the rest the latent z
that holds what shrinking removed.  ``inverse`` runs every step backwards,
exactly: it is not a second network.

The JPEG-robust variant adds a *receiver* (``receiver`` channels > 0): a small
residual CNN that the expanding side applies to the small picture it
received (JPEG-decoded) before the exact inverse, trained jointly with the
invertible part through a real JPEG (SAIN's idea of a compression-aware
decoder, in its simplest form).  It works at the small picture's resolution,
so it costs little; ``inverse`` itself stays exact.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn


def haar(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 4C, H/2, W/2): per channel [mean, horizontal,
    vertical, diagonal] of each 2x2 block, each a quarter of a signed sum."""
    a, b = x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]
    c, d = x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]
    bands = [(a + b + c + d) / 4, (a - b + c - d) / 4, (a + b - c - d) / 4, (a - b - c + d) / 4]
    n, ch, h, w = a.shape
    return torch.stack(bands, dim=2).reshape(n, 4 * ch, h, w)


def inverse_haar(y: Tensor) -> Tensor:
    n, ch4, h, w = y.shape
    ch = ch4 // 4
    low, horizontal, vertical, diagonal = y.reshape(n, ch, 4, h, w).unbind(dim=2)
    a = low + horizontal + vertical + diagonal
    b = low - horizontal + vertical - diagonal
    c = low + horizontal - vertical - diagonal
    d = low - horizontal - vertical + diagonal
    x = y.new_empty((n, ch, 2 * h, 2 * w))
    x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2] = a, b, c, d
    return x


def to_picture_first(y: Tensor) -> Tensor:
    """Reorder Haar output: every channel's low band first (so the first three
    planes are the picture's 2x2 means), then the high bands, channel by channel."""
    n, ch4, h, w = y.shape
    bands = y.reshape(n, ch4 // 4, 4, h, w)
    return torch.cat([bands[:, :, 0], bands[:, :, 1:].reshape(n, -1, h, w)], dim=1)


def from_picture_first(y: Tensor) -> Tensor:
    n, ch4, h, w = y.shape
    ch = ch4 // 4
    low, high = y[:, :ch], y[:, ch:].reshape(n, ch, 3, h, w)
    return torch.cat([low[:, :, None], high], dim=2).reshape(n, ch4, h, w)


class Subnet(nn.Module):
    """F, G and H of a coupling block: three 3x3 convolutions, the last one zero-initialised."""

    def __init__(self, cin: int, cout: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden, cout, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class CouplingBlock(nn.Module):
    def __init__(self, channels: int, split: int = 3, hidden: int = 32, clamp: float = 1.0) -> None:
        super().__init__()
        self.split, self.clamp = split, clamp
        rest = channels - split
        self.f = Subnet(rest, split, hidden)
        self.g = Subnet(split, rest, hidden)
        self.h = Subnet(split, rest, hidden)

    def _scale(self, y1: Tensor) -> Tensor:
        return self.clamp * (torch.sigmoid(self.h(y1)) * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, : self.split], x[:, self.split :]
        y1 = x1 + self.f(x2)
        y2 = x2 * torch.exp(self._scale(y1)) + self.g(y1)
        return torch.cat([y1, y2], dim=1)

    def inverse(self, y: Tensor) -> Tensor:
        y1, y2 = y[:, : self.split], y[:, self.split :]
        x2 = (y2 - self.g(y1)) * torch.exp(-self._scale(y1))
        x1 = y1 - self.f(x2)
        return torch.cat([x1, x2], dim=1)


class Receiver(nn.Module):
    """conv, ``blocks`` residual blocks (conv, ReLU, conv), conv (zero-initialised),
    added to the input: starts as the identity."""

    def __init__(self, channels: int, blocks: int, colours: int = 3) -> None:
        super().__init__()
        self.head = nn.Conv2d(colours, channels, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(blocks)
        )
        self.tail = nn.Conv2d(channels, colours, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def radius(self) -> int:
        return 2 + 2 * len(self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        for block in self.blocks:
            h = h + block(h)
        return x + self.tail(h)


class IRN(nn.Module):
    """``scale`` 2 or 4 (one or two Haar stages), ``blocks`` coupling blocks per stage.

    ``latent_std``: a fixed scale between the last block and z (z = h / latent_std,
    and back).  The Haar high bands of natural pictures have a standard deviation
    of a few hundredths of the range, so with latent_std = 1 an untrained network
    rebuilds from z ~ N(0, I) with noise thirty times too strong and must first
    learn to suppress it; a fixed scale starts it at the right size (an exact,
    invertible layer: the network stays IRN).

    ``receiver``: channels of the JPEG receiver (0: none), ``receiver_blocks`` its depth."""

    def __init__(self, scale: int = 2, blocks: int = 8, hidden: int = 32, channels: int = 3,
                 latent_std: float = 1.0, receiver: int = 0, receiver_blocks: int = 4) -> None:
        super().__init__()
        if scale not in (2, 4):
            raise ValueError("scale must be 2 or 4")
        self.scale, self.channels, self.latent_std = scale, channels, latent_std
        stages = 1 if scale == 2 else 2
        self.stages = nn.ModuleList(
            nn.ModuleList(CouplingBlock(channels * 4 ** (i + 1), channels, hidden) for _ in range(blocks))
            for i in range(stages)
        )
        self.receiver = Receiver(receiver, receiver_blocks, channels) if receiver else None

    def receive(self, small: Tensor) -> Tensor:
        """What the expanding side feeds the inverse: the received small picture
        as it is, or cleaned by the receiver where the network has one."""
        return small if self.receiver is None else self.receiver(small)

    # How far one output value of a stage's coupling blocks sees, in the stage's
    # pixels: each block runs F, then G and H, three 3x3 convolutions each.
    def stage_radius(self) -> int:
        return 6 * len(self.stages[0])

    def forward(self, x: Tensor, run: Callable | None = None) -> tuple[Tensor, Tensor]:
        """(N, 3, H, W), H and W multiples of ``scale`` -> (small picture, z).
        ``run(function, tensor)`` may evaluate each stage's blocks (tiled, for
        example); the Haar steps are pixel-local and need no context."""
        run = run or (lambda function, h: function(h))
        h = x
        for stage in self.stages:
            h = run(lambda t, stage=stage: _through(stage, t), to_picture_first(haar(h)))
        return h[:, : self.channels], h[:, self.channels :] / self.latent_std

    def inverse(self, small: Tensor, z: Tensor, run: Callable | None = None) -> Tensor:
        run = run or (lambda function, h: function(h))
        h = torch.cat([small, z * self.latent_std], dim=1)
        for index in reversed(range(len(self.stages))):
            h = inverse_haar(from_picture_first(run(lambda t, stage=self.stages[index]: _back(stage, t), h)))
        return h

    def latent_channels(self) -> int:
        return self.channels * (self.scale**2 - 1)


def _through(blocks: nn.ModuleList, h: Tensor) -> Tensor:
    for block in blocks:
        h = block(h)
    return h


def _back(blocks: nn.ModuleList, h: Tensor) -> Tensor:
    for block in reversed(blocks):
        h = block.inverse(h)
    return h
