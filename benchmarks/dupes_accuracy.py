"""How well perceptual hashes find copies of a picture.

    python benchmarks/dupes_accuracy.py [--data ../shared/data/dev] [--thresholds 6 8 10 12]

Originals: the colour dev images (Kodak24, McMaster, CBSD68: 110 different
pictures).  Each original gets the variants listed in VARIANTS (recompression,
resizing, crops, re-share generations, a caption, a mirror image, brightness
and colour shifts).  Every image is hashed; for each method and threshold:

* dupes: a pair is predicted when its distance is at most the threshold;
  precision over all predicted pairs, recall of (original, variant) pairs per
  kind of variant;
* similar: each variant queries the originals; recall@1 and recall@5.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from pixrescue.fingerprint import METHODS, perceptual_hashes
from pixrescue.imaging.jpeg import compress
from pixrescue.training.evaluate import load_set


def crop(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * fraction / 2), int(h * fraction / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def reshare(image: Image.Image, generations: int) -> Image.Image:
    for g in range(generations):
        w, h = image.size
        image = compress(image.resize((max(8, int(w * 0.85)), max(8, int(h * 0.85))), Image.BICUBIC), 75 - 5 * g)
    return image


def caption(image: Image.Image) -> Image.Image:
    image = image.copy()
    draw = ImageDraw.Draw(image)
    size = max(12, image.height // 10)
    font = ImageFont.load_default(size=size)
    for dx in (-2, 0, 2):
        for dy in (-2, 0, 2):
            draw.text((10 + dx, 5 + dy), "WHEN THE MEME HITS", font=font, fill="black")
    draw.text((10, 5), "WHEN THE MEME HITS", font=font, fill="white")
    return image


VARIANTS = {
    "jpeg q10": lambda im: compress(im, 10),
    "jpeg q30": lambda im: compress(im, 30),
    "jpeg q90": lambda im: compress(im, 90),
    "resize 0.25": lambda im: im.resize((im.width // 4, im.height // 4), Image.BICUBIC),
    "resize 0.5": lambda im: im.resize((im.width // 2, im.height // 2), Image.BICUBIC),
    "resize 2": lambda im: im.resize((im.width * 2, im.height * 2), Image.BICUBIC),
    "crop 5%": lambda im: crop(im, 0.05),
    "crop 10%": lambda im: crop(im, 0.10),
    "crop 20%": lambda im: crop(im, 0.20),
    "reshare x3": lambda im: reshare(im, 3),
    "caption": caption,
    "mirror": ImageOps.mirror,
    "brightness +20%": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "colour shift": lambda im: ImageEnhance.Color(im).enhance(1.5),
}
RESIZE_AND_RECOMPRESS = ["jpeg q10", "jpeg q30", "jpeg q90", "resize 0.25", "resize 0.5", "resize 2", "reshare x3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--sets", nargs="+", default=["Kodak24", "McMaster", "CBSD68"])
    parser.add_argument("--thresholds", type=int, nargs="+", default=[6, 8, 10, 12, 14])
    args = parser.parse_args()

    started = time.time()
    originals = [im for name in args.sets for im in load_set(args.data / name, gray=False)]
    source, kind, hashes = [], [], {m: [] for m in METHODS}
    for index, original in enumerate(originals):
        for label, make in [("original", lambda im: im), *VARIANTS.items()]:
            h = perceptual_hashes(make(original))
            for m in METHODS:
                hashes[m].append(h[m][0])
            source.append(index)
            kind.append(label)
    source, kind = np.array(source), np.array(kind)
    is_original = kind == "original"
    same = source[:, None] == source[None, :]
    upper = np.triu(np.ones_like(same), 1)
    print(f"{len(originals)} originals x {len(VARIANTS)} variants = {len(source)} images, "
          f"hashed in {time.time() - started:.0f} s\n")

    print("dupes: pairs within the threshold (bits of 64)\n")
    header = "| method | threshold | precision | recall, resize & recompress | " + " | ".join(VARIANTS) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for m in METHODS:
        table = np.array(hashes[m], dtype=np.uint64)
        distance = np.bitwise_count(table[:, None] ^ table[None, :]).astype(int)
        for t in args.thresholds:
            predicted = (distance <= t) & upper.astype(bool)
            precision = (predicted & same).sum() / max(predicted.sum(), 1)
            recall = {}
            for label in VARIANTS:
                rows = np.nonzero(kind == label)[0]
                recall[label] = float(np.mean(distance[rows, np.nonzero(is_original)[0][source[rows]]] <= t))
            rr = np.mean([recall[v] for v in RESIZE_AND_RECOMPRESS])
            print(f"| {m} | {t} | {precision:.4f} | {rr:.3f} | " + " | ".join(f"{recall[v]:.2f}" for v in VARIANTS) + " |")

    print("\nsimilar: each variant queries the originals\n")
    print("| method | recall@1 | recall@5 |")
    print("|---|---|---|")
    for m in METHODS:
        table = np.array(hashes[m], dtype=np.uint64)
        queries = np.nonzero(~is_original)[0]
        base = np.nonzero(is_original)[0]
        distance = np.bitwise_count(table[queries][:, None] ^ table[base][None, :]).astype(int)
        order = np.argsort(distance, axis=1, kind="stable")
        truth = source[queries]
        at1 = np.mean(order[:, 0] == truth)
        at5 = np.mean((order[:, :5] == truth[:, None]).any(axis=1))
        print(f"| {m} | {at1:.3f} | {at5:.3f} |")


if __name__ == "__main__":
    main()
