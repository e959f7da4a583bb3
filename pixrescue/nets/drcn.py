"""DRCN (Kim, Lee & Lee, 2016): a deeply-recursive network on the
bicubic-enlarged Y channel.

An embedding net (two 3x3 convolutions), then ONE 3x3 convolution applied
``recursions`` times (the weights are shared, so depth costs no parameters),
a reconstruction convolution shared by every recursion, a skip connection
from the input to each reconstruction, and a learned weighted average of the
reconstructions as the output.  Training supervises every recursion's
output as well as the average (``outputs``).  Narrower and shallower than
the paper's (64 channels and 9 recursions against 256 and 16) for CPU cost.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class DRCN(nn.Module):
    def __init__(self, channels: int = 64, recursions: int = 9, colours: int = 1) -> None:
        super().__init__()
        self.embed1 = nn.Conv2d(colours, channels, 3, padding=1)
        self.embed2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.recursive = nn.Conv2d(channels, channels, 3, padding=1)
        self.reconstruct = nn.Conv2d(channels, colours, 3, padding=1)
        # The first convolution is He-initialised, the second embedding and the
        # recursive convolution start as the identity (a Dirac kernel: every
        # recursion passes the embedding on unchanged) and the reconstruction
        # at zero, so the network starts as bicubic and the gradient reaches
        # the shared weights through every recursion alike.  With PyTorch's
        # default start the activations died out (0.2 % of them above zero
        # after 200 steps) and the network stayed at bicubic.
        nn.init.kaiming_normal_(self.embed1.weight, nonlinearity="relu")
        nn.init.dirac_(self.embed2.weight)
        nn.init.dirac_(self.recursive.weight)
        for conv in (self.embed1, self.embed2, self.recursive):
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.reconstruct.weight)
        nn.init.zeros_(self.reconstruct.bias)
        self.recursions = recursions
        self.weights = nn.Parameter(torch.full((recursions,), 1.0 / recursions))

    def outputs(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """(each recursion's reconstruction, their weighted average)."""
        h = F.relu(self.embed2(F.relu(self.embed1(x))))
        each = []
        for _ in range(self.recursions):
            h = F.relu(self.recursive(h))
            each.append(x + self.reconstruct(h))
        weights = self.weights / self.weights.sum()
        return each, sum(w * y for w, y in zip(weights, each))

    def forward(self, x: Tensor, scale: int | None = None) -> Tensor:
        return self.outputs(x)[1]
