"""A two-level U-Net for blind deblurring (camera motion, defocus).

The heavy work happens at a quarter of the resolution, so the cost per pixel
stays low on a CPU and the receptive field (about 120 pixels across) covers
the longest blur it learns (15 pixels) many times over:

    RGB --pixel-unshuffle 2--> 12 ch at H/2 --conv--> c1 --blocks--> skip
        --2x2 stride-2 conv--> c2 at H/4 --blocks--> --1x1 conv + pixel-shuffle--> c1 at H/2
        (+ skip) --blocks--> --conv + pixel-shuffle--> RGB residual, added to the input.

The network is equivariant to shifts by 4 pixels; inputs of any size are
padded by reflection to a multiple of 4 and cropped back.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ResBlock(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        # Zero: a new block starts as the identity, so a deeper net can start
        # from a shallower one's weights and compute the same function.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class DeblurUNet(nn.Module):
    # Inputs are padded to a multiple of this (and cropped back) inside forward.
    pad_multiple = 4

    def __init__(self, c1: int = 24, c2: int = 48, blocks1: int = 1, blocks2: int = 6) -> None:
        super().__init__()
        self.head = nn.Conv2d(12, c1, 3, padding=1)
        self.encode = nn.Sequential(*[ResBlock(c1) for _ in range(blocks1)])
        self.down = nn.Conv2d(c1, c2, 2, stride=2)
        self.middle = nn.Sequential(*[ResBlock(c2) for _ in range(blocks2)])
        self.up = nn.Sequential(nn.Conv2d(c2, 4 * c1, 1), nn.PixelShuffle(2))
        self.decode = nn.Sequential(*[ResBlock(c1) for _ in range(blocks1)])
        self.tail = nn.Sequential(nn.Conv2d(c1, 12, 3, padding=1), nn.PixelShuffle(2))
        nn.init.zeros_(self.tail[0].weight)
        nn.init.zeros_(self.tail[0].bias)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) blurred, in [0, 1] -> (N, 3, H, W) sharp (not clamped)."""
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % 4, -width % 4
        padded = x
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skip = self.encode(F.relu(self.head(F.pixel_unshuffle(padded, 2)), inplace=True))
        h = self.up(self.middle(F.relu(self.down(skip), inplace=True))) + skip
        residual = self.tail(self.decode(h))
        return x + residual[..., :height, :width]
