"""A light EDSR for every scale at once: the default upscaler.

EDSR (Lim et al., 2017) without batch normalisation: a head convolution,
residual blocks (conv-ReLU-conv, scaled by ``res_scale``) with a long skip,
and per scale a tail that makes ``scale**2`` sub-pixel images of each colour
and interleaves them (pixel shuffle).  Like MDSR, the body is shared by all
scales and only the tails differ, so one training run teaches x2, x3 and x4
and each scale's training also improves the others.

``channels`` and ``blocks`` set its width and depth (EDSR-baseline is 64
and 16; the registry in ``zoo.py`` chooses a narrower, shallower one so that
x4 runs at a couple of output megapixels per second on two CPU cores).  It
adds the bicubic enlargement of the input to its output, so the network only
has to learn what bicubic misses: on CPU training budgets that converges much
sooner.  The network works on RGB.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x))) * self.res_scale


class EDSR(nn.Module):
    def __init__(self, channels: int = 48, blocks: int = 8, scales: tuple[int, ...] = (2, 3, 4),
                 colours: int = 3, res_scale: float = 1.0) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.head = nn.Conv2d(colours, channels, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(channels, res_scale) for _ in range(blocks)),
                                  nn.Conv2d(channels, channels, 3, padding=1))
        self.tails = nn.ModuleDict({
            f"x{s}": nn.Sequential(nn.Conv2d(channels, colours * s * s, 3, padding=1), nn.PixelShuffle(s))
            for s in self.scales
        })
        for tail in self.tails.values():  # start as plain bicubic
            nn.init.zeros_(tail[0].weight)
            nn.init.zeros_(tail[0].bias)

    def forward(self, x: Tensor, scale: int) -> Tensor:
        features = self.head(x)
        features = features + self.body(features)
        base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        return base + self.tails[f"x{scale}"](features)
