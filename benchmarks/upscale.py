"""Upscaling: Y-channel PSNR / SSIM on Set5 and Set14, the JPEG-aware path,
and speed.

    python benchmarks/upscale.py [--data ../shared/data/dev] [--scales 2 3 4] [--jpeg-qualities 30 50]

Protocol (the literature's): the HR image is cropped to a multiple of the
scale, the LR image made by Pillow's bicubic downscale (antialiased, a = -0.5,
as MATLAB's imresize), enlarged by each method, and compared on the Y channel
of YCbCr (BT.601) with ``scale`` pixels cropped from each border.

JPEG-aware: the LR image is saved as JPEG at each quality (4:2:0) before
enlarging; "upscale alone" enlarges the decoded JPEG, "deblock, then upscale"
first removes its artifacts with the default `fix` model told the file's
tables (what `pixrescue upscale` does for JPEG inputs).  Speed: output
megapixels per second enlarging a 512x512 colour image 4 times.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixrescue.imaging.jpeg import round_trip
from pixrescue.tasks.upscale import INTERPOLATIONS, upscale_frame
from pixrescue.training.evaluate import load_set
from pixrescue.training.metrics import sr_scores

SETS = ("Set5", "Set14")


def pair(hr: Image.Image, scale: int) -> tuple[Image.Image, Image.Image]:
    hr = hr.crop((0, 0, hr.width - hr.width % scale, hr.height - hr.height % scale))
    return hr, hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--jpeg-qualities", type=int, nargs="+", default=[30, 50])
    args = parser.parse_args()
    images = {name: load_set(args.data / name, gray=False) for name in SETS}

    print("### Set5 / Set14, Y-channel PSNR (dB) / SSIM\n")
    print("| method | " + " | ".join(f"x{s} {name}" for s in args.scales for name in SETS) + " |")
    print("|---|" + "---|" * (len(args.scales) * len(SETS)))
    for method in INTERPOLATIONS:
        cells = []
        for scale in args.scales:
            for name in SETS:
                scores = []
                for hr in images[name]:
                    hr, lr = pair(hr, scale)
                    scores.append(sr_scores(np.asarray(hr), np.asarray(upscale_frame(lr, scale, method)), scale))
                p, s = np.mean(scores, axis=0)
                cells.append(f"{p:.2f} / {s:.4f}")
        print(f"| {method} | " + " | ".join(cells) + " |", flush=True)

    print("\n### JPEG-compressed LR input, bicubic enlargement, Y-channel PSNR (dB)\n")
    print("| LR JPEG quality | scale | set | upscale alone | deblock, then upscale | gain (dB) |")
    print("|---|---|---|---|---|---|")
    for quality in args.jpeg_qualities:
        for scale in args.scales:
            for name in SETS:
                plain, aware = [], []
                for hr in images[name]:
                    hr, lr = pair(hr, scale)
                    degraded, info = round_trip(lr, quality, "4:2:0")
                    ref = np.asarray(hr)
                    plain.append(sr_scores(ref, np.asarray(upscale_frame(degraded, scale, "bicubic")), scale)[0])
                    aware.append(sr_scores(ref, np.asarray(upscale_frame(degraded, scale, "bicubic", True, info)),
                                           scale)[0])
                print(f"| {quality} | x{scale} | {name} | {np.mean(plain):.2f} | {np.mean(aware):.2f} | "
                      f"{np.mean(aware) - np.mean(plain):+.2f} |", flush=True)

    print("\n### Speed, 512x512 RGB enlarged 4 times (output megapixels per second)\n")
    print("| method | seconds | output MP/s |")
    print("|---|---|---|")
    source = Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    for method in INTERPOLATIONS:
        started = time.perf_counter()
        upscale_frame(source, 4, method)
        seconds = time.perf_counter() - started
        print(f"| {method} | {seconds:.3f} | {2048 * 2048 / 1e6 / seconds:.1f} |")


if __name__ == "__main__":
    main()
