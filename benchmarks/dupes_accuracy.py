"""How well perceptual hashes find copies of a picture.

    python benchmarks/dupes_accuracy.py [--data ../shared/data/dev] [--methods combined phash cnn ...]
                                        [--files [--full-decode] [--enlarge K]]

Originals: the colour dev images (Kodak24, McMaster, CBSD68: 110 different
pictures).  Each original gets the variants listed in VARIANTS (recompression,
resizing, crops, re-share generations, a caption, a mirror image, brightness
and colour shifts).  Every image is fingerprinted (4 hashes, 2 embeddings);
for each method at its default threshold:

* dupes: a pair is predicted when its distance is at most the threshold;
  precision over all predicted pairs (the 110 pictures are each other's
  distractors), recall and F1 over all true pairs, recall of (original,
  variant) pairs per kind of variant;
* similar: each variant queries the originals; recall@1 and recall@5.

``--files``: every image is written as a JPEG (quality 95) and fingerprinted
from the file as ``index`` reads it (a large JPEG decoded reduced by libjpeg,
``load(draft_side=WORKING_SIDE)``), or with ``--full-decode`` decoded whole;
``--enlarge K`` makes the originals K times larger first (bicubic), so that
the reduced decoding applies to them (the dev pictures are at most 768x512).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from pixrescue.collection.catalog import Record, partial_record, with_embeddings
from pixrescue.collection.fingerprints import WORKING_SIDE
from pixrescue.collection.similarity import EMBEDDING_METHODS, METHODS, Table, default_threshold
from pixrescue.imaging import Picture, load
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


def fingerprint_all(originals: list[Image.Image], folder: Path | None = None,
                    full_decode: bool = False) -> tuple[list[Record], np.ndarray, np.ndarray]:
    """Every image's record (its embeddings computed all at once at the end); with
    ``folder``, through a JPEG file written there and read back as ``index`` reads it."""
    partials, source, kind = [], [], []
    for index, original in enumerate(originals):
        for label, make in [("original", lambda im: im), *VARIANTS.items()]:
            image = make(original)
            path = Path(f"{index}/{label}")
            if folder is not None:
                path = folder / f"{index}-{label.replace(' ', '-').replace('%', '')}.jpg"
                image.convert("RGB").save(path, quality=95)
                image = load(path, history=False, draft_side=None if full_decode else WORKING_SIDE)
                partials.append(partial_record(image, path, 0))
            else:
                partials.append(partial_record(Picture(frames=[image]), path, 0))
            source.append(index)
            kind.append(label)
    return with_embeddings(partials), np.array(source), np.array(kind)


def sweep(records, source, kind, positive, negative) -> None:
    originals_index = np.nonzero(kind == "original")[0]
    shown = ["crop 10%", "crop 20%", "caption", "mirror"]
    for m in EMBEDDING_METHODS:
        distance = Table(records, m).block(0, len(records))
        print(f"\n{m}: nearest two different pictures {distance[negative].min():.3f} apart\n")
        print("| threshold | precision | recall | " + " | ".join(shown) + " |")
        print("|---|---|---|" + "---|" * len(shown))
        for t in np.round(np.arange(0.05, 0.61, 0.05), 2):
            predicted = distance <= t
            precision = (predicted & positive).sum() / max((predicted & (positive | negative)).sum(), 1)
            recall = (predicted & positive).sum() / positive.sum()
            cells = []
            for label in shown:
                rows = np.nonzero(kind == label)[0]
                cells.append(f"{np.mean(distance[rows, originals_index[source[rows]]] <= t):.2f}")
            print(f"| {t:.2f} | {precision:.4f} | {recall:.3f} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--sets", nargs="+", default=["Kodak24", "McMaster", "CBSD68"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--sweep", action="store_true",
                        help="Also print precision and recall of each embedding over a range of thresholds.")
    parser.add_argument("--files", action="store_true",
                        help="Fingerprint each image from a JPEG file written for it, as index reads files.")
    parser.add_argument("--full-decode", action="store_true", help="With --files: decode every JPEG whole.")
    parser.add_argument("--enlarge", type=float, default=1.0, help="Enlarge the originals this many times first.")
    args = parser.parse_args()

    started = time.time()
    originals = [im for name in args.sets for im in load_set(args.data / name, gray=False)]
    if args.enlarge != 1:
        originals = [im.resize((round(im.width * args.enlarge), round(im.height * args.enlarge)), Image.BICUBIC)
                     for im in originals]
    with tempfile.TemporaryDirectory() as folder:
        records, source, kind = fingerprint_all(originals, Path(folder) if args.files else None, args.full_decode)
    is_original = kind == "original"
    same = source[:, None] == source[None, :]
    upper = np.triu(np.ones_like(same, dtype=bool), 1)
    print(f"{len(originals)} originals x {len(VARIANTS)} variants = {len(source)} images, "
          f"fingerprinted in {time.time() - started:.0f} s\n")

    print("dupes: pairs within the method's default threshold; precision over all pairs, "
          "recall of (original, variant) pairs per kind of variant\n")
    header = "| method | threshold | precision | recall | F1 | recall, resize & recompress | " + " | ".join(VARIANTS) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    similar_rows = []
    for m in args.methods:
        distance = Table(records, m).block(0, len(records))
        t = default_threshold(m)
        predicted = (distance <= t) & upper
        true_pairs = same & upper
        precision = (predicted & same).sum() / max(predicted.sum(), 1)
        recall_all = (predicted & true_pairs).sum() / true_pairs.sum()
        f1 = 2 * precision * recall_all / max(precision + recall_all, 1e-9)
        recall = {}
        originals_index = np.nonzero(is_original)[0]
        for label in VARIANTS:
            rows = np.nonzero(kind == label)[0]
            recall[label] = float(np.mean(distance[rows, originals_index[source[rows]]] <= t))
        rr = np.mean([recall[v] for v in RESIZE_AND_RECOMPRESS])
        print(f"| {m} | {t:g} | {precision:.4f} | {recall_all:.3f} | {f1:.3f} | {rr:.3f} | "
              + " | ".join(f"{recall[v]:.2f}" for v in VARIANTS) + " |", flush=True)
        queries = np.nonzero(~is_original)[0]
        to_originals = distance[np.ix_(queries, originals_index)]
        order = np.argsort(to_originals, axis=1, kind="stable")
        truth = source[queries]
        similar_rows.append((m, np.mean(order[:, 0] == truth), np.mean((order[:, :5] == truth[:, None]).any(axis=1))))

    if args.sweep:
        sweep(records, source, kind, same & upper, ~same & upper)

    print("\nsimilar: each variant queries the originals\n")
    print("| method | recall@1 | recall@5 |")
    print("|---|---|---|")
    for m, at1, at5 in similar_rows:
        print(f"| {m} | {at1:.3f} | {at5:.3f} |")


if __name__ == "__main__":
    main()
