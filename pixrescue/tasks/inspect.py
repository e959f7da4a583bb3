"""What is wrong with a picture and what would help (``pixrescue inspect``).

Reads, writes nothing.  The JPEG facts come from the file (``imaging/jpeg.py``,
``imaging/history.py``); the quality seen in the pixels from the blind model's
estimator and the DCT histograms; what ``fix`` would do from
``tasks/restore.conditioning``, unchanged.  Blur and noise are measured on
the luma of the first frame (see docs/inspect.md for the thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..imaging import Picture
from ..imaging.colour import jfif_luma
from ..imaging.history import DETECT, SHIFTED_DETECT, quantized_quality, shifted_grid
from ..imaging.jpeg import grid_strength, ijg_tables
from ..imaging.tensors import split_alpha
from .quality import quality_score
from .restore import (Conditioning, UnsupportedTablesError, conditioning, default_projection, estimate_quality,
                      file_grid_phase)

# A picture whose shorter side is below this many pixels is called small: "upscale" helps.
SMALL_SIDE = 512
# Sharpness: the luma's energy above a Gaussian blur of sigma 1 over its energy between blurs of
# sigma 1 and 4.  On the 110 pictures of Kodak24, McMaster and CBSD68: sharp 0.13-2.3, the same
# blurred with sigma 1 0.05-0.20, sigma 1.5 0.03-0.07, sigma 2 0.02-0.04, JPEG q10 0.13-0.93.
# Below 0.1 (between sharp and sigma 1.5) is called blurred: no sharp dev picture is.
BLURRED_BELOW = 0.1
# Between 0.1 and 0.3 a soft but sharp picture and a mildly blurred one (camera motion of 5 px, a
# disc of radius 2, sigma 1) overlap, so there the deblurring network decides: the picture is
# blurred when the energy of the change the network makes to its luma is more than CHANGED_ABOVE
# times the luma's own energy above a sigma-1 blur (the band sharpness reads; a ratio, so flat
# areas do not dilute it).  Measured on 346 cases: random 256x256 crops of 24 dev pictures (Set14,
# and pictures of Kodak24, McMaster and CBSD68 that benchmarks/auto.py does not use), each clean,
# as JPEG q10-90, and blurred by nine kernels with and without a JPEG save: clean pictures 0.76 at
# most, JPEG ones 1.0, blurred ones 1.45 at the 5th percentile and 10 at the median.  Against the
# sharpness line alone the rule took the deblurring gain on those blurred cases from +1.60 to
# +1.95 dB (every blurred case deblurred: +1.98) and on the blurred-then-JPEG ones from +1.39 to
# +1.57 (+1.60), deblurring no clean or JPEG case.
CHECKED_BELOW = 0.3
CHANGED_ABOVE = 1.2
CHECK_SIDE = 768  # the deblurring network is tried on the picture's centre, at most this side
_FINE, _COARSE = 1.0, 4.0
_MIN_DETAIL = 0.5


@dataclass(frozen=True)
class Inspection:
    """What ``pixrescue inspect`` reports about one picture (``asdict`` is its JSON)."""

    source: str | None  # the file read, when there is one
    format: str | None  # the file's format (JPEG, PNG ...)
    width: int
    height: int
    mode: str  # L, LA, RGB or RGBA, as loaded
    has_alpha: bool
    frames: int
    icc: bool  # an ICC profile is present
    exif_orientation: int  # the EXIF orientation that loading applied (1: none)
    # A JPEG file's tables (None for other pictures)
    jpeg_quality: int | None  # the IJG quality whose tables are closest to the file's
    jpeg_quality_exact: bool | None  # the file's tables are exactly that quality's
    subsampling: str | None  # chroma subsampling: 4:4:4, 4:2:2, 4:2:0, none (gray) or unknown
    recompressed: bool | None  # compressed more coarsely before its last save, on the same grid
    first_quality: int | None  # the quality of that earlier compression
    # An earlier compression's 8x8 grid off the file's own (dy, dx), and its quality when readable
    shifted_grid: tuple[int, int] | None
    shifted_quality: int | None  # JPEG files only: a picture without tables has it in dct_quality
    # Any picture
    estimated_quality: int  # the default model's estimate of the last JPEG quality (100: clean)
    dct_quality: int | None  # pictures without tables: the JPEG quality their DCT histograms show
    blockiness: float  # 8x8 grid strength: about 1.0 without JPEG blocks, 1.1 and up with
    sharpness: float | None  # high- over mid-frequency energy of the luma (None: flat)
    blurred: bool  # sharpness below BLURRED_BELOW, or below CHECKED_BELOW and much changed by deblurring
    noise: float  # estimated standard deviation of Gaussian noise in the luma, in 8-bit levels
    quality_score: float  # 0-100, higher is better: the quality network's prediction (tasks/quality.py)
    predicted_psnr: float  # the PSNR against its clean original the picture is predicted to have (dB)
    # What `fix` would tell the network, and why
    fix: str  # conditioning's reason; "unchanged: ..." when fix leaves the picture alone, "refused: ..." when it fails
    fix_quality: int | None  # the IJG quality whose tables fix tells, when it tells IJG tables
    fix_projects: bool  # fix moves its result back into the file's quantization intervals
    recommendations: tuple[str, ...]  # steps that would help: fix, upscale, deblur
    # pixrescue compress's side information in a JPEG: its size and model, or why fix cannot use it
    side_info: str | None = None


def sharpness(luma: np.ndarray) -> float | None:
    """Energy of ``luma`` above a Gaussian blur of sigma 1 over its energy
    between blurs of sigma 1 and 4: a blur removes the first far sooner than
    the second, whatever the picture's contrast.  None for a picture with no
    detail to judge (that band's RMS under ``_MIN_DETAIL`` levels: flat)."""
    from scipy.ndimage import gaussian_filter

    fine = gaussian_filter(luma, _FINE)
    mid = float(np.mean((fine - gaussian_filter(luma, _COARSE)) ** 2))
    return float(np.mean((luma - fine) ** 2) / mid) if mid >= _MIN_DETAIL**2 else None


def blur_check(judged: Image.Image, source: Image.Image, deblur_model: str
               ) -> tuple[float | None, bool, Image.Image | None]:
    """(the sharpness of ``judged``, whether it is called blurred, ``source``
    deblurred by ``deblur_model`` when the check computed all of it, else None).
    ``judged`` is the frame whose blur is judged (``source`` itself, or its
    deblocked version: block edges pass for detail); ``source`` is the frame
    the deblurring network is tried on when sharpness alone cannot decide: its
    centre, at most CHECK_SIDE pixels a side (the ratio is a mean, which a
    large crop estimates; a 24-megapixel photograph is not deblurred whole to
    be inspected)."""
    from scipy.ndimage import gaussian_filter

    from .deblur import deblur_frame

    sharp = sharpness(luma_of(split_alpha(judged)[0]))
    if sharp is None or sharp >= CHECKED_BELOW:
        return sharp, False, None
    if sharp < BLURRED_BELOW:
        return sharp, True, None
    width, height = source.size
    left, top = max(0, (width - CHECK_SIDE) // 2), max(0, (height - CHECK_SIDE) // 2)
    piece = source.crop((left, top, min(width, left + CHECK_SIDE), min(height, top + CHECK_SIDE)))
    deblurred = deblur_frame(piece, deblur_model)
    before, after = (luma_of(split_alpha(frame)[0]) for frame in (piece, deblurred))
    detail = float(np.mean((before - gaussian_filter(before, _FINE)) ** 2))
    change = float(np.mean((after - before) ** 2))
    return sharp, change > CHANGED_ABOVE * detail, deblurred if piece.size == source.size else None


def noise_level(luma: np.ndarray) -> float:
    """scikit-image's wavelet estimate of the Gaussian noise's standard deviation in ``luma`` (0-255)."""
    import warnings

    from skimage.restoration import estimate_sigma

    with warnings.catch_warnings():  # a picture a few pixels wide looks like colour channels to it
        warnings.simplefilter("ignore", UserWarning)
        return float(estimate_sigma(luma / 255.0, channel_axis=None)) * 255.0


def luma_of(colour: Image.Image) -> np.ndarray:
    """The JFIF luma (0-255, float32) of an L or RGB picture."""
    if colour.mode == "L":
        return np.asarray(colour, dtype=np.float32)
    return jfif_luma(np.asarray(colour.convert("RGB"), dtype=np.float32))


def ijg_quality_of(tables: np.ndarray | None) -> int | None:
    """The IJG quality whose 128 steps are exactly ``tables``, or None."""
    if tables is None:
        return None
    return next((q for q in range(1, 101) if np.array_equal(ijg_tables(q), tables)), None)


def recommend(fix_tells: bool, width: int, height: int, blurred: bool) -> tuple[str, ...]:
    """The steps that would help: fix (JPEG artifacts: fix would tell tables), upscale
    (shorter side below SMALL_SIDE), deblur (blurred)."""
    steps = []
    if fix_tells:
        steps.append("fix")
    if min(width, height) < SMALL_SIDE:
        steps.append("upscale")
    if blurred:
        steps.append("deblur")
    return tuple(steps)


def inspect_picture(picture: Picture, model: str, scorer: str, deblur_model: str) -> Inspection:
    """The inspection of ``picture`` (its first frame), with ``model`` as the
    blind artifact remover whose estimator and conditioning are reported,
    ``scorer`` as the quality network and ``deblur_model`` as the deblurring
    network that decides a doubtful sharpness (``blur_check``)."""
    colour = split_alpha(picture.image)[0]
    jpeg = picture.jpeg
    own = file_grid_phase(colour.size, picture.orientation) if jpeg is not None else (0, 0)
    shifted = shifted_grid(colour, own)
    phase = shifted or own
    has_tables = jpeg is not None and 0 in jpeg.quantization
    projectable = has_tables and jpeg.mode in ("L", "RGB")  # as restore_frame: not a CMYK file's tables
    history = jpeg.history if jpeg is not None else None
    try:
        told = conditioning(model, colour, jpeg, None, picture.orientation)
        fix = ("unchanged: " if told.tables is None else "") + told.why
    except UnsupportedTablesError as exc:  # fix fails on this file: say so rather than fail
        told, fix = Conditioning(None, False, str(exc)), f"refused: {exc}"
    sharp, blurred, _ = blur_check(colour, colour, deblur_model)
    luma = luma_of(colour)
    width, height = picture.size
    score, predicted = quality_score(scorer, colour)
    return Inspection(
        source=str(picture.source) if picture.source is not None else None,
        format=picture.format,
        width=width,
        height=height,
        mode=picture.mode,
        has_alpha=picture.has_alpha,
        frames=len(picture.frames),
        icc=picture.icc_profile is not None,
        exif_orientation=picture.orientation,
        jpeg_quality=jpeg.quality if jpeg is not None else None,
        jpeg_quality_exact=jpeg.quality_exact if jpeg is not None else None,
        subsampling=jpeg.subsampling if jpeg is not None else None,
        recompressed=history.recompressed if history is not None else None,
        first_quality=history.first_quality if history is not None else None,
        shifted_grid=shifted,
        shifted_quality=quantized_quality(colour, shifted, SHIFTED_DETECT) if has_tables and shifted else None,
        estimated_quality=estimate_quality(model, colour, phase),
        dct_quality=None if has_tables else quantized_quality(colour, phase, SHIFTED_DETECT if shifted else DETECT),
        blockiness=round(grid_strength(colour), 3),
        sharpness=None if sharp is None else round(sharp, 3),
        blurred=blurred,
        noise=round(noise_level(luma), 2),
        quality_score=round(score, 1),
        predicted_psnr=round(predicted, 2),
        fix=fix,
        fix_quality=ijg_quality_of(told.tables),
        fix_projects=told.tables is not None and told.project and default_projection(model) and projectable,
        recommendations=recommend(told.tables is not None, width, height, blurred),
        side_info=side_info_note(jpeg.side_info if jpeg is not None else None),
    )


def side_info_note(side) -> str | None:
    """One line on a JPEG's side information (``imaging.side_info.SideInfo``), None without any."""
    if side is None:
        return None
    made = f", {side.record.model}" if side.record is not None else ""
    return f"{side.size:,} bytes{made}" + (f"; not usable: {side.problem}" if side.problem else "")
