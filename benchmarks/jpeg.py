"""JPEG artifact removal: quality on the dev sets, re-shared memes, clean
pictures, and speed against a DnCNN-style reference.

    python benchmarks/jpeg.py [--data ../shared/data/dev] [--tables quality memes clean speed]
                              [--qualities 10 20 30 40] [--update-cards] [--no-seeds]

Protocol (the literature's): each clean image is compressed with Pillow's IJG
encoder (4:2:0 for colour) at each quality and restored; PSNR / SSIM / PSNR-B
over the whole image against the clean original; grayscale sets converted to
L, colour sets measured on RGB.  The blind model reads the quantization
tables of the JPEG it is given, as it does for a file.

- quality: grayscale Classic5 and BSD68, colour Kodak24, McMaster and CBSD68,
  at each quality: raw JPEG, the blind default with and without
  quantization-constraint projection, and the seed models (trained for q10
  and per-channel on colour, so measured at q10 only, on Classic5, BSD68 and
  Kodak24: on the 21 megapixels of the colour sets ResNet18 alone takes
  longer than everything else together).
- memes: the re-shared meme set (MEME_RECIPE below, printed with the table)
  on Kodak24 + McMaster; the reference is the clean image through the same
  resizes and crops.  The blind model is told the last file's tables, or
  nothing (the picture was saved as PNG: it estimates), or the strongest
  quality of the history (``--strength``).
- clean: never-compressed Kodak24 and McMaster given to the blind model as
  PNGs: PSNR change (it must be at most 0.05 dB).
- speed: one 2048x2048 colour JPEG (q30 of an upscaled Kodak image), restored
  by the blind model and by a DnCNN-style network (20 full-resolution 3x3
  layers of 64 channels, random weights: only its speed matters) in the same
  run, each in a fresh process for its peak memory; and the blind model's
  peak memory on a 24-megapixel (6000x4000) image.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixrescue import cards, zoo
from pixrescue.imaging.jpeg import JpegInfo, round_trip
from pixrescue.tasks.restore import project_onto_file, restore_frame
from pixrescue.training.evaluate import evaluate, load_set, record_in_card
from pixrescue.training.metrics import psnr, psnr_b, ssim

BLIND = zoo.DEFAULT_MODEL["jpeg"]
GRAY_SETS = ("Classic5", "BSD68")
COLOUR_SETS = ("Kodak24", "McMaster", "CBSD68")
SEED_SETS = ("Classic5", "BSD68", "Kodak24")
SEEDS = {"SRCNN (seed)": "srcnn.jpeg-q10-gray", "ResNet18 (seed)": "resnet18.jpeg-q10-gray"}

# A picture's life on the internet: posted, downloaded, shrunk, re-posted,
# screenshotted with a crop that moves the 8x8 grid, re-posted again.
MEME_RECIPE = (
    ("jpeg", 85),
    ("resize", 0.8),
    ("jpeg", 70),
    ("crop", 3, 5),
    ("jpeg", 50),
    ("resize", 0.75),
    ("jpeg", 65),
)
MEME_STRONGEST = min(step[1] for step in MEME_RECIPE if step[0] == "jpeg")


def blind(image: Image.Image, info: JpegInfo | None, **options) -> Image.Image:
    """The blind default, unprojected unless ``project=True`` (projection has its own column)."""
    options.setdefault("project", False)
    return restore_frame(image, BLIND, jpeg=info, **options)


def quality_table(args, command: str) -> None:
    print(f"### Dev sets (Pillow IJG JPEG; PSNR / SSIM / PSNR-B against the clean image; model {BLIND})\n")
    print("| set | quality | method | PSNR (dB) | SSIM | PSNR-B (dB) | gain (dB) |")
    print("|---|---|---|---|---|---|---|")
    difference = []  # PSNR of projected minus unprojected, per set and quality
    projection = {"default + projection": ("default", lambda out, degraded, info: project_onto_file(out, np.asarray(degraded),
                                                                                         info, 1))}
    for name in args.sets:
        gray = name in GRAY_SETS
        images = load_set(args.data / name, gray)
        for quality in args.qualities:
            started = time.time()
            methods = {"JPEG": None, "default": blind}
            if quality == 10 and name in SEED_SETS and not args.no_seeds:
                methods.update({label: (lambda im, info, m=model: restore_frame(im, m)) for label, model in SEEDS.items()})
            scores = evaluate(images, quality, methods, projection)
            raw = scores["JPEG"]
            label = f"{name} ({'gray' if gray else 'RGB'}, {len(images)})"
            for method, s in scores.items():
                print(f"| {label} | {quality} | {method} | {s.psnr:.2f} | {s.ssim:.4f} | {s.psnr_b:.2f} | "
                      f"{s.psnr - raw.psnr:+.2f} |", flush=True)
                key = f"{name}-q{quality}"
                if args.update_cards and method == "default":
                    record_in_card(cards.card_path(BLIND), key, s, raw, command)
                if args.update_cards and method == "default + projection":
                    record_in_card(cards.card_path(BLIND), key + "-projected", s, raw, command)
                if args.update_cards and method in SEEDS:
                    record_in_card(cards.card_path(SEEDS[method]), key + ("" if gray else "-rgb"), s, raw, command)
            difference.append(scores["default + projection"].psnr - scores["default"].psnr)
            print(f"<!-- {name} q{quality}: {time.time() - started:.0f} s -->", file=sys.stderr)
    mean = float(np.mean(difference))
    print(f"\nProjection changes PSNR by {mean:+.3f} dB on average over these rows "
          f"(from {min(difference):+.3f} to {max(difference):+.3f}).")
    if args.update_cards:
        inference = {"project": mean > 0, "projection_gain_db": round(mean, 3),
                     "why": "projection is the default only if it raised the mean PSNR of the dev table"}
        # Only the projection's keys: the runtime verdicts beside them come from benchmarks/speed.py.
        cards.update(cards.card_path(BLIND), lambda card: card.setdefault("inference", {}).update(inference))


def reshare(clean: Image.Image) -> tuple[Image.Image, Image.Image, JpegInfo]:
    """(the last file's pixels, the clean image through the same geometry, the last file's info)."""
    x, y, info = clean, clean, None
    for step in MEME_RECIPE:
        if step[0] == "jpeg":
            x, info = round_trip(x, step[1], "4:2:0")
        elif step[0] == "resize":
            size = (round(x.width * step[1]), round(x.height * step[1]))
            x, y = x.resize(size, Image.BICUBIC), y.resize(size, Image.BICUBIC)
        else:
            box = (step[1], step[2], x.width, x.height)
            x, y = x.crop(box), y.crop(box)
    assert info is not None
    return x, y, info


def meme_table(args, command: str) -> None:
    recipe = " -> ".join(f"{s[0]} {' '.join(str(v) for v in s[1:])}" for s in MEME_RECIPE)
    print(f"\n### Re-shared memes: Kodak24 + McMaster through `{recipe}` (bicubic resizes, 4:2:0)\n")
    methods = {
        "last file (JPEG)": None,
        "SRCNN (seed)": lambda im, info: restore_frame(im, SEEDS["SRCNN (seed)"]),
        "default, file's tables": lambda im, info: blind(im, info),
        "default, saved as PNG (estimated)": lambda im, info: blind(im, None),
        f"default, --strength {MEME_STRONGEST}": lambda im, info: blind(im, None, strength=MEME_STRONGEST),
    }
    totals: dict[str, list] = {m: [] for m in methods}
    images = load_set(args.data / "Kodak24", False) + load_set(args.data / "McMaster", False)
    for clean in images:
        degraded, reference, info = reshare(clean)
        ref = np.asarray(reference)
        for name, method in methods.items():
            out = np.asarray(degraded if method is None else method(degraded, info))
            totals[name].append((psnr(ref, out), ssim(ref, out), psnr_b(ref, out)))
    print("| method | PSNR (dB) | SSIM | PSNR-B (dB) | gain (dB) |")
    print("|---|---|---|---|---|")
    raw = np.mean(totals["last file (JPEG)"], axis=0)
    for name, values in totals.items():
        p, s, b = np.mean(values, axis=0)
        print(f"| {name} | {p:.2f} | {s:.4f} | {b:.2f} | {p - raw[0]:+.2f} |")
        if args.update_cards and name == "default, file's tables":
            row = {"recipe": recipe, "psnr": round(float(p), 3), "ssim": round(float(s), 4),
                   "psnr_b": round(float(b), 3), "gain_db": round(float(p - raw[0]), 3)}
            cards.update(cards.card_path(BLIND),
                         lambda card, row=row: card.setdefault("metrics", {}).update({"memes-Kodak24+McMaster": row}))


def clean_table(args) -> None:
    print(f"\n### Clean pictures given as PNG to {BLIND}\n")
    print("| set | images left untouched | PSNR of the output against the input (dB) | worst image (dB) |")
    print("|---|---|---|---|")
    for name in ("Kodak24", "McMaster"):
        values = []
        for clean in load_set(args.data / name, False):
            out = np.asarray(blind(clean, None))
            values.append(psnr(np.asarray(clean), out))
        untouched = sum(v == float("inf") for v in values)
        finite = [v for v in values if v != float("inf")]
        mean = f"{np.mean(finite):.2f} over the others" if finite else "inf (all unchanged)"
        worst = f"{min(values):.2f}" if finite else "inf"
        print(f"| {name} | {untouched} of {len(values)} | {mean} | {worst} |")


def speed_table(args) -> None:
    print("\n### Speed and memory on this machine (torch threads = cores; one fresh process each)\n")
    print("| network | image | seconds | MP/s | peak memory (GB) |")
    print("|---|---|---|---|---|")
    rows = [("default", 2048, 2048), ("dncnn-reference", 2048, 2048), ("default", 6000, 4000)]
    results = {}
    for network, width, height in rows:
        out = subprocess.run([sys.executable, __file__, "--speed-worker", network, str(width), str(height),
                              "--data", str(args.data)], capture_output=True, text=True, check=True)
        seconds, peak = (float(v) for v in out.stdout.split())
        results[(network, width)] = seconds
        label = BLIND if network == "default" else "DnCNN-style reference (20 layers, 64 ch)"
        mp = width * height / 1e6
        print(f"| {label} | {width}x{height} RGB | {seconds:.2f} | {mp / seconds:.2f} | {peak:.2f} |", flush=True)
    ratio = results[("dncnn-reference", 2048)] / results[("default", 2048)]
    print(f"\nThe default is {ratio:.1f}x as fast as the DnCNN-style reference on the same 2048x2048 image.")


def dncnn_network():
    """The DnCNN-style speed reference: 20 full-resolution 3x3 layers of 64 channels, random
    weights (only its speed matters), RGB in and out."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, padding=1), nn.ReLU()]
    for _ in range(18):
        layers += [nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU()]
    layers.append(nn.Conv2d(64, 3, 3, padding=1))
    return nn.Sequential(*layers).eval()


def speed_worker(network: str, width: int, height: int, data: Path) -> None:
    import resource

    import torch

    source = load_set(data / "Kodak24", False)[0].resize((width, height), Image.BICUBIC)
    degraded, info = round_trip(source, 30)
    if network == "default":
        blind(degraded.crop((0, 0, 64, 64)), info)  # load the weights before the clock starts
        started = time.perf_counter()
        blind(degraded, info)
    else:
        reference = dncnn_network()
        x = torch.from_numpy(np.asarray(degraded).copy()).permute(2, 0, 1)[None].float() / 255
        started = time.perf_counter()
        with torch.inference_mode():  # tiled like the default, 384-pixel tiles with a 20-pixel margin
            from pixrescue.runner import run_tiled

            out = run_tiled(reference, x, margin=20, tile=384)
            Image.fromarray((out[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    seconds = time.perf_counter() - started
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--tables", nargs="+", default=["quality", "memes", "clean", "speed"],
                        choices=["quality", "memes", "clean", "speed"])
    parser.add_argument("--sets", nargs="+", default=[*GRAY_SETS, *COLOUR_SETS], choices=[*GRAY_SETS, *COLOUR_SETS])
    parser.add_argument("--qualities", nargs="+", type=int, default=[10, 20, 30, 40])
    parser.add_argument("--update-cards", action="store_true")
    parser.add_argument("--no-seeds", action="store_true",
                        help="leave out the seed models (their rows take most of the time; they do not change "
                             "when only the blind model is retrained)")
    parser.add_argument("--speed-worker", nargs=3, metavar=("NETWORK", "WIDTH", "HEIGHT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_worker:
        network, width, height = args.speed_worker
        speed_worker(network, int(width), int(height), args.data)
        return
    command = "python benchmarks/jpeg.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if "quality" in args.tables:
        quality_table(args, command)
    if "memes" in args.tables:
        meme_table(args, command)
    if "clean" in args.tables:
        clean_table(args)
    if "speed" in args.tables:
        speed_table(args)


if __name__ == "__main__":
    main()
