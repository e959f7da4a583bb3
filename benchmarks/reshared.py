"""Re-shared pictures: compressed hard once, then re-saved at high quality.

    python benchmarks/reshared.py [--data ../shared/data/dev] [--images 4] [--crop 256]
                                  [--tables restore detection] [--detection-images N] [--strengths 10 15 20 25 30 40 50 70 90]
                                  [--model NAME_OR_WEIGHTS] [--previous-model WEIGHTS] [--recipes "q15 > q90" ...]

Protocol.  Colour dev sets Kodak24, McMaster and CBSD68: the first
``--images`` pictures of each (sorted by name), centre-cropped to ``--crop``
pixels (0: whole), go through each recipe below with Pillow's IJG encoder
(4:2:0); the reference is the clean picture through the same crops and
resizes.  Each recipe is measured as the JPEG file it ends as and as the same
pixels saved losslessly (PNG: no tables, the model estimates).  PSNR on RGB
over the whole picture, mean over the pictures:

- input: the picture as it is;
- previous default: the file's own tables and projection (a JPEG), or the
  estimator on the file's grid with the clean-picture rule (a PNG), which
  is how ``fix`` worked before it looked at a picture's history (with the
  estimator of ``--previous-model``: the one trained on the last quality);
- default: ``fix`` as it is now (``tasks/restore.py: conditioning``);
- oracle: the best single setting for the whole recipe, found by sweeping
  ``--strength`` over ``--strengths``, without and (JPEG) with projection.

``detection`` (no restoration, every picture of the three sets at its full
size): how often the history estimate says "compressed harder before the last
save" for single compressions at q10-q95 (false detections), and for the
same-grid recipes whose first quality is at most 30 and last at least 75
(detections), and the mean error of the estimated first quality, and for
histories resized between a harsh save and a gentle one (``RESIZED``); then the
same pixels kept without loss: how often the DCT histograms give a quality
(``history.quantized_quality``), its error against the harshest compression,
and how often ``fix`` would restore the picture (clean ones must be left
alone).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixrescue import zoo
from pixrescue.imaging.history import quantized_quality, shifted_grid, with_history
from pixrescue.imaging.jpeg import grid_strength, read_info, reopened
from pixrescue.tasks.restore import GRID_EVIDENCE, UNTOUCHED_FROM, conditioning, estimate_quality, restore_frame
from pixrescue.training.metrics import psnr

MODEL = zoo.DEFAULT_MODEL["jpeg"]
PREVIOUS = MODEL  # the model of the "previous default" column (--previous-model)
SETS = ("Kodak24", "McMaster", "CBSD68")
# (name, steps): ("q", Q) a JPEG save at quality Q, ("crop", n) cut n pixels from the top and left
# (the next save's grid moves), ("resize", f) bicubic resize by f.
RECIPES = [
    ("q10", [("q", 10)]),
    ("q20", [("q", 20)]),
    ("q30", [("q", 30)]),
    ("q50", [("q", 50)]),
    ("q15 > q90", [("q", 15), ("q", 90)]),
    ("q10 > q90", [("q", 10), ("q", 90)]),
    ("q20 > q85", [("q", 20), ("q", 85)]),
    ("q30 > q75", [("q", 30), ("q", 75)]),
    ("q30 > q95", [("q", 30), ("q", 95)]),
    ("q15 > q75 > q90", [("q", 15), ("q", 75), ("q", 90)]),
    ("q15 > crop 3 > q90", [("q", 15), ("crop", 3), ("q", 90)]),
    ("q20 > crop 5 > q85 > q95", [("q", 20), ("crop", 5), ("q", 85), ("q", 95)]),
    ("q15 > x0.9 > q90", [("q", 15), ("resize", 0.9), ("q", 90)]),
    ("q20 > x0.7 > q85", [("q", 20), ("resize", 0.7), ("q", 85)]),
    ("q30 > x0.5 > q75", [("q", 30), ("resize", 0.5), ("q", 75)]),
]


# Resized between a harsh save and a gentle one (the detection table): (first quality, factor, last quality).
RESIZED = [(first, factor, last) for first in (10, 20, 30) for factor in (0.5, 0.7, 0.9) for last in (75, 90)]


def apply(clean: Image.Image, steps) -> tuple[Image.Image, Image.Image]:
    """(the picture after ``steps``, the reference through the same geometry)."""
    x, reference = clean, clean
    for kind, value in steps:
        if kind == "q":
            x = reopened(x, value)
        elif kind == "crop":
            box = (value, value, x.width, x.height)
            x, reference = x.crop(box), reference.crop(box)
        else:
            size = (round(x.width * value), round(x.height * value))
            x, reference = x.convert("RGB").resize(size, Image.BICUBIC), reference.resize(size, Image.BICUBIC)
    return x, reference


def load_pictures(root: Path, images: int, crop: int) -> list[Image.Image]:
    pictures = []
    for name in SETS:
        for path in sorted((root / name).iterdir())[:images] if images else sorted((root / name).iterdir()):
            picture = Image.open(path).convert("RGB")
            if crop:
                left, top = max(0, (picture.width - crop) // 2), max(0, (picture.height - crop) // 2)
                picture = picture.crop((left, top, left + min(crop, picture.width), top + min(crop, picture.height)))
            pictures.append(picture)
    return pictures


def file_info(picture: Image.Image):
    return with_history(picture, read_info(picture))


def previous_default(picture: Image.Image, as_png: bool) -> Image.Image:
    colour = picture.convert("RGB")
    if not as_png:
        info = read_info(picture)
        return restore_frame(colour, PREVIOUS, jpeg=info, strength=info.quality, project=True)
    quality = estimate_quality(PREVIOUS, colour)
    if quality >= UNTOUCHED_FROM and grid_strength(colour) < GRID_EVIDENCE:
        return colour
    return restore_frame(colour, PREVIOUS, strength=quality, project=False)


def default(picture: Image.Image, as_png: bool) -> Image.Image:
    colour = picture.convert("RGB")
    return restore_frame(colour, MODEL, jpeg=None if as_png else file_info(picture))


def restore_table(pictures, strengths, only: list[str] | None = None) -> None:
    print("| recipe | as | input | previous default | default | oracle | oracle setting | default - oracle |")
    print("|---|---|---|---|---|---|---|---|")
    for name, steps in RECIPES:
        if only and name not in only:
            continue
        made = [apply(p, steps) for p in pictures]
        for as_png in (False, True):
            def score(restore) -> float:
                return float(np.mean([psnr(np.asarray(ref), np.asarray(restore(x))) for x, ref in made]))

            row = {"input": score(lambda x: x.convert("RGB")),
                   "previous": score(lambda x: previous_default(x, as_png)),
                   "default": score(lambda x: default(x, as_png))}
            sweep = {}
            for strength in strengths:
                for project in ((False,) if as_png else (False, True)):
                    sweep[(strength, project)] = score(lambda x: restore_frame(
                        x.convert("RGB"), MODEL, jpeg=None if as_png else read_info(x), strength=strength,
                        project=project))
            (best_strength, best_project), oracle = max(sweep.items(), key=lambda item: item[1])
            setting = f"--strength {best_strength}" + (" --project" if best_project else "")
            print(f"| {name} | {'PNG' if as_png else 'JPEG'} | {row['input']:.2f} | {row['previous']:.2f} | "
                  f"{row['default']:.2f} | {oracle:.2f} | {setting} | {row['default'] - oracle:+.2f} |", flush=True)


def detection_table(pictures) -> None:
    singles = [("q", q) for q in (10, 20, 30, 50, 75, 90, 95)]
    doubles = [(first, last) for first in (10, 15, 20, 30) for last in (75, 85, 90, 95)]
    false, total = 0, 0
    for quality in singles:
        for picture in pictures:
            x = reopened(picture, quality[1])
            told = conditioning(MODEL, x.convert("RGB"), file_info(x))
            false += not told.project
            total += 1
    print("| pictures | compressed | said compressed harder before | first quality error (mean, max) |")
    print("|---|---|---|---|")
    print(f"| {len(pictures)} x {len(singles)} | once, q10-q95 | {false}/{total} ({100 * false / total:.1f} %) | |")
    found, total, errors = 0, 0, []
    for first, last in doubles:
        for picture in pictures:
            x = reopened(reopened(picture, first), last)
            info = file_info(x)
            told = conditioning(MODEL, x.convert("RGB"), info)
            if not told.project and info.history is not None and info.history.recompressed:
                found += 1
                errors.append(abs(info.history.first_quality - first))
            total += 1
    print(f"| {len(pictures)} x {len(doubles)} | q10-30, then q75-95 on the same grid | {found}/{total} "
          f"({100 * found / total:.1f} %) | {np.mean(errors):.1f}, {max(errors)} |")
    found, total = 0, 0
    for first, factor, last in RESIZED:
        for picture in pictures:
            x, _ = apply(picture, [("q", first), ("resize", factor), ("q", last)])
            found += not conditioning(MODEL, x.convert("RGB"), file_info(x)).project
            total += 1
    print(f"| {len(pictures)} x {len(RESIZED)} | q10-30, resized by 0.5-0.9, then q75 or q90 | {found}/{total} "
          f"({100 * found / total:.1f} %) | |")
    print()
    print("The same pixels kept without loss (PNG: no tables; the DCT histograms read on the strongest grid):\n")
    print("| pictures | compressed | quality read | error of the quality read (mean, max) | told a quality |")
    print("|---|---|---|---|---|")
    cases = [("once, q10-q95", [[q] for _, q in singles], lambda qualities: qualities[0]),
             ("q10-30, then q75-95 on the same grid", [[a, b] for a, b in doubles], min),
             ("never (clean)", [[]], None)]
    for label, histories, truth in cases:
        read, told, total, errors = 0, 0, 0, []
        for qualities in histories:
            for picture in pictures:
                x = picture
                for quality in qualities:
                    x = reopened(x, quality)
                colour = x.convert("RGB")
                phase = shifted_grid(colour) or (0, 0)
                found = quantized_quality(colour, phase)
                if found is not None:
                    read += 1
                    if truth is not None:
                        errors.append(abs(found - truth(qualities)))
                told += conditioning(MODEL, colour).tables is not None
                total += 1
        error = f"{np.mean(errors):.1f}, {max(errors)}" if errors else "-"
        print(f"| {len(pictures)} x {len(histories)} | {label} | {read}/{total} ({100 * read / total:.1f} %) | "
              f"{error} | {told}/{total} |")


def main() -> None:
    global MODEL, PREVIOUS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--images", type=int, default=4, help="pictures per set for the restore table (0: all)")
    parser.add_argument("--crop", type=int, default=256, help="centre crop for the restore table (0: whole)")
    parser.add_argument("--detection-images", type=int, default=0,
                        help="pictures per set for the detection table (0: all, at full size)")
    parser.add_argument("--tables", nargs="+", default=["restore", "detection"], choices=["restore", "detection"])
    parser.add_argument("--strengths", type=int, nargs="+", default=[10, 15, 20, 25, 30, 40, 50, 70, 90])
    parser.add_argument("--previous-model", default=None,
                        help="weights for the previous-default column (default: --model); the weights of "
                        "before the estimator learned the harshest quality: git show 0588d94:pixrescue/weights/"
                        "qgunet.jpeg-blind.safetensors (and .json beside it)")
    parser.add_argument("--recipes", nargs="+", default=None, help="only these recipes (names as printed)")
    parser.add_argument("--model", default=MODEL, help="the blind model (a name, or weights that `train` wrote)")
    args = parser.parse_args()
    MODEL = args.model
    PREVIOUS = args.previous_model or MODEL
    started = time.time()
    print(f"Recipes (Pillow IJG encoder, 4:2:0): {'; '.join(name for name, _ in RECIPES)}\n")
    if "restore" in args.tables:
        pictures = load_pictures(args.data, args.images, args.crop)
        print(f"Restoration, {len(pictures)} pictures ({args.images or 'all'} per set of {', '.join(SETS)}, "
              f"{'centre ' + str(args.crop) + ' px' if args.crop else 'whole'}), PSNR (dB, RGB):\n")
        restore_table(pictures, args.strengths, args.recipes)
        print()
    if "detection" in args.tables:
        pictures = load_pictures(args.data, args.detection_images, 0)
        print(f"History detection, {args.detection_images or 'every'} picture{'s per set' if args.detection_images else ''} "
              f"of {', '.join(SETS)} at full size:\n")
        detection_table(pictures)
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
