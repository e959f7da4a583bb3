"""FSRCNN (Dong, Loy & Tang, 2016): super-resolution on the small image.

Feature extraction (5x5, d filters), shrinking (1x1 to s), m mapping layers
(3x3, s), expanding (1x1 back to d), each followed by PReLU, and a 9x9
transposed convolution with stride ``scale`` that enlarges at the end.
Everything before the last layer runs at the small size, which makes it the
fast one.  Works on the Y channel; FSRCNN(56, 12, 4) has about 12 K parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FSRCNN(nn.Module):
    def __init__(self, scale: int = 2, d: int = 56, s: int = 12, m: int = 4, colours: int = 1,
                 bilinear_init: bool = False) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(colours, d, 5, padding=2), nn.PReLU(d),
                                   nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.features = nn.Sequential(*layers)
        # Output size exactly scale x input: padding 4 and output_padding scale - 1.
        self.deconv = nn.ConvTranspose2d(d, colours, 9, stride=scale, padding=4, output_padding=scale - 1)
        nn.init.normal_(self.deconv.weight, std=0.001)
        nn.init.zeros_(self.deconv.bias)
        if bilinear_init:
            self._start_as_bilinear()

    @torch.no_grad()
    def _start_as_bilinear(self) -> None:
        """Pass the input unchanged through filter 0 of every layer (pixel
        values are >= 0 and PReLU keeps positives) and make the transposed
        convolution a bilinear enlargement of that filter: training starts from
        bilinear interpolation, not from noise.  Only the initial values
        change; the layout is FSRCNN's."""
        convs = [layer for layer in self.features if isinstance(layer, nn.Conv2d)]
        for conv in convs:
            k = conv.kernel_size[0] // 2
            conv.weight[0] = 0
            conv.weight[0, 0, k, k] = 1
            conv.bias[0] = 0
        scale = self.scale
        taps = torch.arange(9, dtype=torch.float32) - 4 - (scale - 1) / 2  # pixel centres line up
        weights = (1 - taps.abs() / scale).clamp(min=0)
        self.deconv.weight[0, 0] = weights[:, None] * weights[None, :]

    def forward(self, x: Tensor, scale: int | None = None) -> Tensor:
        if scale not in (None, self.scale):
            raise ValueError(f"this FSRCNN enlarges {self.scale} times, not {scale}")
        return self.deconv(self.features(x))
