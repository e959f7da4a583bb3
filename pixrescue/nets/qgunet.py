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

    def block_features(self, x: Tensor) -> Tensor:
        """(N, 192, H/8, W/8): log(1 + |c|) of each 8x8 block DCT coefficient of Y, Cb and Cr."""
        ycc = rgb_to_ycbcr_levels(x * 255)
        n, _, h, w = ycc.shape
        coefficients = F.conv2d(ycc.reshape(n * 3, 1, h, w), self.basis, stride=8)
        return torch.log1p(coefficients.abs()).reshape(n, 192, h // 8, w // 8)

    def forward(self, x: Tensor) -> Tensor:
        f = self.body(self.block_features(x))
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return torch.sigmoid(self.head(pooled))[:, 0]


class ReshareDetector(nn.Module):
    """Whether a JPEG's pixels were compressed harder before its last save when
    nothing else shows it: resized between the saves, the earlier 8x8 grid is gone
    and only the picture's overall look remains. A logistic regression on the last
    save's quality, the estimator's quality (the median over the crops), their
    difference, and for each of the 192 block DCT coefficients of Y, Cb and Cr the
    mean and the spread over the blocks of its log magnitude (averaged over the
    crops); qualities enter as quality / 100, and every feature is standardised by
    the statistics of the training cases (batch normalisation, frozen at inference).
    A hidden layer of 32 units, tried first, fitted the training histories far
    better but flagged 10-17 % of single saves made the same way from the dev
    pictures, several times what this linear one flagged: the training pictures are
    too few for more. Trained with ``pixrescue train qgunet.jpeg-blind --only reshare``; the
    probability above which ``fix`` believes it is in the card
    (``reshare.threshold``)."""

    FEATURES = 3 + 2 * 192

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm1d(self.FEATURES, affine=False), nn.Linear(self.FEATURES, 1))

    def forward(self, estimator: QualityEstimator, crops: Tensor, last: Tensor) -> tuple[Tensor, Tensor]:
        """``crops``: (N, K, 3, S, S) K crops of each of N pictures on their 8x8
        grid, S a multiple of 8; ``last``: (N,) the last save's quality / 100.
        Returns the estimated quality / 100 and the logit of "compressed harder
        before", each (N,)."""
        n, k = crops.shape[:2]
        flat = crops.reshape(n * k, *crops.shape[2:])
        estimate = estimator(flat).reshape(n, k).median(dim=1).values
        blocks = estimator.block_features(flat).flatten(2)
        spread = torch.cat([blocks.mean(dim=2), blocks.std(dim=2)], dim=1).reshape(n, k, -1).mean(dim=1)
        features = torch.cat([torch.stack([last, estimate, last - estimate], dim=1), spread], dim=1)
        return estimate, self.body(features.float())[:, 0]


def _without_detector(module: "QGUNet", state_dict: dict, prefix: str, *_) -> None:
    """Weights written before the re-share detector existed load with a fresh one, which
    is never used: their card gives no threshold for it (``tasks/restore.py: harsher_before``)."""
    if not any(key.startswith(prefix + "reshare.") for key in state_dict):
        state_dict.update({prefix + "reshare." + k: v for k, v in module.reshare.state_dict().items()})


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
        self.reshare = ReshareDetector()
        self._register_load_state_dict_pre_hook(_without_detector, with_module=True)

    def estimate_quality(self, x: Tensor) -> Tensor:
        """(N,) estimated quality / 100 of (N, 3, H, W) inputs, H and W multiples of 8."""
        return self.estimator(x)

    def detect_reshare(self, crops: Tensor, last: Tensor) -> tuple[Tensor, Tensor]:
        """(estimated quality / 100, logit of "compressed harder before the last save"): ``ReshareDetector``."""
        return self.reshare(self.estimator, crops, last)

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
