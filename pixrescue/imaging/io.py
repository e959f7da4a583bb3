"""The one loader and the one writer.

``load(path)`` returns a :class:`Picture`: every frame of the file (with
durations and loop count for animations), alpha kept in the frames, the EXIF
block with its orientation already applied to the pixels and the tag reset,
the ICC profile, and for JPEG files their quantization facts.

Modes are normalised so that the rest of the package sees only ``L``, ``LA``,
``RGB`` and ``RGBA``:

* palette images become RGB, or RGBA when they have transparency;
* 1-bit images become L;
* 16-bit and 32-bit integer images (16-bit PNG, TIFF) are reduced to 8 bits per
  channel by keeping the high byte: the networks work on 8-bit data and every
  output format here is 8-bit, so the reduction is stated rather than hidden
  (``Picture.bit_depth`` keeps the original depth);
* CMYK (and YCbCr, LAB) become RGB; a CMYK ICC profile no longer describes the
  pixels, so it is dropped.

``save(picture, path)`` picks the format from the file's extension, keeps ICC
and EXIF where the format can hold them, writes animations where the format
can hold them, and writes atomically: a temporary file beside the target,
renamed over it only when complete.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageOps, ImageSequence, PngImagePlugin, UnidentifiedImageError

from ..atomic import write_atomically
from .history import with_history
from .jpeg import JpegInfo, read_info
from .side_info import is_side_info
from .side_info import read as read_side_info

# Pillow's own decompression-bomb threshold (about 89 megapixels); above it an
# image is refused rather than decoded.  ``load(max_pixels=...)`` raises it.
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS

FORMATS_BY_SUFFIX = {
    ".png": "PNG",
    ".apng": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
}
IMAGE_SUFFIXES = frozenset(FORMATS_BY_SUFFIX)
_ANIMATED_FORMATS = {"PNG", "WEBP", "GIF"}
PNG_COMPRESS_LEVEL = 3
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF", "GIF", "BMP"}
_ICC_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF"}
_EXIF_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF"}
_ORIENTATION_TAG = 0x0112


class ImageLoadError(Exception):
    """An input that cannot be read as an image; the message is one line."""


class ImageTooLargeError(ImageLoadError):
    """An image over the pixel limit (``load(max_pixels=...)``)."""


class ImageSaveError(Exception):
    """An output that cannot be written; the message is one line."""


def check_output_size(size: tuple[int, int], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
    """Refuse, before any work, an output larger than ``max_pixels``: the
    enlarging commands apply the input's limit to what they would write too
    (a 20-megapixel input enlarged x4 would be 320 megapixels)."""
    if max_pixels is not None and size[0] * size[1] > max_pixels:
        raise ImageSaveError(f"the output would be {size[0]}x{size[1]} ({size[0] * size[1]:,} pixels), over the "
                             f"limit of {max_pixels:,} (--max-pixels)")


@dataclass
class Picture:
    """Everything a file holds that restoration must keep."""

    frames: list[Image.Image]  # mode L, LA, RGB or RGBA
    durations: list[int] = field(default_factory=list)  # ms per frame (animations)
    loop: int | None = None  # animation loop count (0 = forever)
    icc_profile: bytes | None = None
    exif: bytes | None = None  # orientation already applied and reset to 1
    orientation: int = 1  # the EXIF orientation the file had (and that load applied)
    format: str | None = None  # format of the source file
    jpeg: JpegInfo | None = None
    bit_depth: int = 8  # bits per channel in the source file
    source: Path | None = None
    # Text metadata: PNG text chunks; from a JPEG, a pixrescue comment (see TEXT_KEY).
    text: dict[str, str] = field(default_factory=dict)
    # Set by a job that decided to leave the pixels as they were, saying why
    # (reported by the batch summary; never written to a file).
    unchanged: str | None = None
    # Set by a job that chose its own steps (fix --auto), naming them (reported by the batch).
    steps: str | None = None
    # (width, height) of the file's picture, upright, when ``load(draft_side=...)`` decoded it
    # reduced; None when the frames are the file's full size (see ``true_size``).
    full_size: tuple[int, int] | None = None

    @property
    def image(self) -> Image.Image:
        """The first (usually only) frame."""
        return self.frames[0]

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    @property
    def true_size(self) -> tuple[int, int]:
        """The file's picture size, upright, even when the frames were decoded reduced."""
        return self.full_size or self.size

    @property
    def mode(self) -> str:
        return self.frames[0].mode

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")

    @property
    def is_animated(self) -> bool:
        return len(self.frames) > 1

    def with_frames(self, frames: list[Image.Image]) -> Picture:
        """A copy holding new pixels and the same metadata."""
        return replace(self, frames=list(frames))


def normalise_mode(frame: Image.Image) -> tuple[Image.Image, int]:
    """``frame`` in L, LA, RGB or RGBA, and the source's bits per channel."""
    mode = frame.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return frame, 8
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in frame.info
        return frame.convert("RGBA" if has_alpha else "RGB"), 8
    if mode == "1":
        return frame.convert("L"), 1
    if mode.startswith("I;16") or mode in ("I", "I;16B", "I;16L"):
        values = np.asarray(frame, dtype=np.uint32 if mode == "I" else np.uint16)
        if mode == "I":
            # 32-bit containers that hold 16-bit data (how Pillow opens 16-bit PNG)
            depth = 16 if values.max(initial=0) > 255 or frame.format == "PNG" else 8
        else:
            depth = 16
        shift = 8 if depth == 16 else 0
        return Image.fromarray((values >> shift).clip(0, 255).astype(np.uint8), "L"), depth
    if mode == "F":
        values = np.asarray(frame, dtype=np.float32)
        return Image.fromarray(values.clip(0, 255).astype(np.uint8), "L"), 32
    if mode in ("RGBa", "La"):
        return frame.convert("RGBA" if mode == "RGBa" else "LA"), 8
    if mode.startswith("RGB") and mode not in ("RGB", "RGBA"):  # RGBX, RGB;16 ...
        return frame.convert("RGB"), 16 if "16" in mode else 8
    try:
        return frame.convert("RGB"), 8  # CMYK, YCbCr, LAB, HSV
    except (ValueError, OSError) as exc:
        raise ImageLoadError(f"unsupported image mode {mode}") from exc


def _clean_exif(image: Image.Image) -> bytes | None:
    exif = image.getexif()
    if not exif:
        return None
    if _ORIENTATION_TAG in exif:
        exif[_ORIENTATION_TAG] = 1
    return exif.tobytes()


def _reason(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (an OSError's strerror), or its type."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).splitlines()
    message = lines[0].strip() if lines else ""
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return message or type(exc).__name__


def _describe(exc: BaseException) -> str:
    """``Type: first line of the message`` (the type alone when there is no message)."""
    return f"{type(exc).__name__}: {_reason(exc)}" if str(exc).strip() else type(exc).__name__


def load(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS, history: bool = True,
         draft_side: int | None = None) -> Picture:
    """Read an image file completely.  Raises :class:`ImageLoadError` with a
    one-line message for anything that is not a readable image, whatever
    goes wrong in the decoders (only a MemoryError stays a MemoryError).
    ``history``: for a JPEG, look for a coarser compression before its last
    save (``Picture.jpeg.history``; a fraction of a second on a large file).

    ``draft_side``: for a work that will reduce the picture anyway to a long
    side of at most this by a whole factor (fingerprints), a single-frame
    JPEG is decoded reduced by 2, 4 or 8 (libjpeg's scaled decoding, several
    times faster than a full decode), never by more than that factor.  The
    frames then hold fewer pixels than the file: ``Picture.full_size`` (and
    ``true_size``) keeps the file's size, upright; format, quantization facts,
    EXIF and ICC are the file's as always; no compression history is looked for."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageLoadError("is a directory, not an image")
        size = path.stat().st_size
    except ImageLoadError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise ImageLoadError(f"cannot read: {_reason(exc)}") from None
    if size == 0:
        raise ImageLoadError("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            previous_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                with open(path, "rb") as stream, Image.open(_Capped(stream, size)) as opened:
                    return _read(opened, path, max_pixels, history, draft_side)
            finally:
                Image.MAX_IMAGE_PIXELS = previous_limit
    except (ImageLoadError, MemoryError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            f"image too large (over {max_pixels:,} pixels, refused as a possible decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError("not an image file, or a format that is not supported") from None
    except PermissionError:
        raise ImageLoadError("permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"corrupt or truncated image ({_reason(exc)})") from None
    except Exception as exc:  # what a decoder lets out on a damaged file: IndexError, struct.error ...
        raise ImageLoadError(f"corrupt or truncated image ({_describe(exc)})") from None


class _Capped:
    """A file whose reads never ask for more than it holds: a damaged chunk length (a PNG
    claiming a 4 GB chunk in a 2 KB file) makes a decoder ask the file for that many bytes, and
    Python allocates them before reading."""

    def __init__(self, stream, size: int) -> None:
        self._stream, self._size = stream, size

    def read(self, n: int | None = -1) -> bytes:
        left = max(self._size - self._stream.tell(), 0)
        return self._stream.read(left if n is None or n < 0 or n > left else n)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


# The one text entry a JPEG can carry (as its comment): pixrescue's own.
TEXT_KEY = "pixrescue"


def read_text(opened: Image.Image) -> dict[str, str]:
    """The text metadata of an opened file (see ``Picture.text``)."""
    if opened.format == "PNG":
        return {str(k): str(v) for k, v in getattr(opened, "text", {}).items()}
    comment = opened.info.get("comment", b"")
    prefix = f"{TEXT_KEY}:".encode()
    if isinstance(comment, bytes) and comment.startswith(prefix):
        return {TEXT_KEY: comment[len(prefix):].decode("utf-8", "replace")}
    return {}


def _side_info(opened: Image.Image, file_bytes: bytes):
    """pixrescue's side information in a JPEG (``imaging/side_info.py``), checked against the
    file's coded coefficients (``file_bytes``: the whole file); None when it has none."""
    datas = [data for name, data in getattr(opened, "applist", []) if name == "APP11" and is_side_info(data)]
    if not datas:
        return None
    return read_side_info(datas, file_bytes)


def draft_scale(size: tuple[int, int], side: int) -> int:
    """The JPEG decoding scale (1, 2, 4 or 8) ``load(draft_side=side)`` asks for a picture of
    ``size``: the largest that does not exceed the whole factor reducing its long side to ``side``."""
    factor = -(-max(size) // side)
    return next(scale for scale in (8, 4, 2, 1) if scale <= factor)


def _upright_size(frame: Image.Image, size: tuple[int, int]) -> tuple[int, int]:
    """``size`` as it is after ``frame``'s EXIF turn (its axes swapped by a quarter turn)."""
    return (size[1], size[0]) if frame.getexif().get(_ORIENTATION_TAG, 1) in (5, 6, 7, 8) else size


def check_jpeg_data(data: bytes, size: tuple[int, int], mode: str) -> None:
    """Raise :class:`ImageLoadError` when a JPEG's compressed data ends before
    its picture does.  Pillow's decoder fills what is missing with flat grey
    and says nothing when the file still ends with an end-of-image marker (a
    cut download, a header claiming a larger picture than its data holds), so
    the data is also decoded by ``simplejpeg`` (libjpeg-turbo), which reports
    the early end.  At an eighth of the size: the whole entropy-coded data is
    still read, in a few milliseconds even for a large file, and a header
    claiming a gigantic picture is refused before anything of its size is
    allocated.  libjpeg's other warnings (for example extraneous bytes before
    a marker, which some cameras write) leave the picture accepted, as
    every viewer does."""
    import simplejpeg

    colorspace = "CMYK" if mode == "CMYK" else "GRAY"
    try:
        simplejpeg.decode_jpeg(data, colorspace=colorspace, strict=True, fastdct=True,
                               min_height=max(1, math.ceil(size[1] / 8)), min_width=max(1, math.ceil(size[0] / 8)))
    except ValueError as exc:
        if "premature end" in str(exc).lower():
            raise ImageLoadError("corrupt or truncated image (its compressed data ends before the picture does)") \
                from None


def _read(opened: Image.Image, path: Path, max_pixels: int | None, history: bool = True,
          draft_side: int | None = None) -> Picture:
    width, height = opened.size
    if max_pixels is not None and width * height > max_pixels:
        raise Image.DecompressionBombError("too many pixels")
    jpeg = read_info(opened)
    # A JPEG's bytes, read once: its data is checked here and its side information below.
    file_bytes = path.read_bytes() if jpeg is not None or opened.format == "JPEG" else b""
    if opened.format == "JPEG":
        check_jpeg_data(file_bytes, (width, height), opened.mode)
    icc = opened.info.get("icc_profile") or None
    n_frames = getattr(opened, "n_frames", 1)
    drafted = False
    if draft_side and opened.format == "JPEG" and n_frames == 1:
        scale = draft_scale((width, height), draft_side)
        if scale > 1:
            # Pillow picks the largest scale whose size stays at least the one asked for.
            opened.draft(opened.mode, (max(1, width // scale), max(1, height // scale)))
            drafted = opened.size != (width, height)
    orientation = int(opened.getexif().get(0x0112, 1) or 1) if "exif" in opened.info else 1
    exif = _clean_exif(opened)
    source_format = opened.format
    if jpeg is not None:
        jpeg = replace(jpeg, side_info=_side_info(opened, file_bytes))
    text = read_text(opened)
    loop = opened.info.get("loop")
    frames, durations, depth = [], [], 8
    full_size = None
    for frame in ImageSequence.Iterator(opened):
        if max_pixels is not None and frame.size[0] * frame.size[1] > max_pixels:
            raise Image.DecompressionBombError("too many pixels")  # a later page of a TIFF may be larger
        frame.load()
        if n_frames > 1:
            durations.append(int(frame.info.get("duration", 100) or 0))
        if frame.mode == "CMYK":
            icc = None  # a CMYK profile does not describe the converted RGB pixels
        if history and not frames and not drafted:
            # On the stored pixels, before the EXIF turn: the grid starts at the file's corner there.
            jpeg = with_history(frame, jpeg)
        if n_frames == 1 and getattr(frame, "map", None) is None:
            # The decoded pixels themselves, not a copy of them: closing the file after this
            # read drops only the opened image's hold on them (a mapped file is copied).
            upright = frame._new(frame.im)
        else:
            upright = frame.copy()  # the next frame is decoded into the opened image
        if exif is not None:
            if drafted:
                full_size = _upright_size(upright, (width, height))
            ImageOps.exif_transpose(upright, in_place=True)
        elif drafted:
            full_size = (width, height)
        normalised, depth = normalise_mode(upright)
        frames.append(normalised)
    if n_frames > 1:
        modes = {f.mode for f in frames}
        if len(modes) > 1:  # e.g. a GIF whose later frames gained transparency
            target = "RGBA" if any(m in ("RGBA", "LA") for m in modes) else "RGB"
            frames = [f.convert(target) for f in frames]
    return Picture(
        frames=frames,
        durations=durations,
        loop=loop if n_frames > 1 else None,
        icc_profile=icc,
        exif=exif,
        format=source_format,
        jpeg=jpeg,
        text=text,
        orientation=orientation if exif is not None and orientation in range(1, 9) else 1,
        bit_depth=depth,
        source=path,
        full_size=full_size,
    )


def format_for(path: str | os.PathLike) -> str:
    """The file format that ``save`` writes for ``path``, from its extension."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS_BY_SUFFIX[suffix]
    except KeyError:
        known = ", ".join(sorted(FORMATS_BY_SUFFIX))
        raise ImageSaveError(f"unknown output extension {suffix or '(none)'!r} (use one of {known})")


def parse_colour(colour: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(colour)[:3]
    except ValueError:
        raise ImageSaveError(f"unknown colour {colour!r} (use a name like 'white' or '#rrggbb')")


def flatten(frame: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """An L / RGB frame: an LA / RGBA one composited onto ``background``; others unchanged."""
    if frame.mode not in ("LA", "RGBA"):
        return frame
    base_mode = "L" if frame.mode == "LA" else "RGB"
    fill = background if base_mode == "RGB" else ImageColor.getcolor(
        "#%02x%02x%02x" % background, "L"
    )
    canvas = Image.new(base_mode, frame.size, fill)
    canvas.paste(frame.convert(base_mode), mask=frame.getchannel("A"))
    return canvas


# What each animated format can store.  GIF: the loop count in 16 bits and
# each frame's delay in centiseconds in 16 bits.  WebP: the loop count in 16
# bits, each frame's duration in milliseconds in 24 bits, and the running
# timestamp (the sum of the durations) in a C int.  APNG: the play count in a
# PNG four-byte integer (at most 2**31 - 1) and each delay as a fraction of a
# second whose numerator and denominator are 16 bits each.
_LOOP_LIMITS = {"GIF": 0xFFFF, "WEBP": 0xFFFF, "PNG": 2**31 - 1}
_DURATION_LIMITS = {"GIF": 655_350, "WEBP": 0xFFFFFF, "PNG": 65_535_000}
_WEBP_TIMESTAMP_LIMIT = 2**31 - 1
_DEFAULT_DURATION = 100  # ms, what load gives a frame that says nothing
_ANIMATION_NAMES = {"GIF": "GIF", "WEBP": "WebP", "PNG": "APNG"}


def _frames_equal(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()


def _clamp(value, limit: int) -> int:
    """``value`` (ms or a count) as an int in 0..limit (NaN: 0)."""
    if isinstance(value, int):
        return min(max(value, 0), limit)
    number = float(value)
    return 0 if math.isnan(number) else int(round(min(max(number, 0.0), float(limit))))


def _fit_durations(durations: list, frames: list[Image.Image], fmt: str, name: str) -> list[int]:
    """``durations`` (ms) within what ``fmt`` can store, one per frame; a
    warning (one line) says what was changed."""
    limit = _DURATION_LIMITS[fmt]
    given = list(durations)
    fitted = [_clamp(value, limit) for value in given[: len(frames)]]
    fitted += [_DEFAULT_DURATION] * (len(frames) - len(fitted))
    if fmt == "PNG":
        # Over 65535 ms an exact delay can need a numerator over 16 bits: keep
        # steps of 10 ms, 100 ms or 1 s, the finest that fits.
        for i, value in enumerate(fitted):
            step = next(s for s in (1, 10, 100, 1000) if round(value / s) <= 0xFFFF)
            fitted[i] = min(round(value / step) * step, limit)
    elif fmt == "GIF" and sum(fitted) > limit:
        # Pillow writes a run of identical frames as one frame with the
        # durations added up: the run's total must fit as well.
        budget = limit
        for i, value in enumerate(fitted):
            if i == 0 or not _frames_equal(frames[i - 1], frames[i]):
                budget = limit
            fitted[i] = min(value, budget)
            budget -= fitted[i]
    elif fmt == "WEBP" and sum(fitted) > _WEBP_TIMESTAMP_LIMIT:
        fitted = [min(value, _WEBP_TIMESTAMP_LIMIT // len(fitted)) for value in fitted]
    notes = []
    if len(given) != len(frames):
        notes.append(f"{len(given)} durations for {len(frames)} frames (a missing one is {_DEFAULT_DURATION} ms)")
    changed = [(old, new) for old, new in zip(given, fitted) if old != new]
    if changed:
        old, new = changed[0]
        notes.append(f"{len(changed)} clamped (or rounded) to fit, e.g. {old} ms -> {new} ms")
    if notes:
        warnings.warn(f"{name}: {_ANIMATION_NAMES[fmt]} stores frame durations of 0..{limit:,} ms: {'; '.join(notes)}",
                      stacklevel=4)
    return fitted


def _fit_loop(loop, fmt: str, name: str) -> int:
    """``loop`` within the loop counts ``fmt`` can store (a warning says when it was not)."""
    limit = _LOOP_LIMITS[fmt]
    fitted = min(max(int(loop), 0), limit)
    if fitted != loop:
        warnings.warn(f"{name}: {_ANIMATION_NAMES[fmt]} stores loop counts of 0..{limit:,}: {loop} was clamped "
                      f"to {fitted}", stacklevel=4)
    return fitted


def save(
    picture: Picture,
    path: str | os.PathLike,
    *,
    quality: int | None = None,
    background: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``picture`` to ``path`` atomically in the format its extension names.

    Raises :class:`ImageSaveError` with a one-line message for anything that
    stops the write (only a MemoryError stays a MemoryError), and leaves no
    temporary file behind.  Animation metadata outside what the format can
    store (loop count, frame durations) is clamped into it, with a warning."""
    path = Path(path)
    try:
        return _save(picture, path, quality=quality, background=background, overwrite=overwrite)
    except (ImageSaveError, MemoryError):
        raise
    except Exception as exc:
        raise ImageSaveError(f"cannot write {path}: {_save_reason(exc, path)}") from None


def _save_reason(exc: BaseException, path: Path) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        for folder in path.parents:
            try:
                if folder.exists() and not folder.is_dir():
                    return f"{folder} is a file, not a folder"
            except OSError:
                break
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _describe(exc)


def _save(picture: Picture, path: Path, *, quality: int | None, background: str | None, overwrite: bool) -> Path:
    fmt = format_for(path)
    if path.exists() and not overwrite:
        raise ImageSaveError(f"{path} exists (use --overwrite to replace it)")
    first, options = _encoding(picture, fmt, quality, background, path.name)
    write_atomically(path, lambda stream: first.save(stream, format=fmt, **options))
    return path


def _encoding(picture: Picture, fmt: str, quality: int | None, background: str | None,
              name: str) -> tuple[Image.Image, dict]:
    """The first frame and Pillow's save options that write ``picture`` as ``fmt``."""
    frames = picture.frames
    if background is not None:
        frames = [flatten(f, parse_colour(background)) for f in frames]
    elif picture.has_alpha and fmt not in _ALPHA_FORMATS:
        raise ImageSaveError(
            f"{fmt} cannot store transparency: choose PNG or WebP, or flatten with --background COLOUR"
        )
    if len(frames) > 1 and fmt not in _ANIMATED_FORMATS | {"TIFF"}:
        raise ImageSaveError(
            f"{fmt} cannot store {len(frames)} frames: choose GIF, PNG (APNG) or WebP"
        )
    options: dict = {}
    if quality is not None:
        if fmt not in ("JPEG", "WEBP"):
            raise ImageSaveError(f"--quality applies to JPEG and WebP outputs, not {fmt}")
        options["quality"] = int(quality)
    elif fmt == "JPEG":
        options["quality"] = 95
    if fmt == "WEBP" and quality is None:
        options["lossless"] = True
    if fmt == "PNG":
        # zlib level 3 instead of Pillow's 6: a restored 2048x2048 photograph took 0.46 s instead of
        # 1.54 s to write, for a file 7 % larger (4.72 MB against 4.42; level 1: 0.29 s, 5.02 MB).
        options["compress_level"] = PNG_COMPRESS_LEVEL
    if picture.icc_profile and fmt in _ICC_FORMATS:
        options["icc_profile"] = picture.icc_profile
    if picture.exif and fmt in _EXIF_FORMATS:
        options["exif"] = picture.exif
    if picture.text and fmt == "PNG":
        chunks = PngImagePlugin.PngInfo()
        for key, value in picture.text.items():
            chunks.add_itxt(key, value)
        options["pnginfo"] = chunks
    elif TEXT_KEY in picture.text and fmt == "JPEG":
        options["comment"] = f"{TEXT_KEY}:{picture.text[TEXT_KEY]}".encode()
    if len(frames) > 1:
        options["save_all"] = True
        options["append_images"] = frames[1:]
        if picture.durations and fmt != "TIFF":
            options["duration"] = _fit_durations(picture.durations, frames, fmt, name)
        if fmt != "TIFF" and picture.loop is not None:  # no loop count: the file plays once
            options["loop"] = _fit_loop(picture.loop, fmt, name)
        if fmt == "GIF":
            options["disposal"] = 2 if picture.has_alpha else 1
    return frames[0], options


def encode_jpeg(picture: Picture, quality: int, background: str | None = None) -> bytes:
    """The JPEG file that ``save`` writes for ``picture`` at ``quality``, in memory
    (the same encoder and options: ICC, EXIF, pixrescue's comment)."""
    try:
        first, options = _encoding(picture, "JPEG", quality, background, "JPEG")
        buffer = io.BytesIO()
        first.save(buffer, format="JPEG", **options)
        return buffer.getvalue()
    except (ImageSaveError, MemoryError):
        raise
    except Exception as exc:
        raise ImageSaveError(f"cannot encode as JPEG: {_describe(exc)}") from None


def write_file(data: bytes, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write an encoded file (``encode_jpeg``'s, with segments added) to ``path``
    atomically; ImageSaveError (one line) as ``save``."""
    path = Path(path)
    try:
        if path.exists() and not overwrite:
            raise ImageSaveError(f"{path} exists (use --overwrite to replace it)")
        return write_atomically(path, lambda stream: stream.write(data))
    except (ImageSaveError, MemoryError):
        raise
    except Exception as exc:
        raise ImageSaveError(f"cannot write {path}: {_save_reason(exc, path)}") from None


def find_images(paths: list[str | os.PathLike], recursive: bool = False) -> list[Path]:
    """Image files named by ``paths``: files as given, folders by their image
    extensions (sorted; into sub-folders with ``recursive``)."""
    found: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(
                sorted(
                    p
                    for p in entry.glob(pattern)
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                )
            )
        else:
            found.append(entry)
    return found
