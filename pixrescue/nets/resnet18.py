"""ResNet-18 turned into an EDSR-style restoration network.

No strides, no pooling, no batch normalisation: a head convolution, 8 residual
blocks of two 3x3 convolutions (a ReLU stays after each block's add, unlike
EDSR), a tail convolution, and a global add of the input so that the network
learns the compression noise.  1 + 8 * 2 + 1 = 18 convolutions.
"""

from torch import Tensor, nn


class ResidualBlock(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class ResNet18(nn.Module):
    def __init__(self, channels: int = 1, features: int = 64, blocks: int = 8) -> None:
        super().__init__()
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(features) for _ in range(blocks)])
        self.tail = nn.Conv2d(features, channels, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.tail(self.body(self.act(self.head(x))))
