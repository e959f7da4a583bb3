"""Invertible shrinking: how much of the original comes back.

    python benchmarks/rescale.py [--data ../shared/data/dev] [--scales 2 4] [--draws 3] [--refine-steps 20]
                                 [--update-cards]

Protocol: each Set5 / Set14 image cropped to a multiple of the scale, made
small, enlarged again, and compared with the original on the Y channel
(BT.601) with ``scale`` pixels cropped from each border, as in the
super-resolution tables.  Rows:

- bicubic shrink + bicubic enlarge;
- bicubic shrink + the default upscaler (the best `pixrescue upscale` model);
- `shrink` + `expand` with the latent at its mean (temperature 0) and drawn at
  temperature 1 (mean over ``--draws`` seeds);
- the same with the small picture saved as JPEG (Pillow, 4:2:0) at quality 90
  and 75 in between, by the plain model and by the JPEG-robust one;
- `shrink --refine STEPS` + `expand` (temperature 0), plain models, PNG;
- "small vs bicubic": PSNR of the small picture (as `shrink` writes it,
  PNG) against the bicubic downscale (does it still look right?), on the Y
  channel (BT.601, whole picture: the measure of the other rows) and on RGB.
  The gap between the two says how much of what the network hides is colour.

Speed: megapixels of the full-size picture per second, 1024x1024 RGB, all
the machine's cores; `shrink --refine STEPS` on 512x512 (it is some fifty
times slower at 20 steps, and its time grows with the area and the steps).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixrescue import zoo
from pixrescue.imaging.jpeg import compress
from pixrescue.tasks.rescale import JPEG_ROBUST_MODELS, MODELS, expand_frame, shrink_frame
from pixrescue.tasks.upscale import upscale_frame
from pixrescue.training.evaluate import load_set, merge_into_cards
from pixrescue.training.metrics import luma, psnr, sr_scores

SETS = ("Set5", "Set14")


def crop(image: Image.Image, scale: int) -> Image.Image:
    return image.crop((0, 0, image.width - image.width % scale, image.height - image.height % scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--refine-steps", type=int, default=20)
    parser.add_argument("--update-cards", action="store_true")
    args = parser.parse_args()
    refine_steps = args.refine_steps
    images = {name: load_set(args.data / name, gray=False) for name in SETS}
    upscaler = zoo.default_upscaler()
    cards: dict[str, dict] = {}
    likeness: dict[int, dict] = {}  # scale -> the small pictures' scores (below)

    print("### Y-channel PSNR (dB) / SSIM of the recovered full-size picture\n")
    print("| scale | method | small picture | Set5 | Set14 |")
    print("|---|---|---|---|---|")
    for scale in args.scales:
        rows = [("bicubic shrink + bicubic", None, None, "bicubic", 0),
                (f"bicubic shrink + {upscaler}", None, None, upscaler, 0)]
        models = [MODELS[scale]] + ([JPEG_ROBUST_MODELS[scale]] if scale in JPEG_ROBUST_MODELS else [])
        models = [m for m in models if zoo.weights_path(m).exists()]
        for model in models:
            for quality in (None, 90, 75):
                for temperature in (0.0, 1.0):
                    rows.append((f"shrink + expand ({model}, T={temperature:g})", quality, model, temperature, 0))
            if model == MODELS[scale]:
                rows.append((f"shrink --refine {refine_steps} + expand ({model}, T=0)", None, model, 0.0, refine_steps))
        # (model, refinement steps) -> set -> [(Y PSNR, RGB PSNR) per picture]
        small_scores: dict[tuple[str, int], dict[str, list[tuple[float, float]]]] = {}
        for label, quality, model, how, refine in rows:
            if quality is not None and how == 1.0:
                continue  # with JPEG in between, the mean latent only (draws add noise to a damaged picture)
            cells = []
            for name in SETS:
                scores = []
                for original in images[name]:
                    hr = crop(original, scale)
                    if model is None:
                        small = hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)
                        big = upscale_frame(small, scale, how)
                        scores.append(sr_scores(np.asarray(hr), np.asarray(big), scale))
                        continue
                    small = shrink_frame(hr, model, refine=refine)
                    if quality is None and how == 0.0:
                        bicubic, written = np.asarray(hr.resize(small.size, Image.BICUBIC)), np.asarray(small)
                        small_scores.setdefault((model, refine), {}).setdefault(name, []).append(
                            (psnr(luma(bicubic), luma(written)), psnr(bicubic, written)))
                    received = small if quality is None else compress(small, quality, "4:2:0")
                    draws = [0] if how == 0.0 else range(args.draws)
                    per_draw = [sr_scores(np.asarray(hr), np.asarray(expand_frame(received, model, hr.size, seed, how)),
                                          scale) for seed in draws]
                    scores.append(np.mean(per_draw, axis=0))
                p, s = np.mean(scores, axis=0)
                cells.append(f"{p:.2f} / {s:.4f}")
                if model is not None:
                    key = f"{name}_jpeg{quality}" if quality else name
                    group = f"refine{refine}_T{how:g}" if refine else f"T{how:g}"
                    cards.setdefault(model, {}).setdefault(group, {})[key] = {
                        "psnr_y": round(float(p), 2), "ssim_y": round(float(s), 4)}
            small_label = "bicubic" if model is None else ("PNG" if quality is None else f"JPEG q{quality}")
            print(f"| x{scale} | {label} | {small_label} | " + " | ".join(cells) + " |", flush=True)
        likeness[scale] = small_scores

    print("\n### The small picture against the bicubic downscale, PSNR (dB)\n")
    print("| scale | small picture | Y Set5 | Y Set14 | Y Set5 + Set14 | RGB Set5 + Set14 |")
    print("|---|---|---|---|---|---|")
    for scale, small_scores in likeness.items():
        for (model, refine), by_set in small_scores.items():
            every = [pair for name in SETS for pair in by_set[name]]
            y_sets = [float(np.mean([y for y, _ in by_set[name]])) for name in SETS]
            y_all, rgb_all = (float(np.mean(column)) for column in zip(*every))
            prefix = f"refine{refine}_" if refine else ""
            cards.setdefault(model, {}).update({f"{prefix}small_vs_bicubic_psnr_y": round(y_all, 2),
                                                f"{prefix}small_vs_bicubic_psnr": round(rgb_all, 2)})
            what = f"{model}, --refine {refine}" if refine else model
            print(f"| x{scale} | {what} | " + " | ".join(f"{v:.2f}" for v in (*y_sets, y_all, rgb_all)) + " |")

    print("\n### Speed, 1024x1024 RGB (full-size megapixels per second)\n")
    print("| model | shrink s | shrink MP/s | expand s | expand MP/s |")
    print("|---|---|---|---|---|")
    source = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    for model in [*MODELS.values(), *JPEG_ROBUST_MODELS.values()]:
        if not zoo.weights_path(model).exists():
            continue
        started = time.perf_counter()
        small = shrink_frame(source, model)
        shrink_s = time.perf_counter() - started
        started = time.perf_counter()
        expand_frame(small, model, source.size)
        expand_s = time.perf_counter() - started
        print(f"| {model} | {shrink_s:.2f} | {1.048576 / shrink_s:.2f} | {expand_s:.2f} | {1.048576 / expand_s:.2f} |")
        cards.setdefault(model, {})["mp_per_s"] = {"shrink": round(1.048576 / shrink_s, 2),
                                                   "expand": round(1.048576 / expand_s, 2)}
    for model in MODELS.values():
        started = time.perf_counter()
        shrink_frame(source.crop((0, 0, 512, 512)), model, refine=refine_steps)
        refine_s = time.perf_counter() - started
        print(f"| {model}, shrink --refine {refine_steps} (512x512) | {refine_s:.1f} | {0.262144 / refine_s:.4f} | | |")
        cards[model]["mp_per_s"][f"shrink_refine{refine_steps}"] = round(0.262144 / refine_s, 4)
    if args.update_cards:
        merge_into_cards(cards, "python benchmarks/rescale.py --update-cards")

if __name__ == "__main__":
    main()
