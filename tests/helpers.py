"""Helpers shared by the tests."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data


def jpeg_bytes(image: Image.Image, quality: int, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, **options)
    return buffer.getvalue()


def decode(payload: bytes) -> Image.Image:
    with Image.open(io.BytesIO(payload)) as im:
        im.load()
        return im.copy()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces ``width`` x ``height`` but holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def psnr(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def chelsea() -> Image.Image:
    """A real colour photograph shipped with scikit-image (CC0), 451x300."""
    return Image.fromarray(data.chelsea())


def shaken_rocket(pad: tuple[int, int] = (0, 0)) -> Image.Image:
    """scikit-image's rocket with 5 px of camera motion and a little noise (sharpness about 0.24:
    above the 0.1 line, yet blurred), mirrored out by ``pad`` (rows, columns) on each side."""
    from pixrescue.training.blur import blur, motion_kernel

    rocket = data.rocket()
    pixels = blur(rocket.astype(np.float64), motion_kernel(5, np.random.default_rng(1)))
    pixels += np.random.default_rng(0).normal(0, 1, rocket.shape)
    (rows, columns) = pad
    pixels = np.pad(pixels, ((rows, rows + 1 if rows else 0), (columns, columns), (0, 0)), mode="reflect")
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def illustration() -> Image.Image:
    """A flat-colour drawing with a caption, like a meme or a chart."""
    image = Image.new("RGB", (320, 240), (250, 240, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 150, 120), fill=(200, 30, 40))
    draw.ellipse((170, 40, 300, 170), fill=(30, 90, 200))
    draw.line((0, 230, 320, 150), fill=(20, 140, 60), width=6)
    draw.text((24, 170), "WHEN THE BUILD", font=ImageFont.load_default(size=28), fill=(0, 0, 0),
              stroke_width=2, stroke_fill=(255, 255, 255))
    return image


def open_jpeg(payload: bytes) -> Image.Image:
    """A JPEG opened as a user would: Pillow keeps its quantization tables."""
    image = Image.open(io.BytesIO(payload))
    image.load()
    return image


def watch_network_calls(monkeypatch, observe) -> list:
    """From now on every network ``zoo.load_model`` returns calls ``observe()``
    at each call (``forward``, or ``embed`` for the fingerprint networks) and
    appends what it returns to the list this gives back."""
    import torch

    from pixrescue import zoo

    seen: list = []
    real = zoo.load_model

    def observed(name):
        network = real(name)

        class Watch(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = network

            def forward(self, *args, **kwargs):
                seen.append(observe())
                return self.inner(*args, **kwargs)

            def embed(self, batch):
                seen.append(observe())
                return self.inner.embed(batch)

            def __getattr__(self, attribute):
                try:
                    return super().__getattr__(attribute)
                except AttributeError:
                    return getattr(self.inner, attribute)

        return Watch()

    monkeypatch.setattr(zoo, "load_model", observed)
    from pixrescue import runner

    monkeypatch.setattr(runner, "openvino_choice", lambda model: None)  # the watched networks run in PyTorch
    return seen
