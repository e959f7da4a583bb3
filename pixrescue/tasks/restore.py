"""JPEG artifact removal.

Two kinds of model:

- the seed models (grayscale, one quality): a colour image goes through them
  one RGB channel at a time;
- the blind model (the default): the whole RGB image at once (grayscale as
  three equal channels), told how strongly the picture was compressed.  For
  a JPEG that is the file's own quantization tables; for another format the
  model's quality estimator guesses the IJG quality of the last compression
  from the pixels; ``strength`` (an IJG quality) overrides both, which helps
  with pictures compressed harder earlier in their life than the last time.
  A non-JPEG picture is returned unchanged when it shows no sign of JPEG: the
  estimate is at least ``UNTOUCHED_FROM`` and there is no 8x8 grid in its
  pixels (``jpeg.grid_strength`` under ``GRID_EVIDENCE``).  The estimator
  alone cannot tell a clean photograph from a quality-80 JPEG (it says 67-86
  for clean skimage photographs), while grid strength is 0.98-1.05 for clean
  dev and skimage photographs and 1.07 or more for most JPEGs of quality 80
  or lower; together they leave clean pictures alone and restore re-saved
  JPEGs of quality up to about 80 (and resized ones, which the estimator
  places around 50).

``project`` (JPEG inputs only) moves the result back into the quantization
intervals the file proves (see ``imaging/projection.py``).  ``passes`` feeds
the output through the network again.  Alpha is split off before and put
back unchanged after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .. import zoo
from ..imaging import ImageLoadError, Picture
from ..imaging.history import DETECT, SHIFTED_DETECT, quantized_quality, shifted_grid
from ..imaging.jpeg import JpegInfo, grid_strength, ijg_tables, table_vector
from ..imaging.projection import project as project_to_file
from ..imaging.side_info import SideInfoError
from ..imaging.tensors import from_pixels, merge_alpha, split_alpha, to_pixels, to_rgb_batch
from ..runner import prepared, run_on_colour, run_tiled

# A non-JPEG picture is left alone when the estimate is at least this and ...
UNTOUCHED_FROM = 60
# ... the 8x8 grid is no stronger than this (see grid_strength).
GRID_EVIDENCE = 1.06
_ESTIMATE_CROP = 128
_ESTIMATE_GRID = 4

# What exif_transpose did for each EXIF orientation, and its inverse.
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_AS_STORED = {**_UPRIGHT, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


class UnsupportedTablesError(ImageLoadError):
    """A JPEG whose quantization tables the blind model cannot be told."""


def check_model(model: str, strength: int | None = None) -> None:
    """Refuse (UnknownModelError / ValueError, one line) a model that is not an
    artifact remover, or ``strength`` for a model trained for one quality."""
    spec = zoo.require_task(model, "jpeg", "fix")
    if strength is not None and not spec.conditioned:
        raise ValueError(f"--strength needs a blind model; {model} was trained for one quality")


def default_projection(model: str) -> bool:
    """Whether ``model`` projects JPEG results by default: its card says, from
    the benchmark that measured what projection adds (``benchmarks/jpeg.py``)."""
    return bool(zoo.load_card(model).get("inference", {}).get("project", False))


def _estimate_crops(image: Image.Image, phase: tuple[int, int]) -> torch.Tensor | None:
    """Up to 16 crops of ``image`` on the 8x8 grid whose blocks start at ``phase``
    (K, 3, S, S), or None when it is too small to judge."""
    colour = split_alpha(image)[0]
    dy, dx = phase
    colour = colour.crop((dx, dy, colour.width, colour.height)) if phase != (0, 0) else colour
    width, height = colour.size
    side = min(_ESTIMATE_CROP, height // 8 * 8, width // 8 * 8)
    if side < 16:
        return None
    tops = sorted({int(t) // 8 * 8 for t in np.linspace(0, height - side, _ESTIMATE_GRID)})
    lefts = sorted({int(v) // 8 * 8 for v in np.linspace(0, width - side, _ESTIMATE_GRID)})
    return torch.cat([to_rgb_batch(colour.crop((v, t, v + side, t + side))) for t in tops for v in lefts])


@torch.inference_mode()
def estimate_quality(model: str, image: Image.Image, phase: tuple[int, int] = (0, 0)) -> int:
    """The blind model's guess of the IJG quality (1-100) of the last JPEG
    compression ``image`` went through (100: never compressed).  Looks at up to
    16 crops on the 8x8 grid and takes the median."""
    crops = _estimate_crops(image, phase)
    if crops is None:
        return 100  # too small to judge
    return int(round(float(zoo.load_model(model).estimate_quality(crops).median()) * 100))


@torch.inference_mode()
def harsher_before(model: str, image: Image.Image, phase: tuple[int, int], last: int) -> tuple[int, bool]:
    """(the quality to tell the network, whether ``image`` was compressed harder
    before its last save at quality ``last``) when nothing else shows it (the
    crops of ``estimate_quality``).  Harsher before: the estimate is
    ``RESHARED_MARGIN`` points harsher than ``last``, or the model's re-share
    detector says so above the probability its card gives (``reshare.threshold``,
    from its training); the quality told is then ``RESHARED_TELL_HARSHER`` below
    the estimate, but not below ``RESHARED_TELL_FLOOR`` unless the estimate is.
    Otherwise it is the estimate."""
    crops = _estimate_crops(image, phase)
    if crops is None:
        return 100, False
    network = zoo.load_model(model)
    threshold = zoo.load_card(model).get("reshare", {}).get("threshold")
    if threshold is None:
        seen = int(round(float(network.estimate_quality(crops).median()) * 100))
        detected = False
    else:
        estimate, logit = network.detect_reshare(crops[None], torch.tensor([last / 100.0]))
        seen = int(round(float(estimate[0]) * 100))
        detected = seen < last and float(torch.sigmoid(logit[0])) > threshold
    if seen <= last - RESHARED_MARGIN or detected:
        return min(seen, max(seen - RESHARED_TELL_HARSHER, RESHARED_TELL_FLOOR)), True
    return seen, False


def file_grid_phase(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Where (dy, dx) the file's 8x8 blocks start in the upright picture of ``size``
    (width, height) that loading turned by EXIF ``orientation``: a flip moves them
    to the far side, where a side that is no multiple of 8 shifts them."""
    if orientation not in _UPRIGHT:
        return 0, 0
    width, height = size
    stored_w, stored_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    # A stand-in of the same size modulo 8, its first block marked, turned as the picture was.
    marker = np.zeros((8 + stored_h % 8, 8 + stored_w % 8), np.uint8)
    marker[:8, :8] = 255
    rows, columns = np.nonzero(np.asarray(Image.fromarray(marker).transpose(_UPRIGHT[orientation])))
    return int(rows.min() % 8), int(columns.min() % 8)


@dataclass(frozen=True)
class Conditioning:
    """What the blind network is told about a picture, and why."""

    tables: np.ndarray | None  # 128 steps; None: the picture shows no compression, leave it alone
    project: bool  # the file's quantization intervals describe the picture (a single compression)
    why: str


# ``harsher_before``: a JPEG whose pixels look at least this many IJG quality points harsher than
# its own tables (the estimator) is taken as compressed harder before a resize (which leaves no
# grid and no double quantization to measure).  Chosen on the dev sets: on 43 single JPEGs at
# q50-q95 the estimator's gap to the file's quality reached 38 (median 12-22), on "q15, x0.9, q90"
# it was 32-55 (median 46).  Alone it missed most of "q20, x0.7, q85" (gaps 21-43), which the
# re-share detector finds; the detector alone missed one "q15, x0.9, q90" picture of nine that
# the margin finds (benchmarks/reshared.py), so either one is enough.
RESHARED_MARGIN = 35
# The estimator reads a resized history gentler than the quality the network gains most from
# being told ("q15, x0.9, q90": estimates 37-54, best fixed setting 20).  Told the estimate minus
# 0 / 10 / 20 points, the resized rows of benchmarks/reshared.py (9 dev pictures, JPEG) came
# within -0.23 / -0.13 / -0.13 dB of their best fixed setting at the worst; 10 risks less on a
# single save taken for a re-shared one.  A harsh reading needs no such help: pixels that kept
# their blocks are read within a few points ("q15, q75, q90" read 15, when the histograms missed
# it), so the quality told goes no lower than RESHARED_TELL_FLOOR unless the estimate does.
RESHARED_TELL_HARSHER = 10
RESHARED_TELL_FLOOR = 20


def conditioning(model: str, colour: Image.Image, jpeg: JpegInfo | None = None, strength: int | None = None,
                 orientation: int = 1) -> Conditioning:
    """The tables to tell the blind network for ``colour`` (L or RGB, upright).

    ``strength`` decides alone.  A JPEG is told the harshest compression its
    pixels show: an earlier, coarser one on the same grid (``jpeg.history``,
    the DCT histograms), on a shifted grid (``history.shifted_grid``) or
    after a resize (``harsher_before``: the re-share detector; then the
    estimator's quality), else its own tables, whose intervals the result may
    then be projected into.  Another picture is told the quality its DCT
    histograms show on the strongest grid (``history.quantized_quality``; the
    estimator's when ``harsher_before`` says the pixels were compressed harder
    before), else the estimator's quality, or is left alone when it shows no
    compression."""
    if strength is not None:
        return Conditioning(ijg_tables(strength), True, f"told quality {strength} (--strength)")
    own = file_grid_phase(colour.size, orientation) if jpeg is not None else (0, 0)
    shifted = shifted_grid(colour, own)
    phase = shifted or own
    where = f" on a grid shifted by {phase[1]},{phase[0]} pixels" if shifted else ""
    if jpeg is not None and 0 in jpeg.quantization:
        tables = table_vector(jpeg.quantization)
        if tables.min() < 1 or tables.max() > 255:
            # No encoder writes a step of 0 (it divides by it), and the network never saw steps over 255.
            raise UnsupportedTablesError(
                f"its quantization tables hold a step of {int(tables.min() if tables.min() < 1 else tables.max())}, "
                "outside the 1-255 the model knows: not restored "
                "(`pixrescue fix --strength QUALITY` chooses the tables instead)")
        # Every sign of an earlier, coarser compression, as (quality, what showed it); the harshest wins.
        evidence = []
        earlier = jpeg.history
        if earlier is not None and earlier.recompressed:
            evidence.append((earlier.first_quality, "on the same grid"))
        if shifted:  # an earlier grid's coefficients show their quantization through the last save's noise
            before = quantized_quality(colour, shifted, SHIFTED_DETECT)
            if before is not None:
                evidence.append((before, where.strip()))
        if not evidence:
            seen, harsher = harsher_before(model, colour, phase, jpeg.quality)
            if harsher:
                evidence.append((seen, f"in its pixels{where}"))
        evidence = [(quality, how) for quality, how in evidence if quality < jpeg.quality]
        if evidence:
            quality, how = min(evidence)
            return Conditioning(ijg_tables(quality), False, f"compressed at about quality {quality} ({how}) before "
                                f"its last save at {jpeg.quality}")
        return Conditioning(tables, orientation in range(1, 9), f"its own tables (quality {jpeg.quality})")
    # The DCT histograms of a decoded JPEG kept without loss show its harshest quantization exactly
    # (the estimator is off by several quality points, and takes a gentle one for a clean picture),
    # unless a resize came before that save: then the re-share detector decides, as for a JPEG file.
    read = quantized_quality(colour, phase, SHIFTED_DETECT if shifted else DETECT)
    if read is not None:
        quality, harsher = harsher_before(model, colour, phase, read)
        if not harsher:
            return Conditioning(ijg_tables(read), False, f"its DCT coefficients show JPEG quality {read}{where}")
        return Conditioning(ijg_tables(quality), False, f"compressed at about quality {quality}{where} before the "
                                                        f"JPEG quality {read} its DCT coefficients show")
    quality = estimate_quality(model, colour, phase)
    # A resize after the last save leaves only the estimator.
    grid = grid_strength(colour)
    if quality >= UNTOUCHED_FROM and grid < GRID_EVIDENCE and not shifted:
        return Conditioning(None, False, f"no sign of JPEG compression (estimated quality {quality}, 8x8 grid "
                                         f"strength {grid:.2f} < {GRID_EVIDENCE})")
    return Conditioning(ijg_tables(quality), False, f"estimated quality {quality}{where}")


@torch.inference_mode()
def restore_frame(
    frame: Image.Image,
    model: str,
    passes: int = 1,
    tile: int | None = -1,
    jpeg: JpegInfo | None = None,
    strength: int | None = None,
    project: bool | None = None,
    orientation: int = 1,
    notes: list[str] | None = None,
) -> Image.Image:
    """``frame`` (L, LA, RGB or RGBA) with its JPEG artifacts removed.

    ``jpeg`` is what the source file said about its compression (``Picture.jpeg``);
    ``orientation`` the EXIF orientation that loading applied (needed to line
    the projection up with the file's 8x8 grid).  ``project``: None projects
    when the model's card says so and the picture shows a single compression.
    ``tile=-1`` uses the model's own tile size, None runs the whole image at
    once.  ``notes``, when given, receives what the network was told and why
    (the first word "unchanged" when the frame is returned as it was).
    """
    if passes < 1:
        raise ValueError("passes must be at least 1")
    spec = zoo.get_spec(model)
    tile = spec.tile if tile == -1 else tile
    network = zoo.load_model(model)
    colour, alpha = split_alpha(frame)
    if not spec.conditioned:
        gray = spec.colour == "gray"
        call, bf16 = prepared(model, network, (torch.rand(1, 1 if gray else 3, 64, 64),))
        return merge_alpha(run_on_colour(call, colour, spec.receptive_radius, tile, gray, passes, bf16=bf16), alpha)

    told = conditioning(model, colour, jpeg, strength, orientation)
    if notes is not None:
        notes.append(("unchanged: " if told.tables is None else "") + told.why)
    if told.tables is None:
        return frame.copy()
    project = default_projection(model) and told.project if project is None else project
    tables = torch.from_numpy(told.tables)[None]
    # Channels-last memory is about 1.5x faster for this network on a CPU (measured, 2 cores).
    network = network.to(memory_format=torch.channels_last)
    x = to_pixels(colour.convert("RGB"))  # 8-bit, channels-last; the runner makes floats tile by tile
    call, bf16 = prepared(model, network, (torch.rand(1, 3, 64, 64), tables))
    for _ in range(passes):
        x = run_tiled(lambda t: call(t, tables), x, margin=spec.receptive_radius, tile=tile, bf16=bf16)
    restored = from_pixels(x, colour.mode)
    # Projection knows the JFIF YCbCr and grayscale layouts; a CMYK file's tables describe other channels.
    if project and jpeg is not None and 0 in jpeg.quantization and jpeg.mode in ("L", "RGB"):
        projected = project_onto_file(np.asarray(restored), np.asarray(colour), jpeg, orientation)
        restored = Image.fromarray(projected, colour.mode)
    return merge_alpha(restored, alpha)


def project_onto_file(restored: np.ndarray, decoded: np.ndarray, jpeg: JpegInfo, orientation: int) -> np.ndarray:
    """Projection in the file's own orientation, where its 8x8 grid starts at the corner."""
    def turn(array: np.ndarray, table: dict) -> np.ndarray:
        return np.asarray(Image.fromarray(array).transpose(table[orientation])) if orientation in table else array

    luma = list(jpeg.quantization[0])
    chroma = list(jpeg.quantization.get(1, luma))
    # On the threads the networks were given (--threads, pixrescue.set_threads).
    projected = project_to_file(turn(restored, _AS_STORED), turn(decoded, _AS_STORED), luma, chroma,
                                jpeg.subsampling, threads=torch.get_num_threads())
    return turn(projected, _UPRIGHT)


def restore_picture(picture: Picture, model: str | None = None, passes: int = 1, strength: int | None = None,
                    project: bool | None = None) -> Picture:
    """Every frame of ``picture`` restored; metadata kept.  A JPEG that carries
    usable side information (``pixrescue compress``) is restored with it when
    ``model`` is the blind model it refines and no ``strength`` or extra pass is
    asked for; side information that cannot be used (stripped in part, damaged,
    the JPEG re-compressed) leaves the picture to the blind model, and the
    result's ``steps`` says why in one line."""
    model = model or zoo.DEFAULT_MODEL["jpeg"]
    warning = None
    if picture.jpeg is not None and picture.jpeg.side_info is not None:
        from .side_info import SideInfoUnavailable, restore_with_side_info, usable_record

        try:
            record, warning = usable_record(picture)
            if record is not None and (zoo.get_spec(record.model).base != model or strength is not None
                                       or passes != 1):
                record, warning = None, (f"its side information goes with {zoo.get_spec(record.model).base} "
                                         "alone, without --strength or --passes")
            if record is not None:
                return restore_with_side_info(picture, record)
        except (SideInfoUnavailable, SideInfoError) as exc:
            warning = str(exc)
    restored = _restore_frames(picture, model, passes, strength, project)
    if warning is not None:
        restored.steps = f"warning: {warning}: restored blindly"
    return restored


def _restore_frames(picture: Picture, model: str, passes: int, strength: int | None,
                    project: bool | None) -> Picture:
    notes: list[str] = []
    restored = picture.with_frames([
        restore_frame(f, model, passes, jpeg=picture.jpeg, strength=strength, project=project,
                      orientation=picture.orientation, notes=notes)
        for f in picture.frames
    ])
    left = [note.removeprefix("unchanged: ") for note in notes if note.startswith("unchanged: ")]
    if picture.frames and len(left) == len(picture.frames):  # every frame left as it was
        restored.unchanged = left[0]
    return restored
