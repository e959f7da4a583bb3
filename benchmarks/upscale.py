"""Upscaling: Y-channel PSNR / SSIM on Set5 and Set14 for every method, the
JPEG-aware path, and speed.

    python benchmarks/upscale.py [--data ../shared/data/dev] [--scales 2 3 4] [--jpeg-qualities 30 50]
                                 [--tables quality jpeg speed] [--methods bicubic vdsr ...] [--update-cards]

Protocol (the literature's): the HR image is cropped to a multiple of the
scale, the LR image made by Pillow's bicubic downscale (antialiased, a = -0.5,
as MATLAB's imresize), enlarged by each method, and compared on the Y channel
of YCbCr (BT.601) with ``scale`` pixels cropped from each border.  Methods:
the four interpolations and every registered upscaler at each scale it knows.

JPEG-aware: the LR image is saved as JPEG at each quality (4:2:0) before
enlarging by the default upscaler; "upscale alone" enlarges the decoded JPEG,
"deblock, then upscale" first removes its artifacts with the default `fix`
model told the file's tables (what `pixrescue upscale` does for JPEG inputs).
Speed: output megapixels per second enlarging a 256x256 colour picture, on
all the machine's cores (torch's default threads), best of two runs.

``--update-cards`` writes each model's Set5/Set14 rows and speed into its
card (``metrics``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixrescue import zoo
from pixrescue.imaging.jpeg import round_trip
from pixrescue.tasks.upscale import INTERPOLATIONS, SCALES, upscale_frame, upscale_models
from pixrescue.training.evaluate import load_set, merge_into_cards
from pixrescue.training.metrics import sr_scores

SETS = ("Set5", "Set14")


def pair(hr: Image.Image, scale: int) -> tuple[Image.Image, Image.Image]:
    hr = hr.crop((0, 0, hr.width - hr.width % scale, hr.height - hr.height % scale))
    return hr, hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)


def methods_for(scale: int, chosen: list[str] | None = None) -> list[str]:
    """The interpolations and every shipped upscaler that knows ``scale``; ``chosen``
    keeps only those named (an interpolation, an architecture or a model name)."""
    every = [*INTERPOLATIONS, *(m for m in upscale_models()
                                if scale in zoo.get_spec(m).scales and zoo.weights_path(m).exists())]
    if chosen is None:
        return every
    return [m for m in every if m in chosen or m.split(".")[0] in chosen]


def quality_table(images, scales, cards, chosen=None) -> None:
    print("### Set5 / Set14, Y-channel PSNR (dB) / SSIM\n")
    print("| method | scale | Set5 | Set14 |")
    print("|---|---|---|---|")
    for scale in scales:
        for method in methods_for(scale, chosen):
            cells = []
            for name in SETS:
                scores = []
                for hr in images[name]:
                    hr, lr = pair(hr, scale)
                    scores.append(sr_scores(np.asarray(hr), np.asarray(upscale_frame(lr, scale, method)), scale))
                p, s = np.mean(scores, axis=0)
                cells.append(f"{p:.2f} / {s:.4f}")
                if method in cards:
                    cards[method].setdefault(f"x{scale}", {})[name] = {"psnr_y": round(float(p), 2),
                                                                       "ssim_y": round(float(s), 4)}
            print(f"| {method} | x{scale} | " + " | ".join(cells) + " |", flush=True)


def jpeg_table(images, scales, qualities) -> None:
    method = zoo.default_upscaler()
    print(f"\n### JPEG-compressed LR input, enlarged by {method}, Y-channel PSNR (dB)\n")
    print("| LR JPEG quality | scale | set | upscale alone | deblock, then upscale | gain (dB) |")
    print("|---|---|---|---|---|---|")
    for quality in qualities:
        for scale in scales:
            for name in SETS:
                plain, aware = [], []
                for hr in images[name]:
                    hr, lr = pair(hr, scale)
                    degraded, info = round_trip(lr, quality, "4:2:0")
                    ref = np.asarray(hr)
                    plain.append(sr_scores(ref, np.asarray(upscale_frame(degraded, scale, method)), scale)[0])
                    aware.append(sr_scores(ref, np.asarray(upscale_frame(degraded, scale, method, True, info)),
                                           scale)[0])
                print(f"| {quality} | x{scale} | {name} | {np.mean(plain):.2f} | {np.mean(aware):.2f} | "
                      f"{np.mean(aware) - np.mean(plain):+.2f} |", flush=True)


def speed_table(scales, cards, chosen=None) -> None:
    print("\n### Speed, 256x256 RGB input (output megapixels per second)\n")
    print("| method | scale | seconds | output MP/s |")
    print("|---|---|---|---|")
    source = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    for scale in scales:
        for method in methods_for(scale, chosen):
            times = []
            for _ in range(2):
                started = time.perf_counter()
                upscale_frame(source, scale, method)
                times.append(time.perf_counter() - started)
            seconds = min(times)
            rate = 256 * 256 * scale * scale / 1e6 / seconds
            print(f"| {method} | x{scale} | {seconds:.3f} | {rate:.2f} |", flush=True)
            if method in cards:
                cards[method].setdefault(f"x{scale}", {})["output_mp_per_s"] = round(rate, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--scales", type=int, nargs="+", default=list(SCALES))
    parser.add_argument("--jpeg-qualities", type=int, nargs="+", default=[30, 50])
    parser.add_argument("--tables", nargs="+", default=["quality", "jpeg", "speed"],
                        choices=["quality", "jpeg", "speed"])
    parser.add_argument("--methods", nargs="+", default=None,
                        help="Only these methods (interpolations, architectures or model names) in the "
                        "quality and speed tables.")
    parser.add_argument("--update-cards", action="store_true")
    args = parser.parse_args()
    images = {name: load_set(args.data / name, gray=False) for name in SETS}
    cards: dict[str, dict] = {m: {} for m in upscale_models()}
    if "quality" in args.tables:
        quality_table(images, args.scales, cards, args.methods)
    if "jpeg" in args.tables:
        jpeg_table(images, args.scales, args.jpeg_qualities)
    if "speed" in args.tables:
        speed_table(args.scales, cards, args.methods)
    if args.update_cards:
        merge_into_cards(cards, "python benchmarks/upscale.py --update-cards")

if __name__ == "__main__":
    main()
