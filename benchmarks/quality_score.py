"""How well the quality score ranks degraded pictures by their true PSNR.

    python benchmarks/quality_score.py [--data ../shared/data/dev] [--images 0] [--side 256] [--seed 0]

Protocol.  The colour dev sets Kodak24, McMaster and CBSD68 (never trained
on): the first ``--images`` pictures of each, sorted by name (0: all).  From
each picture, one ``--side`` x ``--side`` crop put through each recipe of
``pixrescue/training/degrade.mixed_degradation`` (clean, a JPEG history,
blur, downscaling and enlarging back, noise; as the score was trained,
random strengths drawn from ``--seed``), and the same crop saved once by
Pillow at quality 10, 30 and 90.  The full-reference truth is the PSNR of
each degraded crop against its clean crop (at most 50 dB).  The table gives
Spearman's rank correlation between the truth and

- the quality score (``pixrescue.quality_score``),
- blockiness alone (the 8x8 grid strength, ``inspect``'s ``blockiness``:
  more is worse, so its negative),
- the variance of the Laplacian (sharpness: more is better),
- the default JPEG model's quality estimate (``inspect``'s ``estimated_quality``),

over all crops and per recipe, and the mean absolute error of the
predicted PSNR.  The target: at least 0.9 over all crops, above the baselines.

    python benchmarks/quality_score.py --copies

The question `dupes` asks: is a clean picture scored above its own JPEG
copies?  Scikit-image's colour photographs (halved by 2x2 boxes where a side
exceeds 700 pixels), each saved by Pillow at quality 90, 30 and 10: the
predicted PSNR of the four, and whether they come in that order.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import laplace
from scipy.stats import spearmanr

from pixrescue import cards, zoo
from pixrescue.imaging.jpeg import grid_strength
from pixrescue.tasks.inspect import luma_of
from pixrescue.tasks.quality import predicted_psnr, score_of
from pixrescue.tasks.restore import estimate_quality
from pixrescue.training.degrade import MIXED_RECIPES, jpeg_round_trip, mixed_degradation
from pixrescue.training.recipes.quality import target_psnr

SETS = ("Kodak24", "McMaster", "CBSD68")
PILLOW_QUALITIES = (10, 30, 90)


def crops(root: Path, images: int, side: int, seed: int):
    """(recipe, degraded, clean) for every picture and recipe."""
    rng = np.random.default_rng(seed)
    for name in SETS:
        paths = sorted((root / name).iterdir())
        for path in paths[:images] if images else paths:
            picture = Image.open(path).convert("RGB")
            for recipe in MIXED_RECIPES:
                degraded, clean, _ = mixed_degradation(picture, side, rng, recipe)
                yield recipe, degraded, clean
                if recipe == "clean":
                    for quality in PILLOW_QUALITIES:
                        yield f"q{quality}", np.asarray(jpeg_round_trip(Image.fromarray(clean), quality)[0]), clean


def measure(degraded: np.ndarray) -> dict[str, float]:
    image = Image.fromarray(degraded)
    luma = luma_of(image)
    psnr = predicted_psnr(zoo.DEFAULT_MODEL["quality"], image)
    return {"quality score": score_of(psnr), "predicted": psnr, "blockiness": -grid_strength(image),
            "Laplacian variance": float(laplace(luma).var()),
            "estimated JPEG quality": float(estimate_quality(zoo.DEFAULT_MODEL["jpeg"], image))}


METHODS = ("quality score", "blockiness", "Laplacian variance", "estimated JPEG quality")


COPY_PICTURES = ("astronaut", "chelsea", "coffee", "camera", "rocket", "immunohistochemistry",
                 "hubble_deep_field", "retina")


def copies_table() -> None:
    """``--copies``: each picture and its JPEG copies, predicted PSNR, and whether they are in order."""
    from skimage import data

    print("\n| picture | clean | q90 | q30 | q10 | in order |\n|---|---:|---:|---:|---:|---|")
    ordered = 0
    for name in COPY_PICTURES:
        picture = Image.fromarray(getattr(data, name)()).convert("RGB")
        if max(picture.size) > 700:
            picture = picture.reduce(2)
        versions = [picture] + [jpeg_round_trip(picture, quality)[0] for quality in (90, 30, 10)]
        predicted = [predicted_psnr(zoo.DEFAULT_MODEL["quality"], version) for version in versions]
        in_order = all(a > b for a, b in zip(predicted, predicted[1:]))
        ordered += in_order
        values = " | ".join(f"{value:.2f}" for value in predicted)
        print(f"| {name} | {values} | {'yes' if in_order else 'no'} |")
    print(f"\nin order: {ordered} of {len(COPY_PICTURES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--images", type=int, default=0)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--update-cards", action="store_true", help="Write the 'all' row into the score's card.")
    parser.add_argument("--copies", action="store_true", help="Only the clean-against-JPEG-copies table.")
    args = parser.parse_args()
    if args.copies:
        copies_table()
        return
    start = time.time()
    rows = []
    for recipe, degraded, clean in crops(args.data, args.images, args.side, args.seed):
        rows.append({"recipe": recipe, "truth": target_psnr(clean, degraded), **measure(degraded)})
    recipes = ["all"] + sorted({r["recipe"] for r in rows}, key=lambda r: (r[0] == "q", r))
    print(f"\nSpearman correlation with the true PSNR ({len(rows)} crops of {args.side}x{args.side}, "
          f"{len(rows) // len(recipes[1:])} pictures, seed {args.seed}; {time.time() - start:.0f} s)\n")
    print("| recipe | crops | true PSNR (mean) | " + " | ".join(METHODS) + " | predicted PSNR error (mean abs.) |")
    print("|---|---:|---:|" + "---:|" * len(METHODS) + "---:|")
    for recipe in recipes:
        part = [r for r in rows if recipe == "all" or r["recipe"] == recipe]
        truth = [r["truth"] for r in part]
        cells = []
        for method in METHODS:
            value = spearmanr([r[method] for r in part], truth).statistic if len(set(truth)) > 1 else float("nan")
            cells.append(f"{value:.3f}")
        error = np.mean([abs(r["predicted"] - r["truth"]) for r in part])
        print(f"| {recipe} | {len(part)} | {np.mean(truth):.2f} | " + " | ".join(cells) + f" | {error:.2f} |")
        if recipe == "all" and args.update_cards:
            row = {"crops": len(part), **{f"spearman {m}": float(c) for m, c in zip(METHODS, cells)},
                   "predicted_psnr_error": round(float(error), 2)}
            command = "python benchmarks/quality_score.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("update_cards", "data"))
            cards.update(cards.card_path(zoo.DEFAULT_MODEL["quality"]), lambda card: card.update(
                metrics={"dev crops (Kodak24, McMaster, CBSD68)": row}, metrics_command=command))


if __name__ == "__main__":
    main()
