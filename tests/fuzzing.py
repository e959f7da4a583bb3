"""Seeds, mutations and targets shared by the bounded fuzz test
(tests/test_fuzz.py) and the long run (benchmarks/fuzz.py).

Everything here is deterministic: the seed files are made in memory with a
fixed random generator, and input ``index`` of a run with seed ``seed`` is
built by ``make_case(seed, index)`` from a generator seeded with both, so any
input can be rebuilt on its own (the benchmark writes the failing ones out
as reproducer files anyway).

Targets (each input goes to one, in a fixed rotation, see ``TARGET_CYCLE``):

- ``load``: ``pixrescue.imaging.load`` on a mutated image file of any
  supported format; only a Picture or ``ImageLoadError`` may come out.
- ``jpeg_info``: ``pixrescue.imaging.jpeg.read_info`` on a mutated JPEG that
  Pillow still opens (one it refuses counts as a clean error); it must never
  raise.
- ``shrink_note``: ``pixrescue.tasks.rescale.shrink_note`` on a Picture whose
  shrink note (the JSON text under TEXT_KEY) is mutated, then
  ``expand_picture`` with ``max_pixels=0`` (so that it stops before any
  network runs): a note is either refused (None, then NotShrunkError) or
  fits the schema (then the output-size check refuses it, ImageSaveError).
- ``catalog``: ``pixrescue.collection.catalog.records`` on a mutated SQLite catalogue;
  ``sqlite3.DatabaseError`` or an exception class that pixrescue.collection.catalog
  defines count as clean errors.
"""

from __future__ import annotations

import io
import json
import math
import random
import sqlite3
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

INTERESTING = (0, 0xFF, 0xFFFF, 0x7FFFFFFF)
TARGETS = ("load", "jpeg_info", "shrink_note", "catalog")
# One cycle of targets: input i goes to TARGET_CYCLE[i % len(TARGET_CYCLE)].
TARGET_CYCLE = ("load",) * 12 + ("jpeg_info",) * 3 + ("shrink_note",) * 3 + ("catalog",) * 2
# The picture whose shrink note is fuzzed is as big as the seed note's "small".
NOTE_ORIGINAL = (30, 20)
SIZE = (32, 24)  # seed images: small, so that a mutated one decodes fast


@dataclass(frozen=True)
class Case:
    index: int
    target: str
    seed_name: str
    suffix: str  # for the reproducer file (and the loader's temporary file)
    payload: bytes


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok", "clean", "raw" or "memory"
    detail: str = ""  # "Type: message" for raw / memory


# ---------------------------------------------------------------------------
# Seeds


def _pixels(mode: str, size=SIZE, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.add.outer(np.arange(h) * 255 // max(h - 1, 1), np.arange(w) * 255 // max(w - 1, 1)) // 2
    noise = rng.integers(0, 48, (h, w, 4))
    rgba = np.clip(np.stack([ramp, ramp[::-1], ramp[:, ::-1], 255 - ramp], -1) + noise, 0, 255).astype(np.uint8)
    if mode == "RGBA":
        return Image.fromarray(rgba, "RGBA")
    if mode == "RGB":
        return Image.fromarray(rgba[..., :3], "RGB")
    if mode == "L":
        return Image.fromarray(rgba[..., 0], "L")
    if mode == "I;16":
        return Image.fromarray((rgba[..., 0].astype(np.uint16) * 257 + rng.integers(0, 200, (h, w))).astype(np.uint16))
    if mode == "CMYK":
        return Image.fromarray(rgba, "RGBA").convert("RGB").convert("CMYK")
    raise ValueError(mode)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _frames(n: int = 4, mode: str = "RGB") -> list[Image.Image]:
    return [_pixels(mode, seed=i) for i in range(n)]


@cache
def image_seeds() -> dict[str, tuple[str, bytes]]:
    """name -> (suffix, file bytes) for every supported format and its variants."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _image_seeds()


def _image_seeds() -> dict[str, tuple[str, bytes]]:
    rgb, rgba, gray = _pixels("RGB"), _pixels("RGBA"), _pixels("L")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate to display
    exif[0x010F] = "pixrescue-fuzz"
    text = PngImagePlugin.PngInfo()
    text.add_itxt("pixrescue", json.dumps({"model": "irn.x2", "scale": 2, "width": 64, "height": 48,
                                           "small": [32, 24]}))
    palette = rgb.quantize(16)
    frames = _frames()
    alpha_frames = _frames(3, "RGBA")
    animation = {"save_all": True, "duration": [40, 80, 120, 160], "loop": 2}
    seeds = {
        "png_rgb": (".png", _encode(rgb, "PNG")),
        "png_rgba_text_exif": (".png", _encode(rgba, "PNG", pnginfo=text, exif=exif)),
        "png_palette_trns": (".png", _encode(palette, "PNG", transparency=0)),
        "png_gray16": (".png", _encode(_pixels("I;16"), "PNG")),
        "png_icc": (".png", _encode(rgb, "PNG", icc_profile=icc)),
        "apng": (".png", _encode(frames[0], "PNG", append_images=frames[1:], **animation)),
        "apng_rgba": (".png", _encode(alpha_frames[0], "PNG", save_all=True, append_images=alpha_frames[1:],
                                      duration=50, loop=0, disposal=1, blend=1)),
        "jpeg_baseline_exif_icc": (".jpg", _encode(rgb, "JPEG", quality=75, exif=exif, icc_profile=icc)),
        "jpeg_progressive": (".jpg", _encode(rgb, "JPEG", quality=60, progressive=True)),
        "jpeg_gray": (".jpg", _encode(gray, "JPEG", quality=50)),
        "jpeg_cmyk": (".jpg", _encode(_pixels("CMYK"), "JPEG", quality=90)),
        "jpeg_444_comment": (".jpg", _encode(rgb, "JPEG", quality=95, subsampling=0,
                                             comment=b'pixrescue:{"model": "irn.x4"}')),
        "webp_lossy": (".webp", _encode(rgb, "WEBP", quality=70)),
        "webp_lossless_rgba": (".webp", _encode(rgba, "WEBP", lossless=True, exif=exif, icc_profile=icc)),
        "webp_animated": (".webp", _encode(frames[0], "WEBP", append_images=frames[1:], lossless=True,
                                           **animation)),
        "gif_still": (".gif", _encode(palette, "GIF", transparency=0)),
        "gif_animated": (".gif", _encode(frames[0], "GIF", append_images=frames[1:], **animation)),
        "bmp_rgb": (".bmp", _encode(rgb, "BMP")),
        "bmp_palette": (".bmp", _encode(palette, "BMP")),
        "tiff_rgb": (".tif", _encode(rgb, "TIFF", exif=exif)),
        "tiff_16": (".tif", _encode(_pixels("I;16"), "TIFF")),
        "tiff_lzw_pages": (".tif", _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:3],
                                           compression="tiff_lzw")),
    }
    return seeds


def jpeg_seed_names() -> list[str]:
    return sorted(name for name in image_seeds() if name.startswith("jpeg"))


def note_seeds() -> dict[str, str]:
    """Valid shrink notes for a NOTE_ORIGINAL picture (the fuzzed Picture is as big as their "small")."""
    w, h = NOTE_ORIGINAL
    notes = {}
    for model, scale in (("irn.x2", 2), ("irn.x4", 4), ("irn.x4-jpeg", 4)):
        notes[model] = json.dumps({"model": model, "scale": scale, "width": w, "height": h,
                                   "small": [-(-w // scale), -(-h // scale)]})
    return notes


@cache
def catalog_seed() -> bytes:
    """A valid catalogue of three small pictures, written by ``catalog.update``
    itself (so that it follows whatever schema the catalogue has)."""
    from pixrescue.collection import catalog

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "photos"
        root.mkdir()
        _pixels("RGB", seed=1).save(root / "a.png")
        _pixels("RGB", seed=2).save(root / "b.jpg", quality=80)
        _pixels("L", seed=3).save(root / "c.webp")
        path = Path(folder) / "catalog.db"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            catalog.update(root, path, rotations=True)
        connection = sqlite3.connect(path)  # everything into the one file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        return path.read_bytes()


# ---------------------------------------------------------------------------
# Mutations


def _offset(data: bytes, rng: random.Random, end: bool = False) -> int:
    """A position in ``data`` (``end``: may be len(data)); half the time in
    the first 128 bytes, where the headers are."""
    limit = len(data) + (1 if end else 0)
    if limit <= 0:
        return 0
    if rng.random() < 0.5:
        return rng.randrange(min(limit, 128))
    return rng.randrange(limit)


def flip(data: bytes, rng: random.Random) -> bytes:
    """1-8 bytes changed: one bit flipped, or a random byte."""
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = _offset(data, rng)
        out[at] = out[at] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """The end cut off (or, a quarter of the time, a piece cut out of the middle)."""
    if len(data) < 2:
        return data
    if rng.random() < 0.25:
        start = _offset(data, rng)
        return data[:start] + data[start + rng.randint(1, 256):]
    return data[: rng.randrange(1, len(data))]


def duplicate(data: bytes, rng: random.Random) -> bytes:
    """A piece of 1-512 bytes copied (repeated 1-4 times) to another place."""
    if not data:
        return data
    start = _offset(data, rng)
    piece = data[start : start + rng.randint(1, 512)] * rng.randint(1, 4)
    at = rng.choice((start, _offset(data, rng, end=True)))
    return data[:at] + piece + data[at:]


def _interesting(rng: random.Random) -> bytes:
    width = rng.choice((1, 2, 4))
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    return value.to_bytes(width, rng.choice(("big", "little")))


def insert_interesting(data: bytes, rng: random.Random) -> bytes:
    at = _offset(data, rng, end=True)
    return data[:at] + _interesting(rng) + data[at:]


def overwrite_interesting(data: bytes, rng: random.Random) -> bytes:
    value = _interesting(rng)
    at = _offset(data, rng)
    return data[:at] + value + data[at + len(value):]


MUTATORS = (flip, truncate, duplicate, insert_interesting, overwrite_interesting)


def mutate(data: bytes, rng: random.Random, steps: int = 3) -> bytes:
    """``data`` after 1-``steps`` mutations."""
    for _ in range(rng.randint(1, steps)):
        data = rng.choice(MUTATORS)(data, rng)
    return data


# Odd values for a shrink note, as JSON text (Python's json reads NaN,
# Infinity, 1e400 as inf, and ints of any size).
ODD_VALUES = (
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "-1", "0", "1.5", "2.0", "-2",
    "2147483648", "18446744073709551616", "true", "false", "null", '""', '"2"', '"irn.x2"', "[]", "{}",
    "[1]", "[1, 2, 3]", "[-1, -1]", "[0, 0]", '["15", "10"]', "[1e400, 1]", "[15, 10]", "[8, 5]",
    '{"a": 1}', "[" * 50 + "]" * 50, '"edsr.sr-x234"', '"irn.x8"', '"../../etc/passwd"', "1000000", "1000001",
)


def mutate_note(text: str, rng: random.Random) -> str:
    """A shrink note made odd: a value, a key or the structure changed, the
    text mutated as bytes, or replaced by something else entirely."""
    choice = rng.random()
    if choice < 0.1:
        return rng.choice(("[]", "null", "1", '"note"', "[" * rng.choice((100, 5000, 100000)),
                           "[" * 3000 + "]" * 3000, '{"a":' * 2000 + "1" + "}" * 2000,
                           " " * 100000 + text, text + "x" * 5000, json.dumps([json.loads(text)])))
    note = json.loads(text)
    if choice < 0.75:
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(sorted(note))
            kind = rng.random()
            if kind < 0.1:
                del note[key]
            elif kind < 0.15:
                note[key + "x"] = note.pop(key)
            else:
                note[key] = ("ODD", rng.choice(ODD_VALUES))
        return _dump_with_odd(note)
    return mutate(text.encode(), rng).decode("utf-8", "replace")


def _dump_with_odd(note: dict) -> str:
    parts = []
    for key, value in note.items():
        raw = value[1] if isinstance(value, tuple) and value and value[0] == "ODD" else json.dumps(value)
        parts.append(f"{json.dumps(key)}: {raw}")
    return "{" + ", ".join(parts) + "}"


# ---------------------------------------------------------------------------
# Cases


def make_case(seed: int, index: int) -> Case:
    """Input ``index`` of the run with ``seed``: the same every time."""
    rng = random.Random(f"pixrescue-fuzz:{seed}:{index}")
    target = TARGET_CYCLE[index % len(TARGET_CYCLE)]
    if target == "load":
        name = rng.choice(sorted(image_seeds()))
        suffix, data = image_seeds()[name]
        return Case(index, target, name, suffix, mutate(data, rng))
    if target == "jpeg_info":
        name = rng.choice(jpeg_seed_names())
        suffix, data = image_seeds()[name]
        return Case(index, target, name, suffix, mutate(data, rng))
    if target == "shrink_note":
        name, text = rng.choice(sorted(note_seeds().items()))
        return Case(index, target, f"note_{name}", ".json", mutate_note(text, rng).encode("utf-8", "surrogatepass"))
    return Case(index, target, "catalog", ".db", mutate(catalog_seed(), rng))


def _catalog_errors() -> tuple[type[BaseException], ...]:
    from pixrescue.collection import catalog

    own = tuple(value for value in vars(catalog).values()
                if isinstance(value, type) and issubclass(value, BaseException)
                and value.__module__ == catalog.__name__)
    return (sqlite3.DatabaseError, *own)


def _valid_note(note) -> bool:
    from pixrescue import zoo

    def side(value) -> bool:
        return type(value) is int and 1 <= value <= 1_000_000

    return (isinstance(note, dict) and isinstance(note.get("model"), str) and note["model"] in zoo.MODELS
            and zoo.get_spec(note["model"]).task == "rescale"
            and type(note.get("scale")) is int and note["scale"] == zoo.get_spec(note["model"]).scales[0]
            and side(note.get("width")) and side(note.get("height"))
            and isinstance(note.get("small"), list) and len(note["small"]) == 2 and all(map(side, note["small"])))


def run_case(case: Case, folder: Path, max_pixels: int | None) -> Outcome:
    """Run one input in this process; ``folder`` is a scratch folder."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_target(case, folder, max_pixels)
    except MemoryError as exc:
        return Outcome("memory", f"MemoryError: {exc}")
    except Exception as exc:
        return Outcome("raw", describe(exc))


def describe(exc: BaseException) -> str:
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_target(case: Case, folder: Path, max_pixels: int | None) -> Outcome:
    """Run one input in this process, letting an unexpected exception out
    (``run_case`` reports it instead)."""
    if case.target == "load":
        from pixrescue.imaging import ImageLoadError, load

        path = folder / f"input{case.suffix}"
        path.write_bytes(case.payload)
        try:
            load(path, max_pixels=max_pixels)
        except ImageLoadError:
            return Outcome("clean")
        return Outcome("ok")
    if case.target == "jpeg_info":
        from pixrescue.imaging.jpeg import JpegInfo, read_info

        try:
            opened = Image.open(io.BytesIO(case.payload))
        except Exception:  # Pillow refuses it: nothing for read_info to read
            return Outcome("clean")
        with opened:
            info = read_info(opened)
        if info is not None and not (isinstance(info, JpegInfo) and 1 <= info.quality <= 100):
            return Outcome("raw", f"BadInfo: {info!r}"[:200])
        return Outcome("ok")
    if case.target == "shrink_note":
        from pixrescue.imaging import Picture
        from pixrescue.imaging.io import TEXT_KEY, ImageSaveError
        from pixrescue.tasks.rescale import NotShrunkError, expand_picture, shrink_note

        size = tuple(-(-side // 2) for side in NOTE_ORIGINAL)
        picture = Picture(frames=[Image.new("RGB", size)], text={TEXT_KEY: case.payload.decode("utf-8", "replace")})
        note = shrink_note(picture)
        if note is not None and not _valid_note(note):
            return Outcome("raw", f"BadNote: shrink_note accepted {json.dumps(note)[:150]}")
        try:
            expand_picture(picture, max_pixels=0)  # 0: refused before any network runs
        except NotShrunkError:
            return Outcome("clean")
        except ImageSaveError:
            return Outcome("ok")  # the note was accepted; only the size limit stopped it
        return Outcome("raw", "ExpandRan: expand_picture ran past max_pixels=0")
    if case.target == "catalog":
        from pixrescue.collection import catalog

        path = folder / "catalog.db"
        for leftover in (path, folder / "catalog.db-wal", folder / "catalog.db-shm", folder / "catalog.db-journal"):
            leftover.unlink(missing_ok=True)
        path.write_bytes(case.payload)
        try:
            for record in catalog.records(path):
                math.isfinite(record.pixels)  # touch the values
        except _catalog_errors():
            return Outcome("clean")
        return Outcome("ok")
    raise ValueError(f"unknown target {case.target!r}")
