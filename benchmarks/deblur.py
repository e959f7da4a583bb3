"""Blind deblurring against the blurred input and classical deconvolution.

    python benchmarks/deblur.py [--data ../shared/data/dev] [--images 8] [--side 256] [--speed]

Protocol.  The colour dev sets Kodak24, McMaster and CBSD68 (never trained
on): the first ``--images`` pictures of each, sorted by name (0: all), the
centre ``--side`` x ``--side`` crop.  Each crop blurred by every kernel of
``KERNELS`` (camera motion along a random path drawn from seed 77 at 5, 9
and 15 pixels; defocus discs of radius 3 and 5; a Gaussian of sigma 1.5;
``pixrescue/training/blur.py``), edges mirrored, with Gaussian noise of
sigma 1 (8-bit levels, seed 0), rounded to 8 bits.  PSNR (RGB, 8 bits,
``--border`` pixels cropped from each side) against the sharp crop of

- the blurred input;
- `pixrescue deblur` (the default model; blind);
- scikit-image's Richardson-Lucy (30 iterations) and Wiener (balance 0.01)
  deconvolution given the true kernel: a reference a blind method should
  approach;
- Richardson-Lucy with an estimated kernel: the Gaussian (sigma 0.5, 1, 1.5,
  2 or 3) whose result the quality score (``pixrescue.quality_score``)
  rates best.

``--speed`` also times the default model on a 1024x1024 picture (median of 3
runs after a warm-up, the threads torch uses by default).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.restoration import richardson_lucy, wiener

import pixrescue
from pixrescue import cards, zoo
from pixrescue.training.blur import blur, disc_kernel, gaussian_kernel, motion_kernel
from pixrescue.training.metrics import psnr

SETS = ("Kodak24", "McMaster", "CBSD68")
_rng = np.random.default_rng(77)
KERNELS = {f"motion {n} px": motion_kernel(n, _rng) for n in (5, 9, 15)}
KERNELS.update({"defocus r3": disc_kernel(3), "defocus r5": disc_kernel(5), "Gaussian 1.5": gaussian_kernel(1.5)})
GUESSES = (0.5, 1, 1.5, 2, 3)
NOISE = 1.0


def crops(root: Path, images: int, side: int) -> list[np.ndarray]:
    found = []
    for name in SETS:
        paths = sorted((root / name).iterdir())
        for path in paths[:images] if images else paths:
            picture = Image.open(path).convert("RGB")
            left, top = (picture.width - side) // 2, (picture.height - side) // 2
            found.append(np.asarray(picture.crop((left, top, left + side, top + side))))
    return found


def per_channel(method, pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    planes = [method(pixels[..., c] / 255.0, kernel) for c in range(3)]
    return np.clip(np.rint(np.stack(planes, -1) * 255.0), 0, 255).astype(np.uint8)


def rl(pixels, kernel):
    return per_channel(lambda p, k: richardson_lucy(p, k, num_iter=30), pixels, kernel)


def wiener_true(pixels, kernel):
    return per_channel(lambda p, k: wiener(p, k, 0.01), pixels, kernel)


def rl_estimated(pixels):
    candidates = [rl(pixels, gaussian_kernel(sigma)) for sigma in GUESSES]
    return max(candidates, key=lambda c: pixrescue.quality_score(Image.fromarray(c)))


def speed() -> float:
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    pixrescue.deblur(picture)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        pixrescue.deblur(picture)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"\nSpeed: 1024x1024 in {median:.2f} s ({1.048576 / median:.2f} MP/s, {torch.get_num_threads()} threads)")
    return round(1.048576 / median, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--border", type=int, default=16)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--update-cards", action="store_true", help="Write the figures into the default model's card.")
    args = parser.parse_args()
    sharp = crops(args.data, args.images, args.side)
    b = args.border
    methods = ("blurred input", "pixrescue deblur", "RL, true kernel", "Wiener, true kernel", "RL, estimated kernel")
    print(f"\nPSNR (dB, RGB, {b}-pixel border cropped) over {len(sharp)} crops of {args.side}x{args.side} "
          f"({', '.join(SETS)}), noise sigma {NOISE:g}\n")
    print("| blur | " + " | ".join(methods) + " |")
    print("|---|" + "---:|" * len(methods))
    noise_rng = np.random.default_rng(0)
    totals = {m: [] for m in methods}
    measured = {}
    for label, kernel in KERNELS.items():
        scores = {m: [] for m in methods}
        for clean in sharp:
            blurred = blur(clean.astype(np.float64), kernel) + noise_rng.normal(0, NOISE, clean.shape)
            blurred = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
            outputs = {"blurred input": blurred,
                       "pixrescue deblur": np.asarray(pixrescue.deblur(Image.fromarray(blurred))),
                       "RL, true kernel": rl(blurred, kernel), "Wiener, true kernel": wiener_true(blurred, kernel),
                       "RL, estimated kernel": rl_estimated(blurred)}
            for method, out in outputs.items():
                scores[method].append(psnr(clean[b:-b, b:-b], out[b:-b, b:-b]))
        for method in methods:
            totals[method] += scores[method]
        print(f"| {label} | " + " | ".join(f"{np.mean(scores[m]):.2f}" for m in methods) + " |")
        measured[label] = {"psnr_input": round(float(np.mean(scores["blurred input"])), 2),
                           "psnr_output": round(float(np.mean(scores["pixrescue deblur"])), 2),
                           "psnr_rl_true_kernel": round(float(np.mean(scores["RL, true kernel"])), 2)}
    print("| all | " + " | ".join(f"{np.mean(totals[m]):.2f}" for m in methods) + " |")
    if args.speed:
        measured["output_mp_per_s"] = speed()
    if args.update_cards:
        command = f"python benchmarks/deblur.py --images {args.images} --side {args.side} --border {b}" + (
            " --speed" if args.speed else "")
        cards.update(cards.card_path(zoo.DEFAULT_MODEL["deblur"]), lambda card: card.update(
            metrics={f"dev crops, {len(sharp)} pictures, noise sigma {NOISE:g}": measured}, metrics_command=command))


if __name__ == "__main__":
    main()
