"""The one tile iterator and the one 8-bit straight-through rounding."""

from __future__ import annotations

import pytest
import torch

from pixrescue.imaging.tensors import round_to_8_bits
from pixrescue.runner import tiles


@pytest.mark.parametrize("height,width,tile,margin", [(100, 70, 32, 8), (16, 16, 16, 0), (5, 300, 64, 100)])
def test_tiles_keep_every_pixel_once_and_cut_the_margin_around_it(height, width, tile, margin):
    kept = torch.zeros(height, width, dtype=torch.int64)
    for part in tiles(height, width, tile, margin):
        rows, columns = part.centre()
        kept[rows, columns] += 1
        assert part.bottom - part.top <= tile and part.right - part.left <= tile
        assert part.t0 == max(part.top - margin, 0) and part.t1 == min(part.bottom + margin, height)
        assert part.l0 == max(part.left - margin, 0) and part.l1 == min(part.right + margin, width)
        cut = torch.arange(height * width).reshape(height, width)[part.cut()]
        assert torch.equal(cut[part.kept()], torch.arange(height * width).reshape(height, width)[rows, columns])
    assert torch.equal(kept, torch.ones_like(kept))


def test_tiles_scale_their_slices():
    part = next(iter(tiles(40, 40, 16, 4)))
    assert part.centre(3) == (slice(0, 48), slice(0, 48))
    assert part.cut(3) == (slice(0, 60), slice(0, 60))
    second = list(tiles(40, 40, 16, 4))[1]
    assert second.kept(2) == (slice(0, 32), slice(8, 40))


def test_round_to_8_bits_rounds_forward_and_passes_the_gradient_straight_through():
    x = torch.tensor([-0.2, 0.1234, 0.5, 1.3], requires_grad=True)
    y = round_to_8_bits(x)
    assert torch.allclose(y, torch.tensor([0.0, round(0.1234 * 255) / 255, 128 / 255, 1.0]))
    (grad,) = torch.autograd.grad(y.sum(), [x])
    assert grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # the clamp stops it outside [0, 1]
    z = round_to_8_bits(x, through_clamp=True)
    assert torch.allclose(z, y)
    (grad,) = torch.autograd.grad(z.sum(), [x])
    assert grad.tolist() == [1.0, 1.0, 1.0, 1.0]
