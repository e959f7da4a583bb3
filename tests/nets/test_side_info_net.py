"""The side-information network's parts: causal context, soft-to-hard codes, an identity start,
and the integer context model the coder runs agreeing with the trained one."""

import numpy as np
import pytest
import torch

from pixrescue.nets.side_info import SideInfoNet, one_hot, soft_to_hard


@pytest.fixture(scope="module")
def net() -> SideInfoNet:
    torch.manual_seed(0)
    return SideInfoNet(channels=8, blocks=2, features=8).eval()


def test_the_context_model_sees_only_the_blocks_before_each_one(net):
    torch.manual_seed(1)
    symbols = torch.randint(0, 16, (1, 6, 7))
    changed = symbols.clone()
    changed[0, 3, 4] = (symbols[0, 3, 4] + 5) % 16
    with torch.no_grad():
        a, b = net.context(one_hot(symbols)), net.context(one_hot(changed))
    moved = (a - b).abs().amax(dim=1)[0] > 0
    rows, columns = np.nonzero(moved.numpy())
    assert len(rows) and all((r, c) > (3, 4) for r, c in zip(rows, columns))  # raster order: only later blocks


def test_codes_are_hard_forward_and_soft_backward():
    logits = torch.randn(2, 16, 3, 3, requires_grad=True)
    codes, symbols = soft_to_hard(logits, sigma=2.0)
    assert torch.allclose(codes.detach(), one_hot(symbols), atol=1e-6) and torch.equal(symbols, logits.argmax(1))
    (codes * torch.randn_like(codes)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_untrained_it_returns_the_blind_output_exactly(net):
    torch.manual_seed(2)
    original, decoded, blind = torch.rand(3, 1, 3, 37, 50).unbind(0)
    restored, bits, diversity = net(original, decoded, blind)
    assert torch.equal(restored, blind) and bits.shape == (1, 3, 4) and (bits > 0).all() and diversity >= 0


def test_the_integer_context_model_gives_the_trained_probabilities():
    from pixrescue.tasks.side_info import PRECISION, IntegerContext

    torch.manual_seed(3)
    net = SideInfoNet(channels=8, blocks=1, features=8)
    with torch.no_grad():  # a context model that predicts something: larger weights than at the start
        for parameter in net.context.parameters():
            parameter.mul_(4)
    symbols = torch.randint(0, 16, (1, 9, 11))
    with torch.no_grad():
        expected = torch.softmax(net.context(one_hot(symbols)).double(), dim=1)[0].permute(1, 2, 0).numpy()
    got = IntegerContext.of(net.context).all_frequencies(symbols[0].numpy()) / float(1 << PRECISION)
    assert np.abs(got - expected).max() < 0.02
    assert expected.max(axis=-1).mean() > 0.2  # not a uniform model, which would agree trivially
