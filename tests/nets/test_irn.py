"""The invertible rescaling network: Haar bands and exact inversion."""

import pytest
import torch

from pixrescue.nets.irn import IRN, haar, inverse_haar


def test_haar_low_band_is_the_2x2_mean_and_inverts_exactly():
    x = torch.rand(2, 3, 8, 12, dtype=torch.float64)
    y = haar(x)
    assert y.shape == (2, 12, 4, 6)
    mean = torch.nn.functional.avg_pool2d(x, 2)
    assert torch.allclose(y[:, 0::4], mean)
    assert torch.allclose(inverse_haar(y), x)


@pytest.mark.parametrize("scale", [2, 4])
def test_inverse_undoes_forward_to_1e_4(scale):
    torch.manual_seed(0)
    net = IRN(scale=scale, blocks=2, hidden=8).double()
    for p in net.parameters():  # random, non-zero weights everywhere, not the identity start
        torch.nn.init.normal_(p, std=0.1)
    x = torch.rand(1, 3, 16, 24, dtype=torch.float64)
    small, z = net(x)
    assert small.shape == (1, 3, 16 // scale, 24 // scale)
    assert z.shape == (1, net.latent_channels(), 16 // scale, 24 // scale)
    assert (net.inverse(small, z) - x).abs().max() < 1e-4
    assert (net.inverse(small, torch.zeros_like(z)) - x).abs().max() > 1e-3  # z carries information


def test_untrained_network_shrinks_by_the_2x2_mean():
    x = torch.rand(1, 3, 16, 16)
    small, _ = IRN(scale=4, blocks=1, hidden=8)(x)
    assert torch.allclose(small, torch.nn.functional.avg_pool2d(x, 4), atol=1e-6)
