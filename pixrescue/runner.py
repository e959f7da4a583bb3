"""Inference runner: tiles with overlap so that memory stays bounded.

Each tile is cut with a margin at least as wide as the network's receptive
radius and only its centre is kept, so every kept output pixel saw exactly
the context it would have seen in one pass over the whole image: the tiled
output equals the untiled one up to floating-point rounding, and there is
no seam to blend away.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

from .imaging.tensors import from_pixels, to_pixels

DEFAULT_TILE = 384

PRECISIONS = ("auto", "fp32", "bf16")
_precision = "auto"


def set_precision(precision: str) -> None:
    """How the networks compute from now on: ``auto`` (OpenVINO where installed and
    the model's card allows it, else bf16 autocast where the CPU has bf16
    instructions and the card allows it, else fp32), ``fp32`` (PyTorch fp32: the
    same pixels on every machine) or ``bf16`` (PyTorch bf16 autocast everywhere;
    slow on a CPU without bf16)."""
    global _precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    _precision = precision


def current_precision() -> str:
    """The choice ``set_precision`` made (``auto`` until then)."""
    return _precision


DEVICES = ("auto", "cpu", "cuda")
CPU = torch.device("cpu")
_device_choice = "auto"


class DeviceError(ValueError):
    """A device that this machine does not have (one line, for the command line)."""


def set_device(device: str) -> None:
    """Where the networks run from now on: ``auto`` (a CUDA GPU when PyTorch
    sees one, else the CPU), ``cpu`` or ``cuda``.  DeviceError for ``cuda``
    where PyTorch sees no CUDA GPU, ValueError for anything else."""
    global _device_choice
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: PyTorch sees no CUDA GPU here (a CUDA build of torch and a driver are "
                          "needed); use --device cpu")
    _device_choice = device


def current_device_choice() -> str:
    """The choice ``set_device`` made (``auto`` until then)."""
    return _device_choice


def device() -> torch.device:
    """The device the networks run on now (``set_device``)."""
    if _device_choice == "cuda" or (_device_choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return CPU


# Each network's copy on a GPU, made once: the zoo keeps the CPU one, which other threads may be using.
_placed: "weakref.WeakKeyDictionary[nn.Module, dict[torch.device, nn.Module]]" = weakref.WeakKeyDictionary()


def placed(module: nn.Module, where: torch.device | None = None) -> nn.Module:
    """``module`` itself on the CPU; on another device (``where``, else
    ``device()``), a copy of it there, made once and kept."""
    where = device() if where is None else where
    if where == CPU:
        return module
    first = next(module.parameters(), None)
    if first is not None and first.device.type == where.type != "cpu":
        return module  # already there (a wrapper of a placed network)
    copies = _placed.setdefault(module, {})
    if where not in copies:
        with torch.inference_mode(False):
            copies[where] = copy.deepcopy(module).to(where)
    return copies[where]


class OnDevice:
    """A network called with CPU tensors that runs on another device: its
    tensor arguments are moved there and what it returns is moved back."""

    def __init__(self, module: nn.Module, where: torch.device) -> None:
        self.module = placed(module, where)
        self.where = where

    def __call__(self, *args):
        moved = [a.to(self.where, non_blocking=True) if isinstance(a, torch.Tensor) else a for a in args]
        return self.module(*moved).cpu()


def uses_bf16(model: str) -> bool:
    """Whether the named network runs under bf16 autocast (fp32 weights).

    ``auto`` decides by measurement: the card's ``inference.bf16.allowed``,
    written by ``benchmarks/speed.py --update-cards`` only where bf16 moved the
    model's benchmark figure by at most 0.02 dB and no output pixel of a real
    photograph by more than one level; and only on a CPU that computes in bf16
    (AMX or AVX-512 BF16), since elsewhere bf16 is emulated and slower than fp32.
    """
    if _precision != "auto":
        return _precision == "bf16"
    from . import zoo
    from .training.machine import cpu_has_bf16

    allowed = zoo.load_card(model).get("inference", {}).get("bf16", {}).get("allowed", False)
    return bool(allowed) and cpu_has_bf16()


@dataclass(frozen=True)
class Tile:
    """One tile of a picture: the centre that is kept (rows ``top:bottom``,
    columns ``left:right``) and the region cut around it, margin included
    (``t0:t1``, ``l0:l1``), clipped to the picture."""

    top: int
    left: int
    bottom: int
    right: int
    t0: int
    l0: int
    t1: int
    l1: int

    def cut(self, scale: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the cut region, in a picture ``scale`` times larger."""
        return slice(self.t0 * scale, self.t1 * scale), slice(self.l0 * scale, self.l1 * scale)

    def centre(self, scale: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the kept centre in the whole picture (``scale`` times larger)."""
        return slice(self.top * scale, self.bottom * scale), slice(self.left * scale, self.right * scale)

    def kept(self, scale: int = 1) -> tuple[slice, slice]:
        """Rows and columns of the kept centre within the cut region (``scale`` times larger)."""
        return (slice((self.top - self.t0) * scale, (self.bottom - self.t0) * scale),
                slice((self.left - self.l0) * scale, (self.right - self.l0) * scale))


def tiles(height: int, width: int, tile: int, margin: int) -> Iterator[Tile]:
    """The tiles of a ``height`` x ``width`` picture, row by row: centres of
    ``tile`` pixels (smaller at the far edges), each cut with ``margin`` pixels
    of context on every side that has any."""
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            yield Tile(top, left, bottom, right, max(top - margin, 0), max(left - margin, 0),
                       min(bottom + margin, height), min(right + margin, width))


def openvino_choice(model: str) -> bool | None:
    """Whether the named network runs in OpenVINO, and how: None (PyTorch), True
    (OpenVINO's bf16 hint) or False (fp32).  Only under ``auto``, with the
    ``openvino`` extra installed, where the card allows it (``benchmarks/speed.py``
    measured it within the same rule as bf16), and only where it is the fastest
    allowed: on a processor with bf16 instructions PyTorch's bf16 beats
    OpenVINO's fp32."""
    from . import openvino_runtime

    if _precision != "auto" or not openvino_runtime.installed():
        return None
    from . import zoo
    from .training.machine import cpu_has_bf16

    inference = zoo.load_card(model).get("inference", {})
    allowed = {key for key, verdict in inference.items() if isinstance(verdict, dict) and verdict.get("allowed")}
    if cpu_has_bf16():
        # Measured on such a processor (docs/speed.md): OpenVINO bf16 > PyTorch bf16 > OpenVINO fp32.
        if "openvino_bf16" in allowed:
            return True
        if "bf16" in allowed:
            return None
    return False if "openvino_fp32" in allowed else None


def prepared(model: str, module: nn.Module, example: tuple[torch.Tensor, ...],
             variant: str = "") -> tuple[Callable[..., torch.Tensor], bool]:
    """How to run the named network: ``(function, bf16)`` for ``run_tiled``.
    ``module`` is the network, or a wrapper of it taking ``example``'s tensors
    (``variant`` names the wrapper, for example a fixed scale).  The function is
    ``module`` compiled by OpenVINO when ``openvino_choice`` says so, else
    ``module`` itself, with ``bf16`` telling whether PyTorch runs it under bf16
    autocast (``uses_bf16``).  On a GPU (``device()``), the network runs
    there in fp32, given and giving back CPU tensors."""
    where = device()
    if where != CPU:
        return OnDevice(module, where), False
    choice = openvino_choice(model)
    if choice is not None:
        from pathlib import Path

        from . import openvino_runtime, zoo

        weights = Path(model) if zoo.is_weights_file(model) else zoo.weights_path(model)
        multiple = getattr(module, "pad_multiple", 1)
        compiled = openvino_runtime.compiled(model, weights, variant, module, example, multiple, choice)
        if compiled is not None:
            return compiled, False
    return module, uses_bf16(model)


@torch.inference_mode()
def run_tiled(model: nn.Module, x: torch.Tensor, margin: int, tile: int | None = DEFAULT_TILE,
              scale: int = 1, bf16: bool = False) -> torch.Tensor:
    """``model(x)`` for an NCHW tensor, computed tile by tile.

    ``margin`` must be at least the model's receptive radius.  ``tile`` is the
    side of the kept centre of each tile; None runs the whole image at once.
    ``scale``: the model's output is that many times larger than its input
    (upscalers); tiles and margins are counted in input pixels.

    An 8-bit ``x`` (pixels 0-255) gives an 8-bit result: each tile becomes
    floats in [0, 1] only for the network and is rounded back, so a large
    picture never exists as floats (a 9000x9000 RGB picture is 243 MB as
    bytes, 972 MB as floats).

    ``bf16``: the model runs under bf16 autocast (see ``uses_bf16``); what it
    returns is made fp32 again before rounding.
    """
    _, _, height, width = x.shape
    s = scale
    pixels = x.dtype == torch.uint8

    def run(piece: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            out = model(piece.float().div_(255.0) if pixels else piece).float()
        return out.clamp_(0, 1).mul_(255.0).round_().to(torch.uint8) if pixels else out

    if tile is None or (height <= tile + 2 * margin and width <= tile + 2 * margin):
        return run(x)
    out: torch.Tensor | None = None
    for part in tiles(height, width, tile, margin):
        piece = run(x[(..., *part.cut())])
        if out is None:
            out = torch.empty((x.shape[0], piece.shape[1], height * scale, width * scale), dtype=piece.dtype,
                              device=piece.device, memory_format=_memory_format(x))
        out[(..., *part.centre(s))] = piece[(..., *part.kept(s))]
    assert out is not None
    return out


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(
        memory_format=torch.channels_last) else torch.contiguous_format


def run_on_colour(network: nn.Module, colour: Image.Image, margin: int, tile: int | None, gray: bool = False,
                  passes: int = 1, bf16: bool = False) -> Image.Image:
    """An unconditioned picture-to-picture network run ``passes`` times over an
    L or RGB picture, tile by tile: as RGB (a grayscale picture as three equal
    channels, averaged back), or with ``gray`` one channel at a time."""
    parts = []
    for part in colour.split() if gray else [colour.convert("RGB")]:
        x = to_pixels(part)
        for _ in range(passes):
            x = run_tiled(network, x, margin=margin, tile=tile, bf16=bf16)
        parts.append(from_pixels(x, "L" if gray else colour.mode))
    return parts[0] if len(parts) == 1 else Image.merge(colour.mode, parts)
