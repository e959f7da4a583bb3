"""A convolutional autoencoder of 64x64 grayscale thumbnails with a 128-d code.

Encoder: four stages of 3x3 convolution + ReLU + 2x2 max-pooling
(64 -> 32 -> 16 -> 8 -> 4 pixels), then a linear layer to the code.
Decoder: a linear layer back to 4x4 feature maps, then four stages of
nearest-neighbour 2x upsampling + 3x3 convolution, and a sigmoid.
"""

from torch import Tensor, nn
from torch.nn import functional as F

SIDE = 64


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1),
                         nn.ReLU(inplace=True))


class ConvAutoencoder(nn.Module):
    def __init__(self, code: int = 128, width: int = 16) -> None:
        super().__init__()
        w = width
        self.encoder = nn.Sequential(_down(1, w), _down(w, 2 * w), _down(2 * w, 4 * w), _down(4 * w, 4 * w),
                                     nn.Flatten(), nn.Linear(4 * w * 16, code))
        self.expand = nn.Linear(code, 4 * w * 16)
        self.decoder = nn.Sequential(_up(4 * w, 4 * w), _up(4 * w, 2 * w), _up(2 * w, w), _up(w, w),
                                     nn.Conv2d(w, 1, 3, padding=1), nn.Sigmoid())
        self.width = w

    def encode(self, x: Tensor) -> Tensor:
        """(N, 1, 64, 64) in [0, 1] -> (N, code)."""
        return self.encoder(x)

    def embed(self, x: Tensor) -> Tensor:
        """The code as a unit vector: what duplicate search compares."""
        return F.normalize(self.encode(x), dim=1)

    def decode(self, code: Tensor) -> Tensor:
        """(N, code) -> (N, 1, 64, 64) in [0, 1]."""
        return self.decoder(self.expand(code).view(-1, 4 * self.width, 4, 4))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
