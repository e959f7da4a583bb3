"""Quantization-constraint projection for restored JPEG images.

A JPEG file proves that each 8x8 DCT coefficient of the original lay within
half a quantization step of the value the file stores.  After a network has
restored the decoded pixels, this module moves every coefficient of the
result back into that interval: the result then agrees with the file, as
any true original would.

The stored coefficients are not read from the file (Pillow decodes to pixels
only); they are recomputed from the decoded pixels, which gives them back
exactly for luma (pixel rounding moves a coefficient by much less than half
a step) and closely for subsampled chroma (the decoder's smooth upsampling is
undone by a 2x2 mean).  Colour conversion is the JFIF one libjpeg uses
(``imaging/colour.py``).

It computes in float32, all blocks of a strip at once, strips on as many
threads as the process has cores (numpy lets go of the interpreter lock in
its array work), each strip's matrix products on one BLAS thread: BLAS
threads of their own on top only fought the strips' threads.  A 2048x2048
colour picture, quiet 2-core machine: 0.30 s in strips of 512 rows on one
thread (BLAS on two), 0.14 s in strips of 128 on two (float64 with a stacked
matrix product took 11 s).  The result equals a float64 block-by-block
projection within one level (tested), and is the same whatever the threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from ..training.machine import usable_cores
from .colour import rgb_to_ycbcr, ycbcr_to_rgb

_N = 8
_k = np.arange(_N)
# Orthonormal DCT-II matrix: coefficients = D @ block @ D.T
DCT = np.sqrt(2.0 / _N) * np.cos(np.pi * (2 * _k[None, :] + 1) * _k[:, None] / (2 * _N))
DCT[0] /= np.sqrt(2.0)
# The same on a block flattened to 64 values (row by row): coefficients = DCT_2D @ vec(block).
# Many blocks at once are then one (N, 64) x (64, 64) product, far faster than N small ones.
DCT_2D = np.kron(DCT, DCT)


def block_dct(blocks: np.ndarray) -> np.ndarray:
    """The 2-D DCT of (..., 8, 8) blocks, as (..., 64) coefficients in natural order."""
    # One 2-D (N, 64) x (64, 64) product: a stacked (A, B, 64) operand makes numpy loop over A.
    flat = blocks.reshape(-1, _N * _N)
    return (flat @ DCT_2D.T.astype(flat.dtype, copy=False)).reshape(*blocks.shape[:-2], _N * _N)


def block_idct(coefficients: np.ndarray) -> np.ndarray:
    """The (..., 8, 8) blocks whose DCT is ``coefficients`` (..., 64)."""
    flat = coefficients.reshape(-1, _N * _N)
    return (flat @ DCT_2D.astype(flat.dtype, copy=False)).reshape(*coefficients.shape[:-1], _N, _N)


def _blocks(plane: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """(H, W) -> (H/8, W/8, 8, 8) after edge padding to multiples of 8."""
    h, w = plane.shape
    padded = np.pad(plane, ((0, -h % _N), (0, -w % _N)), mode="edge")
    bh, bw = padded.shape[0] // _N, padded.shape[1] // _N
    return padded.reshape(bh, _N, bw, _N).transpose(0, 2, 1, 3), (h, w)


def _unblocks(blocks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    bh, bw = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(bh * _N, bw * _N)[: shape[0], : shape[1]]


def project_plane(restored: np.ndarray, decoded: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The change to ``restored`` (one plane, level-shifted floats) that puts
    each of its 8x8 DCT coefficients inside the interval ``decoded`` proves."""
    steps = np.asarray(table, dtype=np.float32).reshape(_N * _N)
    res_blocks, shape = _blocks(restored)
    dec_blocks, _ = _blocks(decoded)
    res_coef = block_dct(res_blocks)
    stored = np.round(block_dct(dec_blocks) / steps)
    low, high = (stored - 0.5) * steps, (stored + 0.5) * steps
    change = np.clip(res_coef, low, high) - res_coef
    return _unblocks(block_idct(change), shape)


def _halve(plane: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """The mean of each fy x fx cell (edge-padded): strided sums, 5x faster than a reshaped mean."""
    h, w = plane.shape
    padded = np.pad(plane, ((0, -h % fy), (0, -w % fx)), mode="edge")
    total = sum(padded[i::fy, j::fx] for i in range(fy) for j in range(fx))
    return total * np.float32(1 / (fy * fx)) if fy * fx > 1 else total


# Rows projected at a time: a multiple of 16 (the largest JPEG block row, 4:2:0's), so that
# strips hold whole blocks and the result is the same as in one piece, with floats of a few strips
# only (a 2048x2048 fix's peak memory: 650-660 MB with 128, 660-700 with 256, 730-770 with 512).
STRIP = 128


def project(restored: np.ndarray, decoded: np.ndarray, luma: list[int], chroma: list[int] | None,
            subsampling: str, threads: int | None = None) -> np.ndarray:
    """``restored`` (H x W or H x W x 3 uint8) moved into the quantization
    intervals of the JPEG whose decoded pixels are ``decoded``; strips of
    ``STRIP`` rows on ``threads`` threads (default: the cores this process may use)."""
    if restored.shape[0] <= STRIP:
        return _project_strip(restored, decoded, luma, chroma, subsampling)
    tops = range(0, restored.shape[0], STRIP)

    def strip(top: int) -> np.ndarray:
        return _project_strip(restored[top : top + STRIP], decoded[top : top + STRIP], luma, chroma, subsampling)

    workers = min(len(tops), threads or usable_cores())
    if workers <= 1:
        return np.concatenate([strip(top) for top in tops])
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(strip, tops)))


def _project_strip(restored: np.ndarray, decoded: np.ndarray, luma: list[int], chroma: list[int] | None,
                   subsampling: str) -> np.ndarray:
    if restored.ndim == 2:
        out = restored + project_plane(restored.astype(np.float32) - 128, decoded.astype(np.float32) - 128,
                                       np.array(luma))
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    factors = {"4:2:0": (2, 2), "4:2:2": (1, 2)}.get(subsampling, (1, 1))
    res = rgb_to_ycbcr(restored.astype(np.float32))
    dec = rgb_to_ycbcr(decoded.astype(np.float32))
    res[..., 0] += project_plane(res[..., 0] - 128, dec[..., 0] - 128, np.array(luma))
    h, w = restored.shape[:2]
    for c in (1, 2):
        small_res = _halve(res[..., c], *factors) - 128
        small_dec = _halve(dec[..., c], *factors) - 128
        change = project_plane(small_res, small_dec, np.array(chroma if chroma is not None else luma))
        res[..., c] += change.repeat(factors[0], axis=0).repeat(factors[1], axis=1)[:h, :w]
    return np.clip(np.round(ycbcr_to_rgb(res)), 0, 255).astype(np.uint8)
