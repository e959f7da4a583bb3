"""Learned side information: rate-distortion curves, BD-rate, the side information's
share of the file, speed.

    python benchmarks/side_info.py [--data ../shared/data/dev] [--sets Kodak24 CBSD68]
                                   [--qualities 10 20 30 40 50] [--images N] [--rates low medium high]
                                   [--plot docs/side_info.png] [--speed] [--update-cards]

Protocol: each clean colour image (RGB) is saved by ``pixrescue compress`` at
each quality (Pillow's IJG encoder, baseline, 4:2:0, the side information in
APP11 segments).  Rate: bits per pixel of the whole file.  Distortion: RGB
PSNR over the whole image against the clean original.  Curves:

- JPEG: the file without its segments (the same bytes ``imaging.save``
  writes at that quality), decoded;
- JPEG + blind fix: that file restored by ``pixrescue fix``'s default path
  (``qgunet.jpeg-blind``, its own tables, projection as its card says);
- SI low / medium / high: the file with its segments restored with them
  (what ``pixrescue fix`` does with it), rate including the segments;
- medium refiner, codes withheld: the medium model's refiner given the same
  symbol in every block (the picture's commonest), at the JPEG's rate: how
  much of the gain over the blind fix is the second network's own, and how
  much the side information's;
- oracle block scale: the blind fix's correction (its output less the
  decoded JPEG) scaled in each 16x16 block by whichever of 16 factors (0 to
  1.875 by eighths, 1 among them) brings the block closest to the clean
  image, chosen with the clean image in hand, at the JPEG's rate plus 4
  uncoded bits a block (the most the 16-way code can cost).  Not a product path: what a code of this size is
  worth when it tells the receiver how strongly to apply the blind model in
  each block, chosen perfectly (the learned codes may describe other
  things, but have to be learned).

BD-rate (Bjontegaard): log10 of the rate fitted by a cubic polynomial of the
PSNR for each curve, the difference integrated over the PSNR range both
curves cover, as a percentage of rate at equal PSNR (negative: fewer bits).
``--images N`` takes the first N images of each set (sorted names), for a
quick run; the tables say how many were used.

The photograph of the tests (scikit-image's "chelsea", 451x300, quality 20):
the medium rate point against the blind fix of the same JPEG, recorded in
the medium card (``test_photo``) with ``--update-cards``; the test holds it
to its own floor, not to this number.

``--speed``: megapixels per second of ``compress`` and of the
side-information ``fix`` on one 2048x1536 picture (Kodak's first, enlarged),
with the threads torch has (the machine's cores), best of two.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixrescue import cards, zoo
from pixrescue.imaging import Picture
from pixrescue.imaging import side_info as container
from pixrescue.imaging.jpeg import read_info
from pixrescue.tasks.restore import restore_frame
from pixrescue.tasks.side_info import (RATES, blind_pixels, compress, decode_symbols, integer_context, model_for,
                                      refine)
from pixrescue.training.evaluate import load_set
from pixrescue.training.metrics import psnr

BLIND = zoo.DEFAULT_MODEL["jpeg"]
QUALITIES = (10, 20, 30, 40, 50)
# The rate point whose refiner is also measured with its codes withheld (what the side information itself adds).
WITHHELD = "medium"


def decoded(data: bytes) -> tuple[Image.Image, object]:
    import io

    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        return opened.convert("RGB"), read_info(opened)


ORACLE = "oracle block scale"
ORACLE_LEVELS = np.arange(16) / 8  # 0 to 1.875: 1 (the blind fix itself) among them


def best_block_scale(clean: np.ndarray, decoded: np.ndarray, fixed: np.ndarray, block: int = 16) -> np.ndarray:
    """``decoded`` plus the blind correction ``fixed - decoded`` scaled per ``block`` x ``block``
    block by the factor of ``ORACLE_LEVELS`` with the least squared error against ``clean``."""
    c, d, f = (np.asarray(a, np.float64) for a in (clean, decoded, fixed))
    height, width = c.shape[:2]
    columns = -(-width // block)
    count = -(-height // block) * columns
    ids = ((np.arange(height) // block)[:, None] * columns + (np.arange(width) // block)[None, :]).ravel()
    error, correction = d - c, f - d
    ee = np.bincount(ids, (error**2).sum(-1).ravel(), count)
    ec = np.bincount(ids, (error * correction).sum(-1).ravel(), count)
    cc = np.bincount(ids, (correction**2).sum(-1).ravel(), count)
    levels = ORACLE_LEVELS[:, None]
    scale = ORACLE_LEVELS[np.argmin(ee + 2 * levels * ec + levels**2 * cc, axis=0)]
    out = d + scale[ids].reshape(height, width)[..., None] * correction
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def measure(image: Image.Image, quality: int, rates: list[str]) -> dict[str, tuple[float, float, float]]:
    """curve -> (bits per pixel of the file, PSNR, side-information share) for one image."""
    clean = np.asarray(image)
    pixels = image.width * image.height
    out = {}
    files = {rate: compress(Picture(frames=[image]), quality, rate)[0] for rate in rates}
    plain = container.strip(next(iter(files.values())))
    frame, info = decoded(plain)
    out["JPEG"] = (8 * len(plain) / pixels, psnr(clean, np.asarray(frame)), 0.0)
    fixed = restore_frame(frame, BLIND, jpeg=info)  # fix's default path for this file
    out["JPEG + blind fix"] = (8 * len(plain) / pixels, psnr(clean, np.asarray(fixed)), 0.0)
    oracle_bytes = -(-image.width // 16) * -(-image.height // 16) * 4 / 8
    out[ORACLE] = ((8 * len(plain) + 8 * oracle_bytes) / pixels,
                   psnr(clean, best_block_scale(clean, np.asarray(frame), np.asarray(fixed))),
                   oracle_bytes / (len(plain) + oracle_bytes))
    blind = blind_pixels(BLIND, frame, info.quantization)
    for rate, data in files.items():
        record = container.parse(container.side_info_datas(data))
        restored = refine(record, frame, blind)
        out[f"SI {rate}"] = (8 * len(data) / pixels, psnr(clean, np.asarray(restored)),
                             (len(data) - len(plain)) / len(data))
        if rate == WITHHELD:  # the same refiner told nothing: every block its picture's commonest symbol
            symbols = decode_symbols(integer_context(record.model), record.payload, record.rows, record.columns)
            constant = np.full_like(symbols, np.bincount(symbols.ravel()).argmax())
            restored = refine(record, frame, blind, constant)
            out[f"{rate} refiner, codes withheld"] = (8 * len(plain) / pixels, psnr(clean, np.asarray(restored)), 0.0)
    return out


def bd_rate(reference: list[tuple[float, float]], test: list[tuple[float, float]]) -> float:
    """Bjontegaard delta rate (%) of ``test`` against ``reference``, points (bpp, PSNR)."""
    r1, d1 = np.log10([p[0] for p in reference]), np.array([p[1] for p in reference])
    r2, d2 = np.log10([p[0] for p in test]), np.array([p[1] for p in test])
    p1, p2 = np.polyfit(d1, r1, 3), np.polyfit(d2, r2, 3)
    low, high = max(d1.min(), d2.min()), min(d1.max(), d2.max())
    if high <= low:
        return float("nan")
    i1, i2 = np.polyint(p1), np.polyint(p2)
    average = ((np.polyval(i2, high) - np.polyval(i2, low)) - (np.polyval(i1, high) - np.polyval(i1, low))) / (
        high - low)
    return float((10 ** average - 1) * 100)


def run_set(name: str, images: list[Image.Image], qualities: list[int], rates: list[str]) -> dict:
    curves: dict[str, list[tuple[float, float, float]]] = {}
    for quality in qualities:
        began = time.perf_counter()
        sums: dict[str, np.ndarray] = {}
        for image in images:
            for curve, values in measure(image, quality, rates).items():
                sums[curve] = sums.get(curve, np.zeros(3)) + np.array(values)
        for curve, total in sums.items():
            curves.setdefault(curve, []).append(tuple(total / len(images)))
        print(f"  {name} q{quality}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    return curves


def print_set(name: str, count: int, qualities: list[int], curves: dict) -> dict:
    names = list(curves)
    print(f"\n### {name} ({count} images; bits per pixel of the whole file / RGB PSNR in dB)\n")
    print("| quality | " + " | ".join(names) + " | SI share of the file (" + ", ".join(
        n.removeprefix("SI ") for n in names if n.startswith("SI")) + ") |")
    print("|---|" + "---|" * (len(names) + 1))
    for i, quality in enumerate(qualities):
        cells = [f"{curves[n][i][0]:.3f} / {curves[n][i][1]:.2f}" for n in names]
        shares = ", ".join(f"{100 * curves[n][i][2]:.1f} %" for n in names if n.startswith("SI"))
        print(f"| {quality} | " + " | ".join(cells) + f" | {shares} |")
    summary = {}
    print("\n| curve | BD-rate vs JPEG | BD-rate vs JPEG + blind fix | mean PSNR gain over the blind fix (dB) |")
    print("|---|---|---|---|")
    for n in names:
        if n in ("JPEG", "JPEG + blind fix"):
            continue
        pts = [(b, p) for b, p, _ in curves[n]]
        vs_jpeg = bd_rate([(b, p) for b, p, _ in curves["JPEG"]], pts)
        vs_blind = bd_rate([(b, p) for b, p, _ in curves["JPEG + blind fix"]], pts)
        gain = float(np.mean([curves[n][i][1] - curves["JPEG + blind fix"][i][1] for i in range(len(qualities))]))
        print(f"| {n} | {vs_jpeg:+.1f} % | {vs_blind:+.1f} % | {gain:+.3f} |")
        summary[n.removeprefix("SI ")] = {"bd_rate_vs_jpeg_pct": round(vs_jpeg, 2),
                                          "bd_rate_vs_blind_fix_pct": round(vs_blind, 2),
                                          "psnr_gain_over_blind_fix_db": round(gain, 3)}
    vs = bd_rate([(b, p) for b, p, _ in curves["JPEG"]], [(b, p) for b, p, _ in curves["JPEG + blind fix"]])
    print(f"| (JPEG + blind fix) | {vs:+.1f} % | | |")
    return summary


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2), squeeze=False)
    for axis, (name, (count, curves)) in zip(axes[0], results.items()):
        for curve, points in curves.items():
            style = "--" if curve == "JPEG" else ("-" if curve.startswith("SI") else "-.")
            axis.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", markersize=3,
                      label=curve)
        axis.set_title(f"{name} ({count} images), JPEG quality 10-50")
        axis.set_xlabel("bits per pixel (whole file)")
        axis.set_ylabel("RGB PSNR (dB)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def photo_margin() -> dict:
    """The tests' photograph at quality 20: medium rate point against the blind fix."""
    from skimage import data

    image = Image.fromarray(data.chelsea())
    values = measure(image, 20, ["medium"])
    blind, side = values["JPEG + blind fix"][1], values["SI medium"][1]
    print(f"\ntests' photograph (chelsea, q20): blind fix {blind:.3f} dB, SI medium {side:.3f} dB, "
          f"margin {side - blind:+.3f} dB")
    return {"image": "skimage chelsea 451x300, quality 20", "blind_fix_psnr": round(blind, 3),
            "side_info_psnr": round(side, 3), "margin_db": round(side - blind, 3)}


def speed(data_dir: Path) -> dict:
    import tempfile

    import torch

    from pixrescue import imaging
    from pixrescue.tasks.side_info import restore_with_side_info

    image = Image.open(sorted((data_dir / "Kodak24").glob("*.png"))[0]).convert("RGB").resize((2048, 1536),
                                                                                              Image.BICUBIC)
    megapixels = image.width * image.height / 1e6
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "si.jpg"
        times = {"compress": [], "fix": []}
        for _ in range(2):
            began = time.perf_counter()
            data = compress(Picture(frames=[image]), 30, "medium")[0]
            times["compress"].append(time.perf_counter() - began)
            path.write_bytes(data)
            began = time.perf_counter()
            picture = imaging.load(path)
            restore_with_side_info(picture, picture.jpeg.side_info.record)
            times["fix"].append(time.perf_counter() - began)
    result = {k: round(megapixels / min(v), 3) for k, v in times.items()}
    print(f"\nspeed, {image.width}x{image.height}, quality 30, medium, {torch.get_num_threads()} threads: "
          f"compress {result['compress']} MP/s, side-information fix (load included) {result['fix']} MP/s")
    return {**{f"{k}_mp_per_s": v for k, v in result.items()}, "threads": torch.get_num_threads(),
            "picture": f"{image.width}x{image.height}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--sets", nargs="+", default=["Kodak24", "CBSD68"])
    parser.add_argument("--qualities", type=int, nargs="+", default=list(QUALITIES))
    parser.add_argument("--rates", nargs="+", default=list(RATES), choices=RATES)
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--update-cards", action="store_true")
    args = parser.parse_args(argv)
    command = "python benchmarks/side_info.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Protocol: Pillow IJG baseline JPEG (4:2:0) written by pixrescue compress; whole-file bits per pixel; "
          f"RGB PSNR against the clean image; qualities {args.qualities}; blind model {BLIND}.")
    results, summaries = {}, {}
    for name in args.sets:
        images = load_set(args.data / name, gray=False)[:args.images]
        curves = run_set(name, images, args.qualities, args.rates)
        results[name] = (len(images), curves)
        summaries[name] = (len(images), print_set(name, len(images), args.qualities, curves), curves)
    if args.plot:
        plot(results, args.plot)
    margin = photo_margin()
    measured_speed = speed(args.data) if args.speed else None
    if args.update_cards:
        for rate in args.rates:
            def change(card: dict, rate: str = rate) -> None:
                metrics = card.setdefault("metrics", {})
                points = card.setdefault("rate_distortion", {"columns": "quality, bpp of the file, RGB PSNR, "
                                                                        "side-information share (%)"})
                for name, (count, summary, curves) in summaries.items():
                    at_lowest = curves[f"SI {rate}"][0]
                    metrics[name] = {"images": count, "qualities": f"{min(args.qualities)}-{max(args.qualities)}",
                                     **summary[rate], "side_share_pct_at_lowest_quality": round(100 * at_lowest[2], 2)}
                    points[name] = {c: [[q, round(b, 4), round(p, 3), round(100 * s, 2)]
                                        for q, (b, p, s) in zip(args.qualities, pts)]
                                    for c, pts in curves.items() if c in ("JPEG", "JPEG + blind fix", f"SI {rate}")}
                if rate == "medium":
                    metrics["test_photo"] = margin
                if measured_speed is not None and rate == "medium":
                    metrics["speed"] = measured_speed
                card["metrics_command"] = command

            cards.update(cards.card_path(model_for(rate)), change)
        print("\ncards updated")


if __name__ == "__main__":
    main()
