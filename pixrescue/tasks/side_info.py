"""Learned side information: ``compress`` writes it into a JPEG, ``fix`` uses it.

Compress: the picture is saved as a baseline JPEG at quality Q by the
project's one encoder (``imaging.io.encode_jpeg``: Pillow, the same options as
every JPEG it writes), decoded again, and the descriptor extractor of the
rate point's model (``nets/side_info.py``) turns the original and the decoded
picture into one of 16 symbols per 16x16 block.  The symbols are coded in
raster order by a range coder (``constriction``) with the probabilities the
model's context model gives each one from those before it, and go into APP11
segments (``imaging/side_info.py``) with the model's name and a checksum of
the JPEG's coefficients.

The probabilities must come out the same in the decoder, bit for bit, on any
CPU: the context model runs here in integer arithmetic (``IntegerContext``:
weights rounded to multiples of 2^-10, integer products and shifts), its
logits become frequencies through a table of exp() computed once with
Python's ``decimal`` (correctly rounded, independent of the platform's
libm), and the frequencies are integers that sum to 2^16 with every symbol at
least 1.  The coder gets those integers divided by 2^16 (exact in binary
floating point).  The encoder computes all the probabilities at once; the
decoder one row at a time (the rows above are known) and then one block at a
time (its two left neighbours are in its row): the same integer sums.

Fix: when a file's side information is there, readable, made by a registered
side-information model for this picture's size, and its checksum matches the
JPEG's coefficients, the picture is restored by the blind model (told the
file's tables, as for any JPEG) and then refined by the model with the
decoded symbols.  Otherwise it is restored blindly and the report says why in
one line (``restore.restore_picture``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import cache, lru_cache

import numpy as np
import torch
from PIL import Image

from .. import zoo
from ..imaging import ImageSaveError, Picture
from ..imaging import side_info as container
from ..imaging.io import encode_jpeg
from ..imaging.jpeg import table_vector
from ..imaging.tensors import from_pixels, to_pixels
from ..runner import prepared, run_tiled, tiles, uses_bf16

FIXED = 10  # fractional bits of the integer context model
PRECISION = 16  # the coder's frequencies sum to 2**PRECISION
STEPS_PER_NAT = 64  # resolution of the exp() table
TABLE_NATS = 16  # logits further than this below the largest count as this far
RATES = ("low", "medium", "high")
# The default rate point: high, the best curve measured (benchmarks/side_info.py --images 8: BD-rate
# against JPEG + the blind fix -0.4 % on Kodak24 and +0.3 % on CBSD68, at or above the blind fix at
# every quality 10-50; medium +0.3 % / +1.0 % and below it at quality 40-50) for about the same bits.
DEFAULT_RATE = "high"
TILE, MARGIN = 512, 64  # descriptor and refinement tiles (multiples of the 16-pixel block)


class SideInfoUnavailable(ImportError):
    """The coder's extra is not installed."""


def _coder():
    try:
        import constriction
    except ImportError:
        raise SideInfoUnavailable("side information needs the constriction package: "
                                  "pip install 'pixrescue[side]'") from None
    return constriction


def model_for(rate: str) -> str:
    """The registered model of a rate point (low, medium, high)."""
    if rate not in RATES:
        raise ValueError(f"unknown rate {rate!r} (use one of: {', '.join(RATES)})")
    return f"sideinfo.{rate}"


@cache
def exp_table() -> np.ndarray:
    """round(2^16 exp(-k / 64)) for k = 0 .. 16 * 64, computed exactly (decimal)."""
    with localcontext() as ctx:
        ctx.prec = 40
        values = [int(((Decimal(-k) / STEPS_PER_NAT).exp() * (1 << 16)).to_integral_value()) for k in
                  range(TABLE_NATS * STEPS_PER_NAT + 1)]
    return np.array(values, dtype=np.int64)


def frequencies(logits: np.ndarray) -> np.ndarray:
    """(..., S) integer logits (scale 2^FIXED) -> (..., S) integer frequencies,
    each at least 1, summing to 2^PRECISION (the largest takes the remainder)."""
    top = logits.max(axis=-1, keepdims=True)
    steps = np.minimum((top - logits) * STEPS_PER_NAT >> FIXED, TABLE_NATS * STEPS_PER_NAT)
    weights = exp_table()[steps]
    symbols = logits.shape[-1]
    total = 1 << PRECISION
    freq = 1 + weights * (total - symbols) // weights.sum(axis=-1, keepdims=True)
    rest = total - freq.sum(axis=-1, keepdims=True)
    if freq.ndim == 1:  # the decoder's one position at a time: the same integers, sooner
        freq[int(np.argmax(logits))] += int(rest[0])
        return freq
    first_max = np.argmax(logits, axis=-1)[..., None]
    np.put_along_axis(freq, first_max, np.take_along_axis(freq, first_max, -1) + rest, -1)
    return freq


@dataclass(frozen=True)
class IntegerContext:
    """The context model in integer arithmetic (see the module's docstring)."""

    masked: np.ndarray  # (S + 1, 5, 5, H): weights of each symbol at each offset; row S (outside) is zero
    bias: np.ndarray  # (H,)
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (W (in, out), bias (out,)), the last gives the logits

    @classmethod
    def of(cls, context: torch.nn.Module) -> IntegerContext:
        scale = float(1 << FIXED)

        def q(t: torch.Tensor) -> np.ndarray:
            return np.round(t.detach().double().numpy() * scale).astype(np.int64)

        weight = context.masked.weight * context.masked.mask  # (H, S, 5, 5)
        w = q(weight).transpose(1, 2, 3, 0)  # (S, 5, 5, H)
        masked = np.concatenate([w, np.zeros((1, *w.shape[1:]), np.int64)])
        layers = tuple((q(conv.weight[:, :, 0, 0]).T.copy(), q(conv.bias)) for conv in context.mix)
        return cls(masked, q(context.masked.bias), layers)

    @property
    def symbols(self) -> int:
        return self.masked.shape[0] - 1

    @property
    def radius(self) -> int:
        return self.masked.shape[1] // 2

    def logits(self, pre: np.ndarray) -> np.ndarray:
        """(..., H) integer pre-activations of the masked layer -> (..., S) integer logits."""
        h = np.maximum(pre, 0)
        for i, (weight, bias) in enumerate(self.layers):
            h = (h @ weight + (bias << FIXED)) >> FIXED
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        return h

    def _padded(self, symbols: np.ndarray) -> np.ndarray:
        r = self.radius
        return np.pad(symbols.astype(np.int64), r, constant_values=self.symbols)

    def _offsets(self, above_only: bool):
        r = self.radius
        for dy in range(-r, 1):
            for dx in range(-r, r + 1):
                if (dy < 0 or dx < 0) and not (above_only and dy == 0):
                    yield dy, dx

    def all_frequencies(self, symbols: np.ndarray) -> np.ndarray:
        """(rows, columns, S) frequencies of every position of a known grid (the encoder)."""
        rows, columns = symbols.shape
        r = self.radius
        padded = self._padded(symbols)
        pre = np.broadcast_to(self.bias, (rows, columns, self.bias.size)).copy()
        for dy, dx in self._offsets(above_only=False):
            near = padded[r + dy:r + dy + rows, r + dx:r + dx + columns]
            pre += self.masked[near, dy + r, dx + r]
        return frequencies(self.logits(pre))

    def decode(self, next_symbol, rows: int, columns: int) -> np.ndarray:
        """The grid, each symbol from ``next_symbol(frequencies)`` in raster order (the decoder)."""
        r = self.radius
        padded = self._padded(np.zeros((rows, columns), np.int64))
        padded[r:r + rows, r:r + columns] = self.symbols  # nothing decoded yet
        for y in range(rows):
            above = np.broadcast_to(self.bias, (columns, self.bias.size)).copy()
            for dy, dx in self._offsets(above_only=True):
                above += self.masked[padded[r + y + dy, r + dx:r + dx + columns], dy + r, dx + r]
            for x in range(columns):
                pre = above[x].copy()
                for dx in range(-r, 0):
                    pre += self.masked[padded[r + y, r + x + dx], r, dx + r]
                padded[r + y, r + x] = next_symbol(frequencies(self.logits(pre)))
        return padded[r:r + rows, r:r + columns].copy()


@lru_cache(maxsize=4)
def integer_context(model: str) -> IntegerContext:
    return IntegerContext.of(zoo.load_model(model).context)


def encode_symbols(context: IntegerContext, symbols: np.ndarray) -> bytes:
    """The range-coded symbols of a grid."""
    constriction = _coder()
    probabilities = context.all_frequencies(symbols).reshape(-1, context.symbols) / float(1 << PRECISION)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.reshape(-1).astype(np.int32), constriction.stream.model.Categorical(perfect=False),
                   probabilities)
    return encoder.get_compressed().astype(">u4").tobytes()


def decode_symbols(context: IntegerContext, payload: bytes, rows: int, columns: int) -> np.ndarray:
    """The grid of ``encode_symbols``; SideInfoError when the payload cannot be its code."""
    constriction = _coder()
    if len(payload) % 4:
        raise container.SideInfoError("its payload is not whole 32-bit words")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, ">u4").astype(np.uint32))
    family = constriction.stream.model.Categorical(perfect=False)
    scale = float(1 << PRECISION)

    def next_symbol(freq: np.ndarray) -> int:
        return int(decoder.decode(family, (freq / scale)[None])[0])

    try:
        return context.decode(next_symbol, rows, columns)
    except container.SideInfoError:
        raise
    except Exception as exc:  # the coder's own complaint about a payload that is not a code
        raise container.SideInfoError(f"its payload cannot be decoded ({exc})") from None


def _rgb(frame: Image.Image) -> torch.Tensor:
    return to_pixels(frame.convert("RGB"))


@torch.inference_mode()
def describe(model: str, original: Image.Image, decoded: Image.Image) -> np.ndarray:
    """(rows, columns) symbols of ``original`` and its decoded JPEG, tile by tile (the same as whole)."""
    # Channels-last: 1.7x faster here (fp32 always: the features' difference carries the error, a few
    # levels, which bf16's 8-bit mantissa would round away).
    network = zoo.load_model(model).to(memory_format=torch.channels_last)
    x, y = _rgb(original).float().div_(255), _rgb(decoded).float().div_(255)
    height, width = x.shape[-2:]
    columns, rows = container.grid(width, height)
    out = np.zeros((rows, columns), np.int64)
    b = container.BLOCK
    for part in tiles(height, width, TILE, MARGIN):
        cut = part.cut()
        symbols = network.describe(x[(..., *cut)], y[(..., *cut)])[0].numpy()
        top, left = (part.top - part.t0) // b, (part.left - part.l0) // b
        bottom, right = -(-part.bottom // b), -(-part.right // b)
        out[part.top // b:bottom, part.left // b:right] = symbols[top:top + bottom - part.top // b,
                                                                  left:left + right - part.left // b]
    return out


def compress(picture: Picture, quality: int, rate: str = DEFAULT_RATE) -> tuple[bytes, dict]:
    """The JPEG file (bytes) of ``picture`` at ``quality`` with its side information,
    and what went into it (model, bytes of JPEG and of side information)."""
    if picture.is_animated:
        raise ImageSaveError(f"a JPEG holds one frame, not {len(picture.frames)}: compress takes still pictures")
    if picture.has_alpha:
        raise ImageSaveError("JPEG cannot store transparency: flatten the picture first")
    model = model_for(rate)
    context = integer_context(model)  # the model, loaded before any work
    jpeg = encode_jpeg(picture, quality)
    with Image.open(io.BytesIO(jpeg)) as opened:
        decoded = opened.convert("RGB")
    symbols = describe(model, picture.image, decoded)
    width, height = picture.size
    columns, rows = container.grid(width, height)
    payload = encode_symbols(context, symbols)
    record = container.SideRecord(model, width, height, columns, rows, context.symbols,
                                  container.coefficient_checksum(jpeg), payload)
    extra = container.segments(record)
    data = container.insert(jpeg, extra)
    return data, {"model": model, "jpeg_bytes": len(jpeg), "side_bytes": len(data) - len(jpeg),
                  "symbols": int(symbols.size)}


@dataclass(frozen=True)
class Compressed:
    """What ``compress`` made of one picture: the file, and a note for the batch report."""

    data: bytes
    steps: str
    unchanged: str | None = None


def compressor(quality: int, rate: str = DEFAULT_RATE):
    """A function Picture -> Compressed at ``quality`` and ``rate``, the model loaded now."""
    integer_context(model_for(rate))

    def run(picture: Picture) -> Compressed:
        data, about = compress(picture, quality, rate)
        share = about["side_bytes"] / len(data)
        return Compressed(data, f"quality {quality}, {about['jpeg_bytes']:,} bytes of JPEG and "
                                f"{about['side_bytes']:,} of side information ({share:.1%}, {about['model']})")

    return run


def usable_record(picture: Picture) -> tuple[container.SideRecord | None, str | None]:
    """The side information ``fix`` can use for ``picture`` (None when there is none),
    or why it cannot (a one-line reason)."""
    side = picture.jpeg.side_info if picture.jpeg is not None else None
    if side is None:
        return None, None
    if side.problem is not None:
        return None, side.problem
    record = side.record
    if picture.size != (record.width, record.height):
        return None, f"its side information is for a {record.width}x{record.height} picture"
    if picture.orientation != 1 or picture.is_animated:
        return None, "its side information does not describe the picture as turned by its EXIF orientation"
    try:
        spec = zoo.require_task(record.model, "side-info", "fix")
    except zoo.UnknownModelError:
        return None, f"its side information was made by {record.model!r}, which this pixrescue does not have"
    if record.symbols != integer_context(spec.name).symbols:
        return None, f"its side information has {record.symbols} symbols, {record.model} {integer_context(spec.name).symbols}"
    return record, None


@torch.inference_mode()
def refine(record: container.SideRecord, frame: Image.Image, blind: torch.Tensor,
           symbols: np.ndarray | None = None) -> Image.Image:
    """The side-information result: ``blind`` (the blind model's 8-bit output, 1x3xHxW) refined
    with the decoded symbols of ``record`` (or ``symbols``, for measurements); ``frame`` is the
    decoded JPEG (L or RGB)."""
    network = zoo.load_model(record.model).to(memory_format=torch.channels_last)
    bf16 = uses_bf16(record.model)  # where the card's measurement allows it (benchmarks/speed.py)
    if symbols is None:
        symbols = decode_symbols(integer_context(record.model), record.payload, record.rows, record.columns)
    codes = torch.nn.functional.one_hot(torch.from_numpy(symbols), record.symbols).permute(2, 0, 1)[None].float()
    decoded = _rgb(frame)
    both = torch.cat([decoded, blind], dim=1)  # 6 channels, 8-bit
    b = container.BLOCK

    def run(piece: torch.Tensor, part) -> torch.Tensor:
        top, left = part.t0 // b, part.l0 // b
        rows, columns = -(-piece.shape[-2] // b), -(-piece.shape[-1] // b)
        return network.restore(piece[:, :3], piece[:, 3:], codes[..., top:top + rows, left:left + columns])

    height, width = decoded.shape[-2:]
    out = torch.empty_like(blind)
    for part in tiles(height, width, TILE, MARGIN):
        piece = both[(..., *part.cut())].float().div_(255)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            result = run(piece, part).float()
        result = result.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
        out[(..., *part.centre())] = result[(..., *part.kept())]
    return from_pixels(out, frame.mode)


@torch.inference_mode()
def blind_pixels(base: str, frame: Image.Image, quantization: dict[int, list[int]]) -> torch.Tensor:
    """The blind model's 8-bit output on a decoded JPEG frame, told the file's tables (no projection),
    in the runtime ``fix`` runs it in (``runner.prepared``)."""
    spec = zoo.get_spec(base)
    network = zoo.load_model(base).to(memory_format=torch.channels_last)
    tables = torch.from_numpy(table_vector(quantization))[None]
    call, bf16 = prepared(base, network, (torch.rand(1, 3, 64, 64), tables))
    return run_tiled(lambda t: call(t, tables), _rgb(frame), margin=spec.receptive_radius, tile=spec.tile, bf16=bf16)


def restore_with_side_info(picture: Picture, record: container.SideRecord) -> Picture:
    """``picture`` (a JPEG with usable side information) restored with it."""
    spec = zoo.get_spec(record.model)
    frame = picture.image
    blind = blind_pixels(spec.base, frame, picture.jpeg.quantization)
    restored = picture.with_frames([refine(record, frame, blind)])
    side = picture.jpeg.side_info
    restored.steps = f"restored with its side information ({record.model}, {side.size:,} bytes)"
    return restored
