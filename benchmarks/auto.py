"""`fix --auto` against the fixed pipelines, on pictures degraded in known ways.

    python benchmarks/auto.py [--data ../shared/data/dev] [--images 4] [--side 256]

Protocol.  The colour dev sets Kodak24, McMaster and CBSD68 (never trained
on): the first ``--images`` pictures of each, sorted by name (0: all), the
centre ``--side`` x ``--side`` crop (the clean picture).  Each crop goes
through every recipe (printed with the table; the k-th picture of a recipe
takes the k-th of its variants):

- clean: nothing;
- jpeg: saved once at quality 10, 20 or 30 (Pillow, 4:2:0);
- blur: camera motion of 9 pixels, a defocus disc of radius 3 or a Gaussian
  of sigma 1.5 (``training/blur.py``), noise sigma 1;
- blur then jpeg: the same, then saved at quality 40, 60 or 80;
- re-shared: saved at quality 20, cropped by 3 pixels (the 8x8 grid moves;
  the clean crop moves with it), saved at quality 75;
- downscale then jpeg: halved (bicubic), saved at quality 50, 70 or 90; every
  pipeline ends at the clean size (``--min-size`` for --auto, x2 for the others).

Each degraded picture is written as the file a user would have (JPEG or PNG)
and read back with ``pixrescue.load``, so the tables are seen as `fix` sees
them.  PSNR (RGB, 8 bits) against the clean picture, of the input (bicubic
x2 for the downscaled recipe), every single step and fixed order, and
``pixrescue.auto``; the mean per recipe.  Targets: --auto within 0.1 dB of the
best fixed pipeline on every recipe, better than the default `fix` on the
blurred and downscaled ones, clean pictures untouched.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import pixrescue
from pixrescue.training.blur import blur, disc_kernel, gaussian_kernel, motion_kernel
from pixrescue.training.metrics import psnr

SETS = ("Kodak24", "McMaster", "CBSD68")
BLURS = (motion_kernel(9, np.random.default_rng(77)), disc_kernel(3), gaussian_kernel(1.5))


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def blurred(image: Image.Image, k: int) -> Image.Image:
    pixels = blur(np.asarray(image, dtype=np.float64), BLURS[k % 3])
    pixels += np.random.default_rng(k).normal(0, 1, pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def degrade(clean: Image.Image, recipe: str, k: int) -> tuple[bytes, str, Image.Image]:
    """(the file's bytes, its extension, the clean picture it is compared with)."""
    if recipe == "clean":
        return png(clean), "png", clean
    if recipe == "jpeg":
        return jpeg(clean, (10, 20, 30)[k % 3]), "jpg", clean
    if recipe == "blur":
        return png(blurred(clean, k)), "png", clean
    if recipe == "blur then jpeg":
        return jpeg(blurred(clean, k), (40, 60, 80)[k % 3]), "jpg", clean
    if recipe == "re-shared":
        first = Image.open(io.BytesIO(jpeg(clean, 20))).crop((3, 3, clean.width, clean.height))
        return jpeg(first, 75), "jpg", clean.crop((3, 3, clean.width, clean.height))
    small = clean.resize((clean.width // 2, clean.height // 2), Image.BICUBIC)
    return jpeg(small, (50, 70, 90)[k % 3]), "jpg", clean


RECIPES = ("clean", "jpeg", "blur", "blur then jpeg", "re-shared", "downscale then jpeg")
SAME_SIZE = {
    "input": lambda p: p,
    "fix": lambda p: pixrescue.restore(p),
    "deblur": lambda p: pixrescue.deblur(p),
    "fix, deblur": lambda p: pixrescue.deblur(pixrescue.restore(p)),
    "deblur, fix": lambda p: pixrescue.restore(pixrescue.deblur(p)),
}
ENLARGING = {
    "input": lambda p: p.with_frames([p.image.resize((p.size[0] * 2, p.size[1] * 2), Image.BICUBIC)]),
    "upscale --no-deblock": lambda p: pixrescue.upscale(p, 2, deblock=False),
    "upscale (deblock first)": lambda p: pixrescue.upscale(p, 2, deblock=True),
    "fix, upscale": lambda p: pixrescue.upscale(pixrescue.restore(p), 2, deblock=False),
    "fix, deblur, upscale": lambda p: pixrescue.upscale(pixrescue.deblur(pixrescue.restore(p)), 2, deblock=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--side", type=int, default=256)
    args = parser.parse_args()
    cleans = []
    for name in SETS:
        paths = sorted((args.data / name).iterdir())
        for path in paths[:args.images] if args.images else paths:
            picture = Image.open(path).convert("RGB")
            left, top = (picture.width - args.side) // 2, (picture.height - args.side) // 2
            cleans.append(picture.crop((left, top, left + args.side, top + args.side)))
    print(f"\nPSNR (dB, RGB) against the clean picture: {len(cleans)} crops of {args.side}x{args.side} "
          f"({', '.join(SETS)}), each through every recipe\n")
    folder = Path(tempfile.mkdtemp())
    for recipe in RECIPES:
        pipelines = ENLARGING if recipe.startswith("downscale") else SAME_SIZE
        scores = {name: [] for name in [*pipelines, "--auto"]}
        untouched, steps = 0, {}
        for k, clean in enumerate(cleans):
            payload, extension, reference = degrade(clean, recipe, k)
            path = folder / f"{k}.{extension}"
            path.write_bytes(payload)
            picture = pixrescue.load(path)
            target = np.asarray(reference)
            for name, pipeline in pipelines.items():
                scores[name].append(psnr(target, np.asarray(pipeline(picture).image.convert("RGB"))))
            fixed = pixrescue.auto(picture, min_size=reference.size)
            scores["--auto"].append(psnr(target, np.asarray(fixed.image.convert("RGB"))))
            untouched += fixed.unchanged is not None and np.array_equal(np.asarray(fixed.image), np.asarray(picture.image))
            steps[fixed.steps or "nothing"] = steps.get(fixed.steps or "nothing", 0) + 1
        print(f"**{recipe}** (--auto ran: {'; '.join(f'{s} {n}x' for s, n in sorted(steps.items()))}; "
              f"left untouched {untouched}/{len(cleans)})\n")
        print("| " + " | ".join(scores) + " |")
        print("|" + "---:|" * len(scores))
        print("| " + " | ".join(f"{np.mean(v):.2f}" if np.isfinite(np.mean(v)) else "inf" for v in scores.values())
              + " |\n")


if __name__ == "__main__":
    main()
