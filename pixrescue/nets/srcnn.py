"""SRCNN (Dong et al. 2014), 9-1-5 layout, used here at equal input and output size."""

from torch import Tensor, nn


class SRCNN(nn.Module):
    """Conv 9x9 (64) -> ReLU -> Conv 1x1 (32) -> ReLU -> Conv 5x5 (out).

    Padding keeps the output the same size as the input.
    """

    def __init__(self, channels: int = 1, features: int = 64, mapped: int = 32) -> None:
        super().__init__()
        self.extract = nn.Conv2d(channels, features, 9, padding=4)
        self.map = nn.Conv2d(features, mapped, 1)
        self.reconstruct = nn.Conv2d(mapped, channels, 5, padding=2)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.reconstruct(self.act(self.map(self.act(self.extract(x)))))
