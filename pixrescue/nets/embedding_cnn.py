"""A small CNN classifier whose 128-d hidden layer is an image embedding.

It is trained to tell apart the training pictures, each one a class, from
randomly degraded copies of them (recompressed, resized, cropped, captioned,
mirrored, recoloured): a label that costs nothing and teaches exactly the
invariance duplicate search needs.  The classifier layer is only for
training; search uses the L2-normalised hidden layer.  The classifier is a
cosine one (unit-length class weights against the unit-length embedding,
times a fixed scale), so training shapes the very distance search uses.
"""

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class EmbeddingCNN(nn.Module):
    def __init__(self, classes: int = 1024, embedding: int = 128, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(_stage(1, w), _stage(w, 2 * w), _stage(2 * w, 4 * w), _stage(4 * w, 4 * w),
                                      nn.Flatten(), nn.Linear(4 * w * 16, embedding))
        self.classes = nn.Parameter(torch.randn(classes, embedding) * 0.1)
        self.scale = 16.0

    def embed(self, x: Tensor) -> Tensor:
        """(N, 1, 64, 64) in [0, 1] -> (N, 128), unit length."""
        return F.normalize(self.features(x), dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits."""
        return self.scale * self.embed(x) @ F.normalize(self.classes, dim=1).T
