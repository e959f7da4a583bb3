"""The margins the tests hold the shipped upscalers and rescalers to.

    python benchmarks/test_margins.py [--update-cards]

Measures, on the photograph the tests use (scikit-image's ``chelsea``,
cropped as in tests/test_super_resolution.py and tests/test_rescale.py), each
upscaler's Y-PSNR gain over bicubic at each of its scales, and each
rescaler's RGB-PSNR gain of shrink + expand over bicubic shrink + bicubic
enlarge and the PSNR of its small picture against the bicubic downscale, and
for the JPEG-robust rescaler its gain over the plain one when the small
picture goes through a JPEG at quality 90; for the plain rescalers, the gain
of a refined small picture (``shrink --refine``) over the plain one, and how
close the refined one stays to the bicubic downscale.
``--update-cards`` writes ``test_margin_db`` into the cards: the measured
value less ``SLACK`` dB (or half the value if that is smaller; rounded down to 0.05), so that a test fails when a
model or the code around it gets measurably worse, not on float noise.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from PIL import Image
from skimage import data

from pixrescue import zoo
from pixrescue.imaging.jpeg import compress
from pixrescue.tasks.rescale import JPEG_ROBUST_MODELS, MODELS, expand_frame, shrink_frame
from pixrescue.tasks.upscale import upscale_frame, upscale_models
from pixrescue.training.metrics import psnr, sr_scores

# As in tests/test_rescale.py: refinement is measured on a smaller crop, with few steps.
REFINE_CROP, REFINE_STEPS = (0, 0, 224, 160), 10

SLACK = 0.3


def margin(value: float) -> float:
    """``value`` less SLACK (less half of it, for a value under twice SLACK), rounded down to 0.05."""
    return math.floor((value - min(SLACK, value / 2)) * 20) / 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-cards", action="store_true")
    args = parser.parse_args()
    photo = Image.fromarray(data.chelsea())
    found: dict[str, dict] = {}
    print("| model | measure | measured (dB) | test margin (dB) |")
    print("|---|---|---|---|")
    hr = photo.crop((0, 0, photo.width // 12 * 12, photo.height // 12 * 12))
    for name in upscale_models():
        if not zoo.weights_path(name).exists():
            continue
        for scale in zoo.get_spec(name).scales:
            lr = hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)
            bicubic = sr_scores(np.asarray(hr), np.asarray(upscale_frame(lr, scale, "bicubic")), scale)[0]
            gain = sr_scores(np.asarray(hr), np.asarray(upscale_frame(lr, scale, name)), scale)[0] - bicubic
            found.setdefault(name, {})[f"x{scale}"] = margin(gain)
            print(f"| {name} | x{scale} Y-PSNR gain over bicubic | {gain:.2f} | {margin(gain):.2f} |")
    crop = photo.crop((0, 0, 448, 300))
    for name in ("irn.x2", "irn.x4", "irn.x4-jpeg"):
        if not zoo.weights_path(name).exists():
            continue
        small = shrink_frame(crop, name)
        bicubic_small = crop.resize(small.size, Image.BICUBIC)
        gain = psnr(np.asarray(crop), np.asarray(expand_frame(small, name, crop.size))) - psnr(
            np.asarray(crop), np.asarray(bicubic_small.resize(crop.size, Image.BICUBIC)))
        likeness = psnr(np.asarray(bicubic_small), np.asarray(small))
        found[name] = {"vs_bicubic": margin(gain), "small_vs_bicubic": margin(likeness)}
        print(f"| {name} | RGB-PSNR gain over bicubic shrink + enlarge | {gain:.2f} | {margin(gain):.2f} |")
        print(f"| {name} | small picture vs bicubic downscale, RGB PSNR | {likeness:.2f} | {margin(likeness):.2f} |")
        if name in MODELS.values():
            part = photo.crop(REFINE_CROP)
            plain, refined = shrink_frame(part, name), shrink_frame(part, name, refine=REFINE_STEPS)
            gain = psnr(np.asarray(part), np.asarray(expand_frame(refined, name, part.size))) - psnr(
                np.asarray(part), np.asarray(expand_frame(plain, name, part.size)))
            likeness = psnr(np.asarray(part.resize(refined.size, Image.BICUBIC)), np.asarray(refined))
            found[name].update(refine_vs_plain=margin(gain), refined_small_vs_bicubic=margin(likeness))
            print(f"| {name} | refined ({REFINE_STEPS} steps): RGB-PSNR gain over plain shrink | {gain:.2f} | "
                  f"{margin(gain):.2f} |")
            print(f"| {name} | refined small picture vs bicubic downscale, RGB PSNR | {likeness:.2f} | "
                  f"{margin(likeness):.2f} |")
        if name in JPEG_ROBUST_MODELS.values():
            scale = zoo.get_spec(name).scales[0]
            plain = MODELS[scale]
            through = {m: expand_frame(compress(shrink_frame(crop, m), 90, "4:2:0"), m, crop.size)
                       for m in (name, plain)}
            gain = psnr(np.asarray(crop), np.asarray(through[name])) - psnr(np.asarray(crop), np.asarray(through[plain]))
            found[name]["jpeg90_vs_plain"] = margin(gain)
            print(f"| {name} | small picture through JPEG q90: RGB-PSNR gain over {plain} | {gain:.2f} | "
                  f"{margin(gain):.2f} |")
    if args.update_cards:
        for name, margins in found.items():
            path = zoo.card_path(name)
            card = json.loads(path.read_text())
            card["test_margin_db"] = margins
            card["test_margin_note"] = (f"measured on skimage chelsea by benchmarks/test_margins.py, less {SLACK} dB")
            path.write_text(json.dumps(card, indent=2) + "\n")
            print(f"updated {path}")


if __name__ == "__main__":
    main()
