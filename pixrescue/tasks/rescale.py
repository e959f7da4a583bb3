"""Invertible shrinking: ``shrink`` makes a small picture with an IRN, and
``expand`` runs the same network backwards to recover the full size.

What shrinking removes goes into a latent z that the network has learned to
make look like N(0, I) noise; ``expand`` draws a fresh z (``seed`` makes the
draw reproducible, ``temperature`` scales it; 0 uses the mean) and inverts.
The small picture is an ordinary 8-bit picture; its metadata (a PNG text
chunk, or a JPEG comment, under ``TEXT_KEY``) names the model and the
original size, so ``expand`` knows what to do.  A picture without it was not
made by ``shrink``: ``expand`` refuses it (unless told the model) and points
to ``upscale``.

``refine`` (``shrink --refine STEPS``) spends more time on the sending side:
the network's small picture is only a starting point, and STEPS of Adam then
move its pixels (through the 8-bit rounding, with a straight-through
gradient) so that ``expand`` at temperature 0 rebuilds the original better,
while a guide term keeps the small picture close to the bicubic downscale.
``expand`` is unchanged: it cannot tell a refined picture from another.

Sizes that are not multiples of the scale are padded by repeating the edge
and cropped back on expansion.  Alpha is shrunk and enlarged by bicubic
interpolation; a grayscale picture goes through as three equal channels.
"""

from __future__ import annotations

import json

import torch
from PIL import Image
from torch.nn import functional as F

from .. import runner, zoo
from ..imaging import ImageLoadError, Picture
from ..imaging.io import DEFAULT_MAX_PIXELS, TEXT_KEY, check_output_size
from ..imaging.tensors import from_rgb_batch, merge_alpha, round_to_8_bits, split_alpha, to_rgb_batch
from ..runner import placed, run_tiled, tiles

MODELS = {2: "irn.x2", 4: "irn.x4"}
JPEG_ROBUST_MODELS = {4: "irn.x4-jpeg"}
# The latent's mean recovered 0.1-0.2 dB more than draws at temperature 1
# (benchmarks/rescale.py; docs/rescaling.md).
DEFAULT_TEMPERATURE = 0.0
# Side of the kept centre of each tile of a stage's coupling blocks (in that stage's pixels).
TILE = 512
# Refinement: Adam's step in [0, 1] units (cosine-decayed to 0 over the steps)
# and, per scale, the weight of the guide (the mean squared distance of the
# small picture from the bicubic downscale) against the mean squared error of
# the rebuilt picture.  Chosen on Set5, 20 steps: the largest weights that
# still gained over 0.5 dB of recovery while moving the small picture closer
# to bicubic, not further (x2: weight 0 gave 41.41 dB / small 37.58, 0.2 gave
# 41.20 / 38.56, 0.5 gave 40.72 / 39.71; x4: 0 gave 34.77 / 36.62, 0.5 gave
# 34.59 / 38.04, 1 gave 34.36 / 39.03; the plain networks 40.60 / 37.80 and
# 34.02 / 37.38).  A hard 38.3 dB bound on the small picture instead cost
# recovery at x4 (33.89 dB).
REFINE_LR = 0.002
REFINE_GUIDE = {2: 0.2, 4: 0.5}
# Refinement runs on tiles of the full-size picture (gradients need memory):
# side of the kept centre, and the margin optimised and rebuilt with it so
# that the centre's pixels see most of the context they affect.
REFINE_TILE = 512
REFINE_MARGIN = 64


class NotShrunkError(ImageLoadError):
    """The picture carries no ``shrink`` metadata (or it no longer fits): it
    cannot be expanded (reported per file like any unusable input)."""


def model_for(scale: int, jpeg_robust: bool = False) -> str:
    table = JPEG_ROBUST_MODELS if jpeg_robust else MODELS
    if scale not in table:
        kind = "JPEG-robust " if jpeg_robust else ""
        raise ValueError(f"no {kind}shrink model for x{scale} (available: "
                         f"{', '.join(f'x{s}' for s in sorted(table))})")
    return table[scale]


def _tiled(network, tile: int | None):
    """Run each stage's coupling blocks tile by tile, with a margin as wide as they see."""
    return lambda function, h: run_tiled(function, h, margin=network.stage_radius(), tile=tile)


def shrink_frame(frame: Image.Image, model: str, tile: int | None = TILE, refine: int = 0,
                 refine_tile: int | None = REFINE_TILE) -> Image.Image:
    """One frame (L, LA, RGB or RGBA) made ``scale`` times smaller (rounded up).
    ``tile`` bounds memory (None: the whole picture at once; the result is the same).
    ``refine``: steps of refinement (0: the network's small picture as it is),
    on tiles of ``refine_tile`` full-size pixels (None: the whole picture)."""
    scale = zoo.get_spec(model).scales[0]
    colour, alpha = split_alpha(frame)
    where = runner.device()
    x = to_rgb_batch(colour)
    pad_h, pad_w = -x.shape[2] % scale, -x.shape[3] % scale
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    network = placed(zoo.load_model(model), where)
    size = (x.shape[3] // scale, x.shape[2] // scale)
    bicubic = to_rgb_batch(from_rgb_batch(x, "RGB").resize(size, Image.BICUBIC)) if refine > 0 else None
    x = x.to(where)
    with torch.inference_mode():
        small, _ = network(x, run=_tiled(network, tile))
    if bicubic is not None:
        small = refine_small(network, x, small.clone(), bicubic.to(where), refine, gray=colour.mode == "L",
                             tile=refine_tile)
    return merge_alpha(from_rgb_batch(small.cpu(), colour.mode),
                       None if alpha is None else alpha.resize(size, Image.BICUBIC))


def refine_small(network, x: torch.Tensor, small: torch.Tensor, bicubic: torch.Tensor, steps: int,
                 gray: bool = False, tile: int | None = REFINE_TILE, margin: int = REFINE_MARGIN) -> torch.Tensor:
    """``small`` (1, 3, h, w) moved so that ``network.inverse`` at z = 0 rebuilds
    ``x`` (1, 3, h * scale, w * scale) better, ``bicubic`` guiding it (see the
    module's text).  Tiles of ``tile`` full-size pixels are refined one after
    another, each with ``margin`` pixels of context, and only their centres kept.
    ``gray``: the three channels move together (the picture is saved as L)."""
    s = network.scale
    _, _, height, width = small.shape
    step, pad = (max(height, width) if tile is None else tile // s), margin // s
    out = small.clone()
    for part in tiles(height, width, step, pad):
        cut = (..., *part.cut())
        region = _refine_region(network, x[(..., *part.cut(s))], out[cut], bicubic[cut], steps, gray)
        out[(..., *part.centre())] = region[(..., *part.kept())]
    return out


def _refine_region(network, x: torch.Tensor, small: torch.Tensor, bicubic: torch.Tensor, steps: int,
                   gray: bool) -> torch.Tensor:
    with torch.inference_mode(False), torch.enable_grad():
        x, bicubic = x.clone(), bicubic.clone()  # usable by autograd
        pixels = (small.mean(dim=1, keepdim=True) if gray else small).clone().requires_grad_(True)
        z = torch.zeros((1, network.latent_channels(), small.shape[2], small.shape[3]), device=small.device)
        optimiser = torch.optim.Adam([pixels], lr=REFINE_LR)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
        for _ in range(steps):
            picture = pixels.expand(-1, 3, -1, -1)
            rounded = round_to_8_bits(picture, through_clamp=True)
            guide = REFINE_GUIDE[network.scale] * F.mse_loss(picture, bicubic)
            loss = F.mse_loss(network.inverse(rounded, z), x) + guide
            (pixels.grad,) = torch.autograd.grad(loss, [pixels])
            optimiser.step()
            schedule.step()
        return pixels.detach().expand(-1, 3, -1, -1).clamp(0, 1)


@torch.inference_mode()
def expand_frame(small: Image.Image, model: str, size: tuple[int, int], seed: int = 0,
                 temperature: float = DEFAULT_TEMPERATURE, tile: int | None = TILE) -> Image.Image:
    """The full-size frame (``size`` = width, height) rebuilt from a small one."""
    where = runner.device()
    network = placed(zoo.load_model(model), where)
    scale = zoo.get_spec(model).scales[0]
    colour, alpha = split_alpha(small)
    x = to_rgb_batch(colour)
    shape = (1, network.latent_channels(), x.shape[2], x.shape[3])
    # Drawn on the CPU: the same seed gives the same picture on any device.
    z = (torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * temperature).to(where)
    x = x.to(where)
    if network.receiver is not None:
        x = run_tiled(network.receive, x, margin=network.receiver.radius(), tile=tile)
    big = network.inverse(x, z, run=_tiled(network, tile))[:, :, : size[1], : size[0]].cpu()
    full = (x.shape[3] * scale, x.shape[2] * scale)
    return merge_alpha(from_rgb_batch(big, colour.mode),
                       None if alpha is None else alpha.resize(full, Image.BICUBIC).crop((0, 0, *size)))


def shrink_picture(picture: Picture, scale: int = 2, jpeg_robust: bool = False, refine: int = 0) -> Picture:
    """Every frame shrunk (``refine`` steps of refinement each); the metadata
    names the model and the original size."""
    if refine and jpeg_robust:
        raise ValueError("refinement tunes the small picture for a lossless copy; it does not combine with "
                         "the JPEG-robust model")
    model = model_for(scale, jpeg_robust)
    frames = [shrink_frame(f, model, refine=refine) for f in picture.frames]
    note = {"model": model, "scale": scale, "width": picture.size[0], "height": picture.size[1],
            "small": list(frames[0].size)}
    return Picture(**{**vars(picture), "frames": frames, "jpeg": None,
                      "text": {**picture.text, TEXT_KEY: json.dumps(note)}})


# A shrink note longer than this is not one ``shrink`` wrote (those are under
# 120 characters); nor is a side outside 1..NOTE_MAX_SIDE.
NOTE_MAX_CHARS = 4096
NOTE_MAX_SIDE = 1_000_000


def _note_fields(note: object) -> dict | None:
    """The fields of a parsed shrink note, checked against the schema
    ``shrink_picture`` writes, or None: model (a registered rescaling model),
    scale (an int, that model's), width and height (ints in 1..NOTE_MAX_SIDE),
    small (a list of two such ints).  Other keys are ignored."""

    def side(value: object) -> bool:
        return type(value) is int and 1 <= value <= NOTE_MAX_SIDE  # type(): not bool, not float

    if not isinstance(note, dict):
        return None
    model, scale, small = note.get("model"), note.get("scale"), note.get("small")
    if not isinstance(model, str) or model not in zoo.MODELS or zoo.get_spec(model).task != "rescale":
        return None
    if type(scale) is not int or scale != zoo.get_spec(model).scales[0]:
        return None
    if not (side(note.get("width")) and side(note.get("height"))):
        return None
    if not (isinstance(small, list) and len(small) == 2 and side(small[0]) and side(small[1])):
        return None
    return {"model": model, "scale": scale, "width": note["width"], "height": note["height"], "small": list(small)}


def shrink_note(picture: Picture) -> dict | None:
    """What ``shrink`` recorded in ``picture``, or None: also for a note that
    does not fit the schema (see ``_note_fields``), is over NOTE_MAX_CHARS
    characters, or is not JSON (NaN and Infinity included)."""
    text = picture.text.get(TEXT_KEY) if isinstance(picture.text, dict) else None
    if not isinstance(text, str) or len(text) > NOTE_MAX_CHARS:
        return None
    try:
        note = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        return None
    return _note_fields(note)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def expand_picture(picture: Picture, seed: int = 0, temperature: float = DEFAULT_TEMPERATURE,
                   model: str | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """The full-size picture rebuilt from one ``shrink`` made.  ``model`` forces
    a rescaling model for a picture whose metadata was lost (for example one a
    platform re-encoded); the output is then ``scale`` times its size.  An
    output over ``max_pixels`` is refused (ImageSaveError) before any work."""
    note = shrink_note(picture)
    if model is None:
        if note is None:
            raise NotShrunkError("was not made by `pixrescue shrink` (it carries no shrink metadata): "
                                 "to enlarge it, use `pixrescue upscale`")
        if tuple(note.get("small", ())) != picture.size:
            raise NotShrunkError(f"was made by `pixrescue shrink` at {note['small'][0]}x{note['small'][1]} but is "
                                 f"{picture.size[0]}x{picture.size[1]} now: use `pixrescue upscale`")
        model, size = note["model"], (int(note["width"]), int(note["height"]))
        scale = zoo.get_spec(model).scales[0]
        if tuple(-(-side // scale) for side in size) != picture.size:
            raise NotShrunkError(f"its shrink metadata does not fit it (a {size[0]}x{size[1]} original cannot give "
                                 f"{picture.size[0]}x{picture.size[1]} at x{scale}): use `pixrescue upscale`")
    else:
        spec = zoo.get_spec(model)
        if spec.task != "rescale":
            raise ValueError(f"{model} is not a shrink model ({', '.join(n for n, s in zoo.MODELS.items() if s.task == 'rescale')})")
        size = (picture.size[0] * spec.scales[0], picture.size[1] * spec.scales[0])
    check_output_size(size, max_pixels)
    frames = [expand_frame(f, model, size, seed, temperature) for f in picture.frames]
    text = {k: v for k, v in picture.text.items() if k != TEXT_KEY}
    return Picture(**{**vars(picture), "frames": frames, "jpeg": None, "text": text})
