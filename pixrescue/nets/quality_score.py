"""A no-reference quality network: for each 8x8 cell of a picture it predicts
the log of the mean squared error between that cell and the clean picture it
came from (which it never sees).  The picture's predicted PSNR is that of the
mean of those errors, so one network scores a patch or a whole picture.

It sees the picture, its detail (the picture less its 3x3 mean: where noise,
ringing and blocks live) and the log of the detail's local energy (the scale
its output is on).  Cheap per pixel: one full-resolution layer, then three
stride-2 stages (receptive field 67 pixels), about 0.12 M parameters.
"""

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

# The PSNR (dB) that stands for "not degraded": the top of what the network learns.
TOP_PSNR = 50.0
# The head's output is multiplied by this: log errors span about 8 (17-50 dB), far more than the
# features' scale at the start, and Adam moves each weight by about its learning rate a step.
_GAIN = 8.0
# The input is centred and scaled by this: the differences the network weighs are small.
_INPUT_GAIN = 4.0
# The network also sees the picture's detail (itself less its 3x3 mean), scaled by this: noise,
# ringing and blocks live there, a few levels strong.
_DETAIL_GAIN = 32.0
# The output's starting bias: an error of 1e-3 (30 dB), the middle of what it learns.
_START_LOG_ERROR = math.log(1e-3)


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.1, inplace=True)]


class QualityScoreNet(nn.Module):
    def __init__(self, widths: tuple[int, int, int, int] = (24, 32, 48, 64)) -> None:
        super().__init__()
        a, b, c, d = widths
        self.features = nn.Sequential(*_conv(7, a), *_conv(a, b, 2), *_conv(b, b), *_conv(b, c, 2), *_conv(c, c),
                                      *_conv(c, d, 2), *_conv(d, d))
        self.head = nn.Conv2d(d, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 1, H/8, W/8): the log squared error of each cell."""
        detail = x - F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        energy = torch.log(F.avg_pool2d(detail.square().mean(1, keepdim=True), 5, stride=1, padding=2) + 1e-6)
        inputs = torch.cat([(x - 0.5) * _INPUT_GAIN, detail * _DETAIL_GAIN, (energy + 8) / 4], dim=1)
        return self.head(self.features(inputs)) * _GAIN + _START_LOG_ERROR

    @staticmethod
    def psnr_of(log_errors: Tensor) -> Tensor:
        """(N, 1, h, w) log errors -> (N,) the PSNR (dB, peak 1) of their mean error."""
        mean = torch.logsumexp(log_errors.flatten(1), dim=1) - math.log(log_errors[0].numel())
        return -10.0 / math.log(10.0) * mean

    def predict_psnr(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) in [0, 1] -> (N,) the PSNR each picture is predicted to have against its clean original."""
        return self.psnr_of(self(x))
