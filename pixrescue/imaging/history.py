"""Evidence, in a picture's pixels, of JPEG compressions before its last one.

A meme is usually compressed hard once and then re-saved, again and again, at
a high quality: the file carries the gentle tables of its last save while its
pixels carry the blocks of the first.  Two kinds of evidence survive:

- **Double quantization** (same 8x8 grid).  The file's DCT coefficients are
  integers times the last step q2.  If the picture had been quantized before
  with a coarser step q1, those values cluster near multiples of q1: most of
  them lie within q2 / 2 of one.  ``double_quantization`` recomputes the
  luma coefficients of the decoded pixels on the file's grid (as
  ``projection.py`` does, exactly enough for luma), and for every IJG
  quality Q measures how many of the non-zero low-frequency coefficients fall
  near multiples of Q's steps, against how many would by chance (the chance
  of a multiple of q2 landing there).  The harshest quality whose excess is
  close to the best one is the estimate of the first compression: a table
  whose steps divide q1's fits as well, one coarser than q1 does not.
- **A shifted grid** (the picture was cropped between saves).  The first
  compression's 8x8 block edges sit at another phase: ``grid_phases``
  compares the luma steps across the lines of each of the 64 phases with the
  steps elsewhere.

A picture resized between saves keeps neither; the blind model's quality
estimator (which looks at the pixels) is the remaining evidence, combined in
``tasks/restore.py``.  ``benchmarks/reshared.py`` measures all of this.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
import numpy as np
from PIL import Image

from .colour import jfif_luma
from .jpeg import LUMA_BASE, ijg_table, residue_steps
from .projection import block_dct

# The low-frequency AC coefficients read (zig-zag positions 1-20): they are
# non-zero often enough, and a harsh first quantization is coarse there.
_ZIGZAG = [(0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (4, 0), (3, 1), (2, 2),
           (1, 3), (0, 4), (0, 5), (1, 4), (2, 3), (3, 2), (4, 1), (5, 0)]
POSITIONS = np.array([u * 8 + v for u, v in _ZIGZAG])
MAX_BLOCKS = 30_000  # blocks read at most (evenly spread): bounded time and memory on any picture
MIN_COEFFICIENTS = 300  # a candidate whose empty bins should hold fewer coefficients than this: no verdict
# Pixel rounding and clipping move a recomputed coefficient a little: the slack allowed, in DCT units.
SLACK = 1.0
# A candidate step must be this much coarser than the last one to say anything about it.
INFORMATIVE = 1.4
# Levels |k| read per frequency, and how many periods of a candidate's pattern they must hold
# (fewer: a smooth but curved histogram's long gaps look empty).
BINS = 128
MIN_PERIODS = 3
# Verdicts: the excess (0 = chance, 1 = every coefficient near a multiple) needed to call a picture
# compressed before; and how close to the best excess a harsher quality must come to be preferred.
DETECT = 0.5
# On a shifted grid that ``shifted_grid`` found (itself the sign of an earlier compression), the
# histograms of the old grid come through one or two later saves' noise: a lower bar.  On "q20,
# crop 5, q85, q95" the excess was 0.33-0.74 (18 dev pictures; the quality read 20 on each).
SHIFTED_DETECT = 0.25
NEAR_BEST = 0.9
# A shifted grid: its steps across lines at least this many times those elsewhere, and this much above phase 0's.
SHIFTED_GRID = 1.12
SHIFTED_MARGIN = 0.04


@dataclass(frozen=True)
class DoubleQuantization:
    """The verdict of the same-grid test."""

    recompressed: bool
    first_quality: int | None  # IJG quality of the harshest earlier compression, when recompressed
    excess: float  # the best candidate's excess over chance (about 0 when compressed once)
    coefficients: int  # how many coefficients the emptiest candidate's bins should have held


def luma_coefficients(image: Image.Image, max_blocks: int = MAX_BLOCKS) -> np.ndarray:
    """(N, 64) DCT coefficients of the luma of up to ``max_blocks`` 8x8 blocks
    on the grid from the top-left corner (level-shifted, natural order).  Only
    the chosen blocks become floats, so a large picture costs its bytes once."""
    pixels = np.asarray(image if image.mode in ("L", "RGB") else image.convert("RGB"))
    rows, cols = pixels.shape[0] // 8, pixels.shape[1] // 8
    if rows == 0 or cols == 0:
        return np.zeros((0, 64))
    chosen = np.linspace(0, rows * cols - 1, min(rows * cols, max_blocks)).astype(np.int64)
    # Blocks as rows of an (rows * cols, 8, 8[, 3]) view-then-copy of the 8-bit pixels: one cheap reshuffle.
    grid = pixels[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8, *pixels.shape[2:]).swapaxes(1, 2)
    blocks = grid.reshape(rows * cols, 8, 8, *pixels.shape[2:])[chosen].astype(np.float64)  # (N, 8, 8[, 3])
    if blocks.ndim == 4:
        blocks = jfif_luma(blocks)
    return block_dct(blocks - 128.0)




@cache
def _predicted(q2: int, q1: int, bins: int) -> np.ndarray:
    """Which multiples k of q2 (0 to bins - 1) a value once quantized with q1 can become: those within
    q2 / 2 + SLACK of a multiple of q1."""
    values = q2 * np.arange(bins)
    return np.abs(values - q1 * np.round(values / q1)) <= q2 / 2 + SLACK


def _expected_in_gaps(h: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(what the bins a coarser quantization leaves empty hold, the least they would hold if the
    histogram fell smoothly through them): a histogram of |k| falls (more and more slowly) with k,
    so a bin between two fillable ones holds at least the smaller of the two.  After one
    quantization the gaps hold that or more; after a coarser one they are nearly empty.  Bin 0,
    which holds every small coefficient, is left out."""
    filled = np.flatnonzero(predicted[1:]) + 1
    a, b = filled[:-1], filled[1:]
    gap = b - a - 1
    cumulative = np.cumsum(h)
    held = (cumulative[b - 1] - cumulative[a])[gap > 0].sum()
    expected = (gap * np.minimum(h[a], h[b]))[gap > 0].sum()
    return float(held), float(expected)


def double_quantization(image: Image.Image | np.ndarray, luma_table: list[int], bins: int = BINS,
                        detect: float = DETECT) -> DoubleQuantization:
    """Whether the luma of ``image`` (decoded pixels, in the file's orientation)
    was quantized more coarsely than ``luma_table`` (the file's, natural order)
    before, on the same grid, and with which IJG quality.

    For each low frequency, the histogram of |k| (the file's integers, k =
    coefficient / q2) is smooth after one quantization; after an earlier,
    coarser one with step q1, the bins that no multiple of q1 rounds to are
    nearly empty.  A candidate q1's *excess* is 1 - (what those bins hold) /
    (what their neighbours say they would hold): near 1 for the true q1 (and
    for finer tables whose steps divide it), near 0 for a picture quantized
    once, and low for tables coarser than the truth.  ``bins``: the levels
    read per frequency (a table of ones, for a grid no later save quantized,
    needs many more than the file's own).  ``image`` may also be its
    ``luma_coefficients``, when they are read more than once."""
    last = np.asarray(luma_table, dtype=np.float64)
    if last.shape != (64,) or last.min() < 1:  # not a table any encoder writes: nothing to measure
        return DoubleQuantization(False, None, 0.0, 0)
    last = last[POSITIONS]
    coefficients = (image if isinstance(image, np.ndarray) else luma_coefficients(image))[:, POSITIONS]
    levels = np.abs(np.round(coefficients / last)).astype(np.int64)
    histograms = [np.bincount(np.minimum(levels[:, j], bins), minlength=bins + 1)[:bins] for j in range(len(POSITIONS))]
    excess_by_quality: dict[int, float] = {}
    evidence = 0
    for quality in range(1, 100):
        steps = np.asarray(ijg_table(LUMA_BASE, quality), dtype=np.float64)[POSITIONS]
        held, expected = 0.0, 0.0
        for j, h in enumerate(histograms):
            q1, q2 = steps[j], last[j]
            if q1 < INFORMATIVE * q2 or q1 > q2 * bins / MIN_PERIODS:
                continue
            gap_held, gap_expected = _expected_in_gaps(h, _predicted(int(q2), int(q1), bins))
            held += gap_held
            expected += gap_expected
        if expected < MIN_COEFFICIENTS:
            continue
        excess_by_quality[quality] = 1.0 - held / expected
        evidence = max(evidence, int(expected))
    if not excess_by_quality:
        return DoubleQuantization(False, None, 0.0, evidence)
    top = max(excess_by_quality.values())
    if top < detect:
        return DoubleQuantization(False, None, max(top, 0.0), evidence)
    harshest = min(q for q, e in excess_by_quality.items() if e >= NEAR_BEST * top)
    return DoubleQuantization(True, harshest, top, evidence)


def quantized_quality(image: Image.Image, phase: tuple[int, int] = (0, 0), detect: float = DETECT) -> int | None:
    """The IJG quality of the harshest JPEG compression that the luma DCT of
    ``image`` still shows on the 8x8 grid whose blocks start at ``phase``
    (dy, dx), for a picture that was decoded and then kept without loss (a
    PNG of a JPEG); None when it shows none.  The harshest quantization leaves
    the widest gaps in the histograms (``double_quantization`` against a table
    of ones); a gentler last save can still hide an earlier, harsher one, so
    the histograms are read again against the found quality's table.
    ``detect``: the excess that counts (``SHIFTED_DETECT`` on a shifted grid)."""
    dy, dx = phase
    coefficients = luma_coefficients(image.crop((dx, dy, image.width, image.height)) if phase != (0, 0) else image)
    for bins in (BINS, 2 * BINS):  # a harsh table's steps need the longer histograms
        found = double_quantization(coefficients, [1] * 64, bins, detect)
        if found.recompressed:
            break
    else:
        return None
    earlier = double_quantization(coefficients, ijg_table(LUMA_BASE, found.first_quality))
    if earlier.recompressed and earlier.first_quality < found.first_quality:
        return earlier.first_quality
    return found.first_quality


def with_history(image: Image.Image, jpeg):
    """``jpeg`` (a ``JpegInfo``) with ``history`` measured on ``image``, the file's
    decoded pixels in its own orientation; unchanged where there is nothing to
    measure (no luma table, a CMYK or other mode)."""
    if jpeg is None or 0 not in jpeg.quantization or image.mode not in ("L", "RGB"):
        return jpeg
    return replace(jpeg, history=double_quantization(image, jpeg.quantization[0]))


def grid_phases(image: Image.Image) -> np.ndarray:
    """(8, 8) blockiness of every grid phase: entry (dy, dx) is the mean luma
    step across the lines of the 8x8 grid whose blocks start at (dy, dx),
    over the mean step elsewhere (about 1 for no grid; the file's own grid is
    phase (0, 0))."""
    if min(image.size) < 16:
        return np.ones((8, 8))
    across_sum, across_count, down_sum, down_count = residue_steps(image)
    across_mean, down_mean = across_sum / np.maximum(across_count, 1), down_sum / np.maximum(down_count, 1)
    # A grid starting at column dx has its vertical lines between pixels dx - 1 and dx (residue dx - 1).
    line_x = np.roll(across_mean, 1)  # line_x[dx] = mean step across the lines of phase dx
    line_y = np.roll(down_mean, 1)
    inside_x = (across_mean.sum() - line_x) / 7
    inside_y = (down_mean.sum() - line_y) / 7
    return (line_y[:, None] + line_x[None, :]) / np.maximum(inside_y[:, None] + inside_x[None, :], 1e-6)


def shifted_grid(image: Image.Image, own: tuple[int, int] = (0, 0)) -> tuple[int, int] | None:
    """The phase (dy, dx) of an earlier compression's grid that no longer
    lines up with the file's (whose blocks start at phase ``own``), when its
    blocks are clearly visible; else None."""
    phases = grid_phases(image)
    dy, dx = np.unravel_index(int(np.argmax(phases)), phases.shape)
    if (dy, dx) == own:
        return None
    if phases[dy, dx] < SHIFTED_GRID or phases[dy, dx] < phases[own] + SHIFTED_MARGIN:
        return None
    return int(dy), int(dx)
