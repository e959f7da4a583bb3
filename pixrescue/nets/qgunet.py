"""QGUNet: a quantization-guided two-level U-Net for blind JPEG artifact removal.

The heavy work happens at a quarter of the resolution, so the cost per pixel
stays low on a CPU:

    RGB --pixel-unshuffle 2--> 12 ch at H/2 --conv--> c1 --blocks--> skip
        --2x2 stride-2 conv--> c2 at H/4 --blocks--> --1x1 conv + pixel-shuffle--> c1 at H/2
        (+ skip) --blocks--> --conv + pixel-shuffle--> RGB residual, added to the input.

The quantization tables the JPEG file was written with (luma and chroma, 64
values each) are embedded by a small MLP whose output scales and shifts the
features of every residual block (FiLM): the network knows how coarse each
DCT frequency was quantized instead of guessing it.

The network is equivariant to shifts by 4 pixels (the unshuffle and the
stride), so the inference runner cuts tiles at multiples of 16 and the tiled
output still equals the untiled one.  Inputs of any size are padded by
reflection to a multiple of 4 and cropped back (by repeating the edge when a
side is shorter than the padding: pictures of 1 to 3 pixels).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..imaging.colour import rgb_to_ycbcr_levels
from ..imaging.projection import DCT

TABLE_VALUES = 128  # 64 luma + 64 chroma quantization steps


def table_features(tables: Tensor) -> Tensor:
    """(N, 128) quantization steps (1..255) -> features around zero (log scale)."""
    return torch.log2(tables.float().clamp(1, 255)) / 4.0 - 1.0


class CondBlock(nn.Module):
    """Two 3x3 convolutions with a residual add; FiLM from the table embedding."""

    def __init__(self, features: int, embedding: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        self.film = nn.Linear(embedding, 2 * features)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        scale, shift = self.film(embedding)[:, :, None, None].chunk(2, dim=1)
        h = F.relu(self.conv1(x), inplace=True)
        h = h * (1 + scale) + shift
        return x + self.conv2(h)


def dct_basis() -> Tensor:
    """The 64 orthonormal 8x8 DCT-II basis images, as (64, 1, 8, 8) convolution weights."""
    return torch.from_numpy(np.einsum("ui,vj->uvij", DCT, DCT).reshape(64, 1, 8, 8)).float()


class QualityEstimator(nn.Module):
    """Predicts, from the pixels alone, the IJG quality (as quality / 100) of
    the last JPEG compression a picture went through; 1.0 means never
    compressed.  It looks where JPEG leaves its trace: the 8x8 block DCT
    coefficients of Y, Cb and Cr (a fixed transform, on the grid that starts
    at the top-left corner), as log magnitudes, then 1x1 convolutions, and
    the mean and maximum over the image.  Inputs are multiples of 8 on each side."""

    def __init__(self, features: int = 64) -> None:
        super().__init__()
        self.register_buffer("basis", dct_basis(), persistent=False)
        self.body = nn.Sequential(
            nn.Conv2d(192, features, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(features, features, 1), nn.LeakyReLU(0.1, inplace=True),
        )
        self.head = nn.Linear(2 * features, 1)

    def forward(self, x: Tensor) -> Tensor:
        ycc = rgb_to_ycbcr_levels(x * 255)
        n, _, h, w = ycc.shape
        coefficients = F.conv2d(ycc.reshape(n * 3, 1, h, w), self.basis, stride=8)
        features = torch.log1p(coefficients.abs()).reshape(n, 192, h // 8, w // 8)
        f = self.body(features)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return torch.sigmoid(self.head(pooled))[:, 0]


class QGUNet(nn.Module):
    # Inputs are padded to a multiple of this (and cropped back) inside forward.
    pad_multiple = 4

    def __init__(self, c1: int = 32, c2: int = 64, blocks1: int = 2, blocks2: int = 6, embedding: int = 64) -> None:
        super().__init__()
        self.embed = nn.Sequential(
            nn.Linear(TABLE_VALUES, 128), nn.ReLU(inplace=True), nn.Linear(128, embedding), nn.ReLU(inplace=True)
        )
        self.head = nn.Conv2d(12, c1, 3, padding=1)
        self.encoder = nn.ModuleList(CondBlock(c1, embedding) for _ in range(blocks1))
        self.down = nn.Conv2d(c1, c2, 2, stride=2)
        self.middle = nn.ModuleList(CondBlock(c2, embedding) for _ in range(blocks2))
        self.up = nn.Conv2d(c2, 4 * c1, 1)
        self.decoder = nn.ModuleList(CondBlock(c1, embedding) for _ in range(blocks1))
        self.tail = nn.Conv2d(c1, 12, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        self.estimator = QualityEstimator()

    def estimate_quality(self, x: Tensor) -> Tensor:
        """(N,) estimated quality / 100 of (N, 3, H, W) inputs, H and W multiples of 8."""
        return self.estimator(x)

    def forward(self, x: Tensor, tables: Tensor) -> Tensor:
        """``x``: (N, 3, H, W) RGB in [0, 1]; ``tables``: (N, 128) quantization steps."""
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % 4, -width % 4
        # Reflection needs a side longer than its padding: a picture of 1-3 pixels repeats its edge.
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x
        e = self.embed(table_features(tables))
        h = F.pixel_unshuffle(padded, 2)
        h = self.head(h)
        for block in self.encoder:
            h = block(h, e)
        skip = h
        h = self.down(h)
        for block in self.middle:
            h = block(h, e)
        h = F.pixel_shuffle(self.up(h), 2) + skip
        for block in self.decoder:
            h = block(h, e)
        out = padded + F.pixel_shuffle(self.tail(h), 2)
        return out[..., :height, :width]
