"""pixrescue: rescue images that the internet has degraded.

The Python API::

    import pixrescue
    fixed = pixrescue.restore("meme.jpg")             # path or PIL.Image in, PIL.Image out
    fixed = pixrescue.restore(image, model="srcnn.jpeg-q10-gray", passes=2)
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

    from .collection.catalog import MoveReport, UpdateReport
    from .collection.folder import Copy
    from .imaging import Picture
    from .tasks.inspect import Inspection

__all__ = ["auto", "autofixer", "compress", "compressor", "deblur", "deblurrer", "decode", "dupes", "encode", "expand", "expander", "fingerprint", "index", "inspect", "load", "models",
           "move_aside", "quality_score", "restore", "restorer", "save", "set_device", "set_precision", "set_threads", "shrink", "shrinker", "similar", "upscale", "upscaler"]
__version__ = "0.1.0"


def set_threads(threads: int) -> None:
    """Run the networks on ``threads`` CPU threads from now on (torch's default: the
    cores this process may use).  ValueError for fewer than one."""
    import torch

    if int(threads) < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    torch.set_num_threads(int(threads))


def set_precision(precision: str) -> None:
    """How the networks compute from now on: ``"auto"`` (the default: the fastest runtime
    each model's card allows on this processor: OpenVINO where the ``openvino`` extra is
    installed, bf16 autocast on a CPU with bf16 instructions, fp32 PyTorch elsewhere),
    ``"fp32"`` (PyTorch fp32: the same pixels on every machine) or ``"bf16"``.
    ValueError for anything else."""
    from .runner import set_precision as choose

    choose(precision)


def set_device(device: str) -> None:
    """Where the networks run from now on: ``"auto"`` (the default: a CUDA GPU when
    PyTorch sees one, else the CPU), ``"cpu"`` or ``"cuda"``.  On a GPU the networks
    compute in fp32.  ValueError for anything else, or for ``"cuda"`` where PyTorch
    sees no CUDA GPU."""
    from .runner import set_device as choose

    choose(device)


def restore(
    image: Image.Image | Picture | str | os.PathLike,
    model: str | None = None,
    passes: int = 1,
    strength: int | None = None,
    project: bool | None = None,
) -> Image.Image | Picture:
    """Remove JPEG artifacts from ``image`` (a path, a PIL image or a
    :class:`pixrescue.imaging.Picture`).

    ``model`` names a registered model (see :func:`models`; default: the blind
    ``qgunet.jpeg-blind``); ``passes`` runs it that many times.  The blind
    model reads the JPEG's quantization tables (from a path, or from a PIL
    image opened from a JPEG), and is told the harshest compression the
    pixels show when they were compressed harder before the last save, or
    estimates the compression from the pixels of another picture; ``strength``
    (an IJG quality, 1-100) overrides that, and needs a blind model
    (ValueError otherwise).  ``project`` moves the result back
    into the quantization intervals of the JPEG (default: as the model's card
    says, when the file shows a single compression).  Alpha is kept unchanged.
    A Picture gives a Picture: every frame restored, metadata kept.  A path
    (read with :func:`load`: EXIF orientation applied) or a PIL image gives
    a PIL image of the first frame.
    """
    from .imaging import Picture
    from .tasks.restore import restore_frame, restore_picture

    model = _restore_model(model, strength)
    if isinstance(image, Picture):
        return restore_picture(image, model, passes, strength=strength, project=project)
    if isinstance(image, (str, os.PathLike)):
        from .imaging import load

        picture = load(image)
        if picture.jpeg is not None and picture.jpeg.side_info is not None:  # pixrescue compress wrote it
            return restore_picture(picture, model, passes, strength=strength, project=project).image
        frame, jpeg, orientation = picture.image, picture.jpeg, picture.orientation
    else:
        frame, jpeg, orientation = _source(image)
    return restore_frame(frame, model, passes, jpeg=jpeg, strength=strength, project=project,
                         orientation=orientation)


def restorer(model: str | None = None, passes: int = 1, strength: int | None = None,
             project: bool | None = None) -> Callable[[Picture], Picture]:
    """:func:`restore` with these options, for many Pictures: the options are
    checked and the model loaded now (ValueError, FileNotFoundError), before
    any picture is."""
    from . import zoo

    model = _restore_model(model, strength)
    zoo.load_model(model)
    return functools.partial(restore, model=model, passes=passes, strength=strength, project=project)


def _restore_model(model: str | None, strength: int | None) -> str:
    """The artifact-removal model to use (the default when None), checked with ``strength``."""
    from . import zoo
    from .tasks.restore import check_model

    model = model or zoo.DEFAULT_MODEL["jpeg"]
    check_model(model, strength)
    return model


def compress(image: Image.Image | Picture | str | os.PathLike, quality: int, rate: str = "high",
             output: str | os.PathLike | None = None, overwrite: bool = False) -> bytes:
    """``image`` (a path, a PIL image or a Picture) as a JPEG file at ``quality``
    (1-100) that carries learned side information: a baseline JPEG that any
    viewer shows, plus a few bytes with which :func:`restore` (and ``pixrescue
    fix``) restores it better than the blind model alone.  ``rate``: low, medium
    or high, how many bits the side information may spend.  Returns the file's
    bytes; with ``output``, also writes them there atomically (ImageSaveError
    when it exists and not ``overwrite``).  Needs ``pip install 'pixrescue[side]'``."""
    from .imaging.io import write_file

    result = compressor(quality, rate)(_picture(image))
    if output is not None:
        write_file(result.data, output, overwrite)
    return result.data


def compressor(quality: int, rate: str = "high"):
    """:func:`compress` for many Pictures: the options checked and the model loaded
    now (ValueError, ImportError); each call returns a ``Compressed`` (the file's
    bytes and a one-line note of what went into it)."""
    from .tasks.side_info import compressor as make

    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be 1-100, not {quality}")
    return make(int(quality), rate)


def upscale(
    image: Image.Image | Picture | str | os.PathLike, scale: int = 2, model: str | None = None,
    deblock: bool | None = None, max_pixels: int | None = None,
) -> Image.Image | Picture:
    """``image`` enlarged ``scale`` (2, 3 or 4) times by ``model``: nearest,
    bilinear, bicubic, lanczos, an upscaler's architecture (srcnn, fsrcnn,
    drcn, vdsr, edsr) or registered name; default the light EDSR.
    ``deblock`` removes JPEG artifacts first (default: when ``image`` is a
    JPEG, read from a path or opened by Pillow).  A Picture gives a Picture
    (every frame), refused (ImageSaveError) when the output would be over
    ``max_pixels`` (default: Pillow's limit); a path or a PIL image gives a
    PIL image of the first frame."""
    from .imaging import Picture
    from .tasks.upscale import upscale_frame, upscale_picture

    if isinstance(image, Picture):
        return upscale_picture(image, scale, model, deblock, _pixel_limit(max_pixels))
    frame, jpeg, orientation = _source(image)
    deblock = jpeg is not None if deblock is None else deblock
    return upscale_frame(frame, scale, model, deblock, jpeg, orientation)


def upscaler(scale: int = 2, model: str | None = None, deblock: bool | None = None,
             max_pixels: int | None = None) -> Callable[[Picture], Picture]:
    """:func:`upscale` with these options, for many Pictures: the method is
    resolved and its model loaded now (ValueError, FileNotFoundError)."""
    from . import zoo
    from .tasks.upscale import INTERPOLATIONS, resolve_method

    method = resolve_method(model, scale)
    if method not in INTERPOLATIONS:
        zoo.load_model(method)
    return functools.partial(upscale, scale=scale, model=method, deblock=deblock, max_pixels=max_pixels)


def auto(image: Image.Image | Picture | str | os.PathLike, min_size: tuple[int, int] | None = None,
         max_pixels: int | None = None) -> Picture:
    """``image`` (a path, a PIL image or a Picture) with the steps it needs, in
    the measured order: JPEG artifacts removed when it shows them, blur removed
    when the deblocked picture is blurred, and enlarged 2, 3 or 4 times when
    ``min_size`` (width, height) is given and it is smaller (refused,
    ImageSaveError, over ``max_pixels``).  Returns a Picture whose ``steps``
    names what ran (``unchanged`` says why when nothing did)."""
    from .tasks.auto import auto_picture

    return auto_picture(_picture(image), min_size, _pixel_limit(max_pixels))


def autofixer(min_size: tuple[int, int] | None = None, max_pixels: int | None = None) -> Callable[[Picture], Picture]:
    """:func:`auto` with these options, for many Pictures: the models it may use are loaded now."""
    from . import zoo

    for task in ("jpeg", "deblur") + (("upscale",) if min_size is not None else ()):
        zoo.load_model(zoo.DEFAULT_MODEL[task])
    return functools.partial(auto, min_size=min_size, max_pixels=max_pixels)


def deblur(image: Image.Image | Picture | str | os.PathLike, model: str | None = None) -> Image.Image | Picture:
    """``image`` (a path, a PIL image or a Picture) with camera motion, defocus
    and soft focus removed by ``model`` (a registered deblurring model; default
    ``deblurunet.blind``).  Alpha is kept.  A Picture gives a Picture (every
    frame, metadata kept); a path or a PIL image gives a PIL image of the first frame."""
    from .imaging import Picture
    from .tasks.deblur import deblur_frame, deblur_picture

    model = _deblur_model(model)
    if isinstance(image, Picture):
        return deblur_picture(image, model)
    return deblur_frame(_frame(image), model)


def deblurrer(model: str | None = None) -> Callable[[Picture], Picture]:
    """:func:`deblur` with this model, for many Pictures: the model is checked and
    loaded now (ValueError, FileNotFoundError)."""
    from . import zoo

    model = _deblur_model(model)
    zoo.load_model(model)
    return functools.partial(deblur, model=model)


def _deblur_model(model: str | None) -> str:
    from . import zoo

    model = model or zoo.DEFAULT_MODEL["deblur"]
    zoo.require_task(model, "deblur", "deblur")
    return model


def shrink(image, scale: int = 2, jpeg_robust: bool = False, refine: int = 0):
    """A :class:`pixrescue.imaging.Picture` ``scale`` (2 or 4) times smaller,
    made by the invertible rescaler so that :func:`expand` can recover the
    original; save it as PNG with :func:`save` (its metadata names the model).
    ``image``: a path, a PIL image or a Picture.  ``refine``: steps spent
    tuning the small picture so that :func:`expand` recovers more (slower;
    not with ``jpeg_robust``)."""
    from .tasks.rescale import shrink_picture

    return shrink_picture(_picture(image), scale, jpeg_robust, refine)


def shrinker(scale: int = 2, jpeg_robust: bool = False, refine: int = 0) -> Callable[[Picture], Picture]:
    """:func:`shrink` with these options, for many Pictures: the model is
    loaded now (ValueError, FileNotFoundError)."""
    from . import zoo
    from .tasks.rescale import model_for

    zoo.load_model(model_for(scale, jpeg_robust))
    return functools.partial(shrink, scale=scale, jpeg_robust=jpeg_robust, refine=refine)


def expand(image, seed: int = 0, temperature: float | None = None, model: str | None = None,
           max_pixels: int | None = None):
    """The full-size :class:`pixrescue.imaging.Picture` recovered from what
    :func:`shrink` made (a path or a Picture that kept its metadata; ``model``
    forces a rescaling model for a picture that lost it).  ``seed`` and
    ``temperature`` set the draw of the latent (temperature 0: its mean; the
    default: see docs/rescaling.md).  An output over ``max_pixels`` (default:
    Pillow's limit) is refused (ImageSaveError)."""
    from .tasks.rescale import DEFAULT_TEMPERATURE, expand_picture

    _check_rescale_model(model)
    temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
    return expand_picture(_picture(image), seed, temperature, model, _pixel_limit(max_pixels))


def expander(seed: int = 0, temperature: float | None = None, model: str | None = None,
             max_pixels: int | None = None) -> Callable[[Picture], Picture]:
    """:func:`expand` with these options, for many Pictures: ``model`` is checked now."""
    _check_rescale_model(model)
    return functools.partial(expand, seed=seed, temperature=temperature, model=model, max_pixels=max_pixels)


def _check_rescale_model(model: str | None) -> None:
    """Refuse (UnknownModelError) a ``model`` given that is not a rescaling model."""
    from . import zoo

    if model is not None:
        zoo.require_task(model, "rescale", "expand")


def _pixel_limit(max_pixels: int | None) -> int:
    """``max_pixels``, or Pillow's decompression-bomb limit when None."""
    from .imaging.io import DEFAULT_MAX_PIXELS

    return DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels


def _picture(image):
    """A Picture from a path, a PIL image or a Picture."""
    from .imaging import Picture, load
    from .imaging.io import normalise_mode, read_text

    if isinstance(image, Picture):
        return image
    if isinstance(image, (str, os.PathLike)):
        return load(image)
    return Picture(frames=[normalise_mode(image)[0]], text=read_text(image))


def inspect(image: Image.Image | Picture | str | os.PathLike) -> Inspection:
    """What is wrong with ``image`` (a path, a PIL image or a Picture; its
    first frame) and what would help: format and metadata, the JPEG facts
    (quality of its tables, subsampling, earlier compressions), the quality
    the default model's estimator and the DCT histograms see, blockiness,
    blur and noise, the quality score (:func:`quality_score`), what
    :func:`restore` would tell the network, and the recommended steps.  A frozen dataclass (``dataclasses.asdict`` gives
    the JSON of ``pixrescue inspect --json``); reads, writes nothing."""
    from dataclasses import replace

    from . import zoo
    from .imaging import Picture
    from .tasks.inspect import inspect_picture

    picture = _picture(image)
    if not isinstance(image, (Picture, str, os.PathLike)):  # a PIL image: what its file said
        picture = replace(picture, format=image.format, jpeg=_source(image)[1],
                          icc_profile=image.info.get("icc_profile") or None)
    return inspect_picture(picture, zoo.DEFAULT_MODEL["jpeg"], zoo.DEFAULT_MODEL["quality"],
                           zoo.DEFAULT_MODEL["deblur"])


def quality_score(image: Image.Image | Picture | str | os.PathLike) -> float:
    """How good ``image`` (a path, a PIL image or a Picture; its first frame)
    looks, 0-100, higher is better: the quality network's prediction of its
    PSNR against the clean original it came from, 20 dB (0) to 50 dB (100).
    The same number as ``inspect(image).quality_score``."""
    from . import zoo
    from .tasks.quality import quality_score as score

    return round(score(zoo.DEFAULT_MODEL["quality"], _picture(image).image)[0], 1)


def encode(image: Image.Image | str | os.PathLike):
    """The autoencoder's 128-d code (a float32 numpy array) of ``image``'s
    64x64 grayscale thumbnail; :func:`decode` turns it back into a thumbnail."""
    import torch

    from . import zoo
    from .collection.fingerprints import EMBEDDINGS, thumbnail

    with torch.inference_mode():
        return zoo.load_model(EMBEDDINGS["ae"]).encode(thumbnail(_frame(image))[None])[0].numpy()


def decode(code) -> Image.Image:
    """The 64x64 grayscale thumbnail the autoencoder reconstructs from ``code``."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    from . import zoo
    from .collection.fingerprints import EMBEDDINGS

    with torch.inference_mode():
        out = zoo.load_model(EMBEDDINGS["ae"]).decode(torch.as_tensor(np.asarray(code, dtype=np.float32))[None])
    return PILImage.fromarray((out[0, 0].numpy() * 255).round().astype(np.uint8), "L")


def fingerprint(image: Image.Image | str | os.PathLike, rotations: bool = False) -> dict:
    """Every fingerprint of ``image``: the four perceptual hashes (lists of
    64-bit ints) and the two learned embeddings ((V, 128) unit vectors); with
    ``rotations``, of each of its 8 flips and quarter turns."""
    from .collection.fingerprints import embeddings, perceptual_hashes

    frame = _frame(image)
    return {**perceptual_hashes(frame, rotations), **embeddings(frame, rotations)}


def index(folder: str | os.PathLike, db: str | os.PathLike | None = None, rotations: bool = False,
          rebuild: bool = False, progress: bool = False) -> UpdateReport:
    """Fingerprint the images below ``folder`` into its SQLite catalogue (``db``,
    default FOLDER/.pixrescue.db): only new or changed files are read, deleted
    ones forgotten.  ``rotations`` also matches flipped and turned copies;
    ``rebuild`` starts the catalogue from nothing; ``progress`` shows a bar.
    Returns the counts (added, updated, removed, unchanged) and the failures."""
    from .collection import folder as collection

    return collection.index(_path(folder), _path(db), rotations, rebuild, progress)


def dupes(folder: str | os.PathLike, db: str | os.PathLike | None = None, method: str | None = None,
          threshold: float | None = None) -> list[list[Copy]]:
    """Groups of near-duplicates in ``folder``'s catalogue (see :func:`index`),
    largest first; each a list of ``Copy`` (path, distance to the kept copy,
    width, height, format, jpeg_quality, size, mtime_ns), the recommended copy
    first.  ``method``: combined (default), phash, ahash, dhash, whash, cnn or
    ae; ``threshold``: the largest distance between copies (docs/duplicates.md)."""
    from .collection import folder as collection

    return collection.dupes(_path(folder), _path(db), method, threshold)


def move_aside(groups: list[list[Copy]], folder: str | os.PathLike, move_to: str | os.PathLike,
               db: str | os.PathLike | None = None) -> MoveReport:
    """Move every copy but the first of each group :func:`dupes` returned into
    ``move_to``, under its path relative to ``folder``; nothing is deleted or
    overwritten.  Only files inside ``folder`` and unchanged since indexed are
    moved, and nothing of a group whose first copy is missing or changed.
    Returns ``moved`` (from, to) and ``skipped`` (path, why)."""
    from .collection import folder as collection

    return collection.move_aside(groups, _path(folder), _path(move_to), _path(db))


def similar(image, folder: str | os.PathLike | None = None, db: str | os.PathLike | None = None, k: int = 5,
            method: str | None = None) -> list[tuple[Path, float]]:
    """The ``k`` images of ``folder``'s catalogue (or ``db``'s) nearest to
    ``image`` (a path, a PIL image or a Picture), nearest first, as (path,
    distance) pairs; ``method`` as for :func:`dupes`."""
    from .collection import folder as collection

    query = image if isinstance(image, (str, os.PathLike)) else _picture(image)
    return collection.similar(query, _path(folder), _path(db), k, method)


def _path(value):
    from pathlib import Path

    return None if value is None else Path(value)


def _source(image):
    """(first frame, JPEG facts or None, EXIF orientation applied) of a path or a PIL image."""
    from .imaging import load
    from .imaging.history import with_history
    from .imaging.io import normalise_mode
    from .imaging.jpeg import read_info

    if isinstance(image, (str, os.PathLike)):
        picture = load(image)
        return picture.image, picture.jpeg, picture.orientation
    return normalise_mode(image)[0], with_history(image, read_info(image)), 1


def _frame(image):
    return _source(image)[0]


def models() -> dict[str, dict]:
    """Registered model names and their cards."""
    from . import zoo

    return {name: zoo.load_card(name) for name in zoo.MODELS}


def load(path: str | os.PathLike):
    """Read an image file with everything it holds (see :class:`pixrescue.imaging.Picture`)."""
    from .imaging import load as _load

    return _load(path)


def save(picture, path: str | os.PathLike, **options):
    """Write a :class:`pixrescue.imaging.Picture` atomically (format from the extension)."""
    from .imaging import save as _save

    return _save(picture, path, **options)
