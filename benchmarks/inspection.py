"""How well `pixrescue inspect` reads a picture without tables, and calls it blurred.

    python benchmarks/inspection.py [--data ../shared/data/dev] [--images 8] [--qualities 10 20 ... 90]
                                     [--tables quality blur]

Protocol.  The colour dev sets Kodak24, McMaster and CBSD68: the first
``--images`` pictures of each (sorted by name; 0: all), whole.

- Quality: each picture saved once as a JPEG at every quality of
  ``--qualities`` (Pillow's IJG encoder, 4:2:0) and decoded, its pixels
  kept without loss (a PNG: no tables).  ``pixrescue.inspect`` reads the
  quality from the DCT histograms (``dct_quality``) or, where they show
  none, takes the default model's estimate (``estimated_quality``).  The
  table gives, per quality, the share of pictures read within +-5 of the
  truth (the target: at least 90 %), the share of DCT readings, the mean
  absolute error, and the estimator alone for comparison.
- Blur: every picture sharp, and blurred with a Gaussian of sigma 1 and 2
  (each RGB channel, scipy.ndimage); the share below the sharpness line,
  and the share ``inspect`` calls blurred (below the line, or between it and
  ``CHECKED_BELOW`` and changed by the deblurring network by more than
  ``CHANGED_ABOVE`` times its fine detail: ``tasks.inspect.blur_check``);
  on the sharp pictures, false positives.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

import pixrescue
from pixrescue import zoo
from pixrescue.imaging.jpeg import compress
from pixrescue.tasks.inspect import BLURRED_BELOW, blur_check

SETS = ("Kodak24", "McMaster", "CBSD68")
TOLERANCE = 5


def load_pictures(root: Path, images: int) -> list[Image.Image]:
    pictures = []
    for name in SETS:
        paths = sorted((root / name).iterdir())
        pictures += [Image.open(path).convert("RGB") for path in (paths[:images] if images else paths)]
    return pictures


def blurred(image: Image.Image, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    planes = [gaussian_filter(pixels[..., c], sigma) for c in range(3)]
    return Image.fromarray(np.stack(planes, -1).round().clip(0, 255).astype(np.uint8))


def quality_table(pictures: list[Image.Image], qualities: list[int]) -> None:
    print(f"\n| JPEG quality | inspect within ±{TOLERANCE} | from the DCT | mean abs. error "
          f"| estimator alone within ±{TOLERANCE} | its mean abs. error |")
    print("|---:|---:|---:|---:|---:|---:|")
    totals = []
    for quality in qualities:
        read, estimated, from_dct = [], [], 0
        for picture in pictures:
            found = pixrescue.inspect(compress(picture, quality, "4:2:0").convert("RGB"))
            from_dct += found.dct_quality is not None
            read.append(found.dct_quality if found.dct_quality is not None else found.estimated_quality)
            estimated.append(found.estimated_quality)
        read_error, estimate_error = np.abs(np.array(read) - quality), np.abs(np.array(estimated) - quality)
        totals.append((read_error, estimate_error))
        print(f"| {quality} | {np.mean(read_error <= TOLERANCE):.0%} | {from_dct / len(pictures):.0%} "
              f"| {read_error.mean():.1f} | {np.mean(estimate_error <= TOLERANCE):.0%} | {estimate_error.mean():.1f} |",
              flush=True)
    read_all = np.concatenate([r for r, _ in totals])
    estimate_all = np.concatenate([e for _, e in totals])
    print(f"| all | {np.mean(read_all <= TOLERANCE):.0%} | | {read_all.mean():.1f} "
          f"| {np.mean(estimate_all <= TOLERANCE):.0%} | {estimate_all.mean():.1f} |")


def blur_table(pictures: list[Image.Image]) -> None:
    print(f"\n| pictures | sharpness < {BLURRED_BELOW} | called blurred by inspect | sharpness: min | median | max |")
    print("|---|---:|---:|---:|---:|---:|")
    model = zoo.DEFAULT_MODEL["deblur"]
    for label, sigma in (("sharp (false positives)", 0), ("Gaussian sigma 1", 1), ("Gaussian sigma 2", 2)):
        checks = [blur_check(picture, picture, model)[:2] for picture in
                  (blurred(p, sigma) if sigma else p for p in pictures)]
        below = np.mean([value is not None and value < BLURRED_BELOW for value, _ in checks])  # None: no detail
        called = np.mean([verdict for _, verdict in checks])
        values = np.array([value for value, _ in checks if value is not None])
        print(f"| {label} | {below:.0%} | {called:.0%} | {values.min():.3f} | {np.median(values):.3f} "
              f"| {values.max():.3f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared/data/dev")
    parser.add_argument("--images", type=int, default=8, help="pictures per set (0: all)")
    parser.add_argument("--qualities", type=int, nargs="+", default=list(range(10, 100, 10)))
    parser.add_argument("--tables", nargs="+", choices=("quality", "blur"), default=["quality", "blur"])
    args = parser.parse_args(argv)
    print(__doc__)
    pictures = load_pictures(args.data, args.images)
    print(f"{len(pictures)} pictures ({args.images or 'all'} per set of {', '.join(SETS)})")
    start = time.time()
    if "quality" in args.tables:
        quality_table(pictures, args.qualities)
    if "blur" in args.tables:
        blur_table(pictures)
    print(f"\n({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
