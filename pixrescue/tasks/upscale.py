"""Enlarging small pictures.

Methods: nearest, bilinear, bicubic and Lanczos interpolation (Pillow; no
weights) and the trained upscalers of the model registry (``zoo``, task
"upscale"): SRCNN, FSRCNN, DRCN and VDSR, which see the Y channel of YCbCr
(chroma enlarged by bicubic, the classic protocol), and the default, a light
multi-scale EDSR on RGB.  A method is named by its interpolation, its model
name, or its architecture (``edsr`` = the EDSR model that knows the scale).

A JPEG input is deblocked first by the default artifact-removal model, told
the file's quantization tables, so that enlarging does not magnify its 8x8
blocks (``deblock``; default: on for JPEG inputs only).  ``benchmarks/upscale.py``
measures what deblocking first adds.  Alpha is enlarged by bicubic
interpolation; every frame of an animation is enlarged.
"""

from __future__ import annotations

import torch
from PIL import Image

from .. import zoo
from ..zoo import INTERPOLATIONS
from ..imaging import Picture
from ..imaging.io import DEFAULT_MAX_PIXELS, check_output_size
from ..imaging.jpeg import JpegInfo
from ..imaging.tensors import from_pixels, merge_alpha, split_alpha, to_pixels
from ..runner import placed, prepared, run_tiled
from .restore import restore_frame

SCALES = (2, 3, 4)


def upscale_models() -> list[str]:
    return zoo.models_for("upscale")


def resolve_method(method: str | None, scale: int) -> str:
    """An interpolation name or the registered model that enlarges ``scale`` times.

    Raises ValueError with the choices when ``method`` is unknown or its
    model does not know ``scale``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}")
    method = method or zoo.default_upscaler()
    if method in INTERPOLATIONS:
        return method
    if zoo.is_weights_file(method):
        zoo.require_task(method, "upscale", "upscale")
        candidates, models = [method], []
    else:
        models = upscale_models()
        candidates = [method] if method in models else [m for m in models if zoo.get_spec(m).arch == method]
    if not candidates:
        known = ", ".join([*INTERPOLATIONS, *sorted({zoo.get_spec(m).arch for m in models}), *models])
        raise ValueError(f"unknown upscaling method {method!r} (known: {known})")
    for name in candidates:
        if scale in zoo.get_spec(name).scales:
            return name
    scales = sorted({s for m in candidates for s in zoo.get_spec(m).scales})
    raise ValueError(f"{method} enlarges {' or '.join(f'x{s}' for s in scales)} only, not x{scale}; "
                     f"use another --model (pixrescue models lists them)")


def network_input(image: Image.Image, spec: zoo.ModelSpec, scale: int) -> torch.Tensor:
    """What the upscaler ``spec`` sees of an L or RGB picture, as 8-bit pixels
    (``imaging.tensors.to_pixels``): (1, C, H, W), C = 1 (Y, or the grey
    plane) or 3 (RGB).  Training makes its inputs with this function too, and
    its targets (``scale`` 1)."""
    if spec.colour == "y":
        plane = image if image.mode == "L" else image.convert("YCbCr").getchannel(0)
        if spec.enlarged_input and scale > 1:
            plane = plane.resize((plane.width * scale, plane.height * scale), Image.BICUBIC)
        return to_pixels(plane)
    return to_pixels(image.convert("RGB"))


class AtScale(torch.nn.Module):
    """An upscaler with its scale fixed: one input, as a compiled runtime needs it."""

    def __init__(self, network: torch.nn.Module, scale: int) -> None:
        super().__init__()
        self.network, self.scale = network, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, self.scale)


@torch.inference_mode()
def enlarge_with_model(image: Image.Image, scale: int, model: str, tile: int | None = -1) -> Image.Image:
    """An L or RGB picture enlarged ``scale`` times by a registered upscaler.
    ``tile=-1`` uses the model's tile size, None runs the image at once."""
    spec = zoo.get_spec(model)
    network = zoo.load_model(model)
    tile = spec.tile if tile == -1 else tile
    x = network_input(image, spec, scale)
    if not spec.enlarged_input:
        network = network.to(memory_format=torch.channels_last)  # measured faster on CPU
    # The wrapper holds the network as placed on the device (a GPU copy is made once, not per call).
    call, bf16 = prepared(model, AtScale(placed(network), scale), (torch.rand(1, x.shape[1], 64, 64),), f"x{scale}")
    if spec.enlarged_input:
        out = run_tiled(call, x, margin=spec.receptive_radius, tile=tile, bf16=bf16)
    else:
        out = run_tiled(lambda t: call(t.contiguous(memory_format=torch.channels_last)), x,
                        margin=spec.receptive_radius, tile=tile, scale=scale, bf16=bf16)
    size = (image.width * scale, image.height * scale)
    if spec.colour == "y":
        y = from_pixels(out, "L")
        if image.mode == "L":
            return y
        _, cb, cr = image.convert("YCbCr").resize(size, Image.BICUBIC).split()
        return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
    return from_pixels(out, image.mode)


def upscale_frame(frame: Image.Image, scale: int, method: str | None = None, deblock: bool = False,
                  jpeg: JpegInfo | None = None, orientation: int = 1, tile: int | None = -1) -> Image.Image:
    """``frame`` enlarged ``scale`` times (exactly: output = scale x input size)."""
    method = resolve_method(method, scale)
    if deblock:
        frame = restore_frame(frame, zoo.DEFAULT_MODEL["jpeg"], jpeg=jpeg, orientation=orientation, project=False)
    colour, alpha = split_alpha(frame)
    size = (colour.width * scale, colour.height * scale)
    if method in INTERPOLATIONS:
        enlarged = colour.resize(size, INTERPOLATIONS[method])
    else:
        enlarged = enlarge_with_model(colour, scale, method, tile)
    return merge_alpha(enlarged, None if alpha is None else alpha.resize(size, Image.BICUBIC))


def upscale_picture(picture: Picture, scale: int, method: str | None = None, deblock: bool | None = None,
                    max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    """Every frame enlarged; ``deblock`` None means: when the source is a JPEG.
    An output over ``max_pixels`` is refused (ImageSaveError) before any work."""
    method = resolve_method(method, scale)
    check_output_size((picture.size[0] * scale, picture.size[1] * scale), max_pixels)
    deblock = picture.jpeg is not None if deblock is None else deblock
    return picture.with_frames([
        upscale_frame(f, scale, method, deblock, picture.jpeg, picture.orientation) for f in picture.frames
    ])
