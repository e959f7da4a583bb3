import torch

from pixrescue.imaging.tensors import to_planes

from pixrescue.nets.resnet18 import ResNet18
from pixrescue.nets.srcnn import SRCNN
from pixrescue.runner import run_tiled
from pixrescue.zoo import MODELS


def test_tiled_output_equals_untiled_output(gray_photo):
    torch.manual_seed(0)
    model = ResNet18().eval()
    x = to_planes(gray_photo.crop((0, 0, 203, 157)))
    whole = run_tiled(model, x, margin=18, tile=None)
    tiled = run_tiled(model, x, margin=MODELS["resnet18.jpeg-q10-gray"].receptive_radius, tile=48)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1 / 255


def test_a_margin_below_the_receptive_radius_shows_seams():
    """The check above could fail: with too small a margin the tiles differ."""
    torch.manual_seed(0)
    model = SRCNN().eval()
    x = torch.rand(1, 1, 100, 100)
    whole = run_tiled(model, x, margin=6, tile=None)
    assert (run_tiled(model, x, margin=6, tile=32) - whole).abs().max().item() < 1e-5
    assert (run_tiled(model, x, margin=1, tile=32) - whole).abs().max().item() > 1e-4
