"""VDSR (Kim, Lee & Lee, 2016): 20 3x3 convolutions of 64 channels on the
bicubic-enlarged Y channel, predicting the residual that bicubic misses.
Because it sees the enlarged image, one network serves every scale; it is
trained on x2, x3 and x4 mixed.  About 665 K parameters."""

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
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: Tensor, scale: int | None = None) -> Tensor:
        return x + self.body(x)
