"""VDSR (Kim, Lee & Lee, 2016): 20 3x3 convolutions of 64 channels on the
bicubic-enlarged Y channel, predicting the residual that bicubic misses.
Because it sees the enlarged image, one network serves every scale; it is
trained on x2, x3 and x4 mixed.  About 665 K parameters.

Initialisation: the first convolution is He-initialised, the 18 middle ones
start as the identity (a Dirac kernel, which a ReLU passes unchanged since
its input is already non-negative) and the last one at zero, so the network
starts as bicubic and every layer gets a clean gradient from the first step.
He-initialised middle layers (the paper's start) stayed at bicubic for 300
steps of 16 patches here: the paper's gradient-clipped SGD at a learning
rate of 0.1 needs far more steps than a CPU gives."""

from __future__ import annotations

from torch import Tensor, nn


class VDSR(nn.Module):
    def __init__(self, layers: int = 20, channels: int = 64, colours: int = 1) -> None:
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(colours, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            body += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        body.append(nn.Conv2d(channels, colours, 3, padding=1))
        self.body = nn.Sequential(*body)
        convolutions = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for conv in convolutions:
            nn.init.zeros_(conv.bias)
        nn.init.kaiming_normal_(convolutions[0].weight, nonlinearity="relu")
        for conv in convolutions[1:-1]:
            nn.init.dirac_(conv.weight)
        nn.init.zeros_(convolutions[-1].weight)

    def forward(self, x: Tensor, scale: int | None = None) -> Tensor:
        return x + self.body(x)
