"""Learned side information for JPEG artifact removal (after Ma et al., "Improving
Compression Artifact Reduction via End-to-End Learning of Side Information", VCIP 2020).

The encoder still has the original, so it describes the artifacts it is about
to create and sends that description with the JPEG; the decoder's restorer is
conditioned on it.  The parts, as the paper has them:

- **Descriptor extraction** (encoder only): the original and the decoded JPEG
  each pass three 3x3 convolutions (``f_ori``, ``f_rec``); ``f_ori``,
  ``f_rec`` and their difference are concatenated and strided convolutions
  bring them down to one vector per 16x16 block; a 1x1 convolution and a
  softmax give a 16-way probability vector per block.
- **Soft-to-hard quantization**: forward, each block's vector becomes the
  nearest of the 16 one-hot vectors by KL divergence (KL(e_k || p) = -log p_k,
  so the most probable symbol); backward, the gradient of the softmax with
  temperature ``sigma`` (a straight-through estimator).
- **Rate**: a context model, one 5x5 masked convolution (each block sees only
  the blocks before it in raster order) and three 1x1 convolutions, predicts a
  16-way distribution of each symbol; R = mean -log2 p(symbol).  The shipped
  coder (``tasks/side_info.py``) runs the same layers in integer arithmetic,
  so that encoder and decoder derive the same probabilities on any CPU.
- **Feature mapping**: the one-hot map becomes float features, upsampled x2
  (sub-pixel convolution) and then to the restorer's resolution (a transposed
  convolution whose 4x4 kernel learns a pattern per position inside the
  block: JPEG's artifacts depend on where a pixel sits in its block).
- **Restoration**: EDSR-baseline without its upsampler ("EDSR-baseline*"),
  its residual blocks conditional: a 1x1 convolution of the artifact features
  multiplies each block's input.  Added here: a 1x1 convolution of the same
  features scales, per pixel and colour, the blind model's correction (see
  ``SideInfoNet.gain``).

Two choices of this project, for speed on a CPU and for the little training a
CPU allows:

- the restorer *refines the default blind model's output* (``qgunet.jpeg-blind``,
  frozen, computed outside this network): its input is that output and the
  decoded JPEG, and it predicts a residual on top of the blind output.  Its
  last layer starts at zero, so before training it is the blind model
  exactly; whatever it learns from the side information is a gain over it;
- the restorer works at half resolution (pixel-unshuffle by 2, as the blind
  model does), so the mapping upsamples the /16 descriptor map x2 and x4.

Pictures of any size are padded (replicating the edge) to a multiple of 16
and cropped back.  RGB in, RGB out, [0, 1]; grayscale goes through as three
equal channels, as everywhere in the project.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

BLOCK = 16  # pixels per descriptor, on each side
SYMBOLS = 16  # one-hot codes a descriptor can take
CONTEXT = 5  # the context model's masked kernel
ERROR_SCALE = 16.0  # the descriptor extractor's scale of the difference of its features


def pad_to_block(x: Tensor, block: int = BLOCK) -> Tensor:
    """``x`` padded at the bottom and right (edge repeated) to multiples of ``block``."""
    pad_h, pad_w = -x.shape[-2] % block, -x.shape[-1] % block
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x


def causal_mask(size: int = CONTEXT) -> Tensor:
    """(size, size) ones where a block may look: the rows above, and to the left in its own row."""
    mask = torch.zeros(size, size)
    centre = size // 2
    mask[:centre] = 1
    mask[centre, :centre] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the positions before the centre in raster order."""

    def __init__(self, channels_in: int, channels_out: int, size: int = CONTEXT) -> None:
        super().__init__(channels_in, channels_out, size, padding=size // 2)
        self.register_buffer("mask", causal_mask(size)[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class DescriptorExtractor(nn.Module):
    """(original, decoded) RGB -> (N, symbols, H/16, W/16) logits."""

    def __init__(self, features: int = 16, hidden: int = 64, symbols: int = SYMBOLS) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(3, features, 3, padding=1), nn.ReLU(inplace=True),
                                 nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True),
                                 nn.Conv2d(features, features, 3, padding=1))

        # One branch for both pictures: the difference of its features is then a function of the error the
        # JPEG made (linear in it at the start), which is what the descriptors are to describe.
        self.branch = branch()
        self.down = nn.Sequential(
            nn.Conv2d(3 * features, hidden, 4, stride=4), nn.ReLU(inplace=True),  # /4
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 4, stride=4), nn.ReLU(inplace=True),  # /16
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.logits = nn.Conv2d(hidden, symbols, 1)
        # Without biases at the start the symbols follow the pictures: with PyTorch's random biases one
        # symbol wins in every block (measured: 1,024 of 1,024 blocks of a photograph) and the restorer
        # learns nothing from them.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.zeros_(module.bias)

    def forward(self, original: Tensor, decoded: Tensor) -> Tensor:
        f_ori, f_rec = self.branch(original), self.branch(decoded)
        # The error is small beside the picture (a few levels of 255): its features are scaled up to the
        # pictures' own.
        return self.logits(self.down(torch.cat([f_ori, f_rec, ERROR_SCALE * (f_ori - f_rec)], dim=1)))


def soft_to_hard(logits: Tensor, sigma: float = 1.0) -> tuple[Tensor, Tensor]:
    """The one-hot codes (forward: nearest by KL divergence; backward: the
    softmax at temperature ``sigma``) and the symbols, (N, h, w) int64."""
    symbols = logits.argmax(dim=1)
    hard = F.one_hot(symbols, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    soft = torch.softmax(logits / sigma, dim=1)
    return hard + soft - soft.detach(), symbols


def one_hot(symbols: Tensor, count: int = SYMBOLS) -> Tensor:
    """(N, h, w) symbols -> (N, count, h, w) float one-hot codes."""
    return F.one_hot(symbols.long(), count).permute(0, 3, 1, 2).float()


class ContextModel(nn.Module):
    """One 5x5 masked convolution and three 1x1 convolutions: the logits of
    each symbol's distribution, from the symbols before it in raster order."""

    def __init__(self, symbols: int = SYMBOLS, hidden: int = 64) -> None:
        super().__init__()
        self.masked = MaskedConv2d(symbols, hidden)
        self.mix = nn.ModuleList([nn.Conv2d(hidden, hidden, 1), nn.Conv2d(hidden, hidden, 1),
                                  nn.Conv2d(hidden, symbols, 1)])

    def forward(self, codes: Tensor) -> Tensor:
        h = F.relu(self.masked(codes))
        h = F.relu(self.mix[0](h))
        h = F.relu(self.mix[1](h))
        return self.mix[2](h)

    def bits(self, codes: Tensor) -> Tensor:
        """(N, h, w) -log2 p of each block's code under the model."""
        logp = torch.log_softmax(self(codes).float(), dim=1)
        return -(codes.float() * logp).sum(dim=1) / torch.log(torch.tensor(2.0))


class FeatureMapping(nn.Module):
    """One-hot codes at /16 -> float artifact features at /2 (the restorer's resolution)."""

    def __init__(self, symbols: int = SYMBOLS, hidden: int = 64, features: int = 32) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Conv2d(symbols, hidden, 1), nn.ReLU(inplace=True),
                                   nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.up2 = nn.Sequential(nn.Conv2d(hidden, 4 * features, 1), nn.PixelShuffle(2), nn.ReLU(inplace=True),
                                 nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True))
        self.up4 = nn.ConvTranspose2d(features, features, 4, stride=4)

    def forward(self, codes: Tensor) -> Tensor:
        return F.relu(self.up4(self.up2(self.embed(codes))))


class ConditionalBlock(nn.Module):
    """EDSR's residual block whose input is multiplied by (1 + a 1x1 convolution of the artifact features)."""

    def __init__(self, channels: int, features: int, res_scale: float = 1.0) -> None:
        super().__init__()
        # PyTorch's random start, not zero: the codes then shape the blocks from the first step, and the
        # gradient that reaches the descriptors is not the product of two zero-started layers (with both
        # at zero the descriptor extractor's gradient was 1e-8, the rate's pull won and the codes collapsed
        # to one symbol).  The refiner still starts as the identity: its last layer is zero.
        self.condition = nn.Conv2d(features, channels, 1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: Tensor, features: Tensor) -> Tensor:
        h = x * (1 + self.condition(features))
        return x + self.conv2(F.relu(self.conv1(h))) * self.res_scale


class SideInfoNet(nn.Module):
    """The whole system; ``forward`` is the training pass (see the module's docstring)."""

    def __init__(self, channels: int = 32, blocks: int = 6, features: int = 32, symbols: int = SYMBOLS,
                 context_hidden: int = 64, sigma: float = 1.0) -> None:
        super().__init__()
        self.symbols, self.sigma = symbols, sigma
        self.extractor = DescriptorExtractor(symbols=symbols)
        self.context = ContextModel(symbols, context_hidden)
        self.mapping = FeatureMapping(symbols, features=features)
        self.head = nn.Conv2d(24, channels, 3, padding=1)  # blind output and decoded JPEG, unshuffled by 2
        self.blocks = nn.ModuleList(ConditionalBlock(channels, features) for _ in range(blocks))
        self.body = nn.Conv2d(channels, channels, 3, padding=1)
        self.tail = nn.Conv2d(channels, 12, 3, padding=1)
        # The blind model's correction (its output less the decoded JPEG) scaled per pixel and colour by the
        # artifact features: how strongly to apply it where, which the encoder can see and the blind model
        # cannot.  A first-order path from the codes to the picture, so they become useful in the minutes
        # of training a CPU allows (through the conditional blocks alone they had not after 600 steps).
        self.gain = nn.Conv2d(features, 12, 1)
        for layer in (self.tail, self.gain):  # both zero: it starts as the blind model's output exactly
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def describe(self, original: Tensor, decoded: Tensor) -> Tensor:
        """(N, H/16, W/16) symbols (sides rounded up) of an original and its decoded JPEG."""
        return self.extractor(pad_to_block(original), pad_to_block(decoded)).argmax(dim=1)

    def restore(self, decoded: Tensor, blind: Tensor, codes: Tensor) -> Tensor:
        """The refined picture from the decoded JPEG, the blind model's output
        and the one-hot codes of its blocks (N, symbols, ceil(H/16), ceil(W/16))."""
        height, width = decoded.shape[-2:]
        base, jpeg = pad_to_block(blind), pad_to_block(decoded)
        features = self.mapping(codes)
        h = self.head(F.pixel_unshuffle(torch.cat([base, jpeg], dim=1), 2))
        skip = h
        for block in self.blocks:
            h = block(h, features)
        h = self.body(h) + skip
        gain = F.pixel_shuffle(self.gain(features), 2)
        return (base + gain * (base - jpeg) + F.pixel_shuffle(self.tail(h), 2))[..., :height, :width]

    def forward(self, original: Tensor, decoded: Tensor, blind: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The restored picture, the bits of each block's code (N, h, w), and how far the batch's
        use of the symbols is from even: log(symbols) - H(mean softmax over every block), in nats
        (a training regulariser; see ``recipes/side_info.py``)."""
        logits = self.extractor(pad_to_block(original), pad_to_block(decoded))
        codes, _ = soft_to_hard(logits, self.sigma)
        usage = torch.softmax(logits.float(), dim=1).mean(dim=(0, 2, 3))
        diversity = math.log(self.symbols) + (usage * torch.log(usage.clamp_min(1e-12))).sum()
        return self.restore(decoded, blind, codes), self.context.bits(codes), diversity
