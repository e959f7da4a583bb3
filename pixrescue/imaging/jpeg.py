"""JPEG internals: quantization tables, chroma subsampling, IJG quality estimate."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, JpegImagePlugin

# Annex K tables of the JPEG standard (natural row-major order), which the IJG
# encoder (libjpeg, used by Pillow) scales by the quality factor.
LUMA_BASE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
CHROMA_BASE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)  # fmt: skip

_SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def ijg_table(base: tuple[int, ...], quality: int) -> list[int]:
    """The quantization table libjpeg writes for ``quality`` (1-100)."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((b * scale + 50) // 100, 1), 255) for b in base]


def ijg_tables(quality: int) -> np.ndarray:
    """The 64 luma + 64 chroma steps libjpeg writes for ``quality`` (128 floats)."""
    return np.array(ijg_table(LUMA_BASE, quality) + ijg_table(CHROMA_BASE, quality), dtype=np.float32)


def table_vector(quantization: dict[int, list[int]]) -> np.ndarray:
    """A file's tables (natural order) as 64 luma + 64 chroma steps; a
    grayscale file has one table, which stands for both."""
    luma = list(quantization[0])
    chroma = list(quantization.get(1, luma))
    return np.array(luma + chroma, dtype=np.float32)


@dataclass(frozen=True)
class JpegInfo:
    """What a JPEG file says about how it was compressed."""

    quantization: dict[int, list[int]]  # table id -> 64 values, natural order
    subsampling: str  # "4:4:4", "4:2:2", "4:2:0", or "unknown"
    quality: int  # IJG quality factor whose tables are closest to the file's
    quality_exact: bool  # True when the file's tables are exactly IJG tables
    mode: str = "RGB"  # the file's colour mode as Pillow decodes it: L, RGB (from YCbCr) or CMYK
    # Whether its pixels were quantized more coarsely before its last save, on the same grid
    # (``history.DoubleQuantization``; None when not measured).
    history: object | None = None
    # pixrescue's side information in the file (``side_info.SideInfo``: its size in bytes, and
    # why it cannot be used when it cannot); None when the file has none.
    side_info: object | None = None


def estimate_quality(quantization: dict[int, list[int]]) -> tuple[int, bool]:
    """The IJG quality factor whose tables best match ``quantization``.

    Compares the luminance table (id 0) and, when present, the first chroma
    table (id 1) with the IJG tables for every quality 1..100 and returns the
    closest one, and whether the match is exact.
    """
    tables = [(list(quantization[0]), LUMA_BASE)] if 0 in quantization else []
    if 1 in quantization:
        tables.append((list(quantization[1]), CHROMA_BASE))
    if not tables:
        raise ValueError("no quantization tables")
    errors = np.zeros(100, dtype=np.int64)  # per quality 1..100
    for table, base in tables:
        steps = np.asarray(table[:64], dtype=np.int64)
        errors += np.abs(_ijg_matrix(base)[:, : len(steps)] - steps).sum(axis=1)
    best = int(np.argmin(errors))  # the lowest quality among equally close ones
    return best + 1, bool(errors[best] == 0)


@cache
def _ijg_matrix(base: tuple[int, ...]) -> np.ndarray:
    """(100, 64): the IJG table for each quality 1..100."""
    return np.array([ijg_table(base, q) for q in range(1, 101)], dtype=np.int64)


def read_info(image: Image.Image) -> JpegInfo | None:
    """Quantization facts of a JPEG opened by Pillow, or None for other formats.

    Never raises, whatever the file's tables hold: a table that is not 64
    steps is left out, and a file left with no table gives None.  The quality
    is estimated from table 0 (luma) and table 1 (chroma), or, in a file that
    numbers its tables otherwise, from the lowest-numbered ones."""
    try:
        quantization = getattr(image, "quantization", None)
        if image.format != "JPEG" or not quantization:
            return None
        tables = {}
        for key, values in dict(quantization).items():
            steps = [int(v) for v in values]
            if len(steps) == 64:
                tables[int(key)] = steps
        if not tables:
            return None
        ids = sorted(tables)
        luma = 0 if 0 in tables else ids[0]
        chroma = 1 if 1 in tables and luma != 1 else next((i for i in ids if i != luma), None)
        basis = {0: tables[luma], **({1: tables[chroma]} if chroma is not None else {})}
        quality, exact = estimate_quality(basis)
        mode = str(image.mode)
    except Exception:  # an odd file: no facts rather than a failure
        return None
    return JpegInfo(tables, _subsampling(image, mode), quality, exact, mode)


def _subsampling(image: Image.Image, mode: str) -> str:
    if mode == "L":
        return "none"
    try:
        sampling = JpegImagePlugin.get_sampling(image)
    except Exception:  # layers that do not match the mode
        return "unknown"
    return _SUBSAMPLING_NAMES.get(sampling, "unknown")


def residue_steps(image: Image.Image, strip: int = 1024) -> np.ndarray:
    """(4, 8) sums and counts of the absolute luma steps between pixel r and
    r + 1 (r modulo 8): across the columns (sums, counts), then down the rows
    (sums, counts).  Reads ``strip`` rows (a multiple of 8) at a time, so that
    a large picture is never held as floats."""
    gray = image if image.mode == "L" else image.convert("L")
    width, height = gray.size
    steps = np.zeros((4, 8))
    for top in range(0, height, strip):
        owned = min(strip, height - top)
        luma = np.asarray(gray.crop((0, top, width, min(top + owned + 1, height))), dtype=np.float32)
        across = np.abs(np.diff(luma[:owned], axis=1))
        down = np.abs(np.diff(luma, axis=0))[:owned]  # from each owned row to the next, where there is one
        for r in range(8):
            steps[:, r] += [across[:, r::8].sum(), across[:, r::8].size, down[r::8].sum(), down[r::8].size]
    return steps


def grid_strength(image: Image.Image) -> float:
    """How much stronger the luma steps across the 8x8 grid lines (from the
    top-left corner) are than the steps inside the blocks: about 1.0 for a
    picture that never was a JPEG, 1.1 and up for one that was (the lower the
    quality, the higher)."""
    if min(image.size) < 16:
        return 1.0
    across_sum, across_count, down_sum, down_count = residue_steps(image)
    on_grid = across_sum[7] / max(across_count[7], 1) + down_sum[7] / max(down_count[7], 1)
    inside = (across_sum[:7].sum() / max(across_count[:7].sum(), 1)
              + down_sum[:7].sum() / max(down_count[:7].sum(), 1))
    return float(on_grid / max(inside, 1e-6))


def reopened(image: Image.Image, quality: int) -> Image.Image:
    """``image`` saved as a JPEG file in memory (Pillow's IJG encoder, RGB) and
    opened again: the picture a reader of that file gets, tables included."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    opened = Image.open(buffer)
    opened.load()
    return opened


def round_trip(image: Image.Image, quality: int, subsampling: str | int | None = None) -> tuple[Image.Image, JpegInfo]:
    """``image`` after a JPEG round trip in memory with Pillow's IJG encoder,
    and what the file said about its compression."""
    buffer = io.BytesIO()
    options: dict = {"quality": int(quality)}
    if subsampling is not None and image.mode != "L":
        options["subsampling"] = subsampling
    image.save(buffer, format="JPEG", **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        info = read_info(decoded)
        assert info is not None
        return decoded.copy(), info


def compress(image: Image.Image, quality: int, subsampling: str | int | None = None) -> Image.Image:
    """``image`` after a JPEG round trip in memory with Pillow's IJG encoder."""
    return round_trip(image, quality, subsampling)[0]
