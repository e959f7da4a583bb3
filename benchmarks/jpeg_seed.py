"""The seed models' table: raw JPEG, SRCNN, ResNet18, ResNet18 with 2 passes.

    python benchmarks/jpeg_seed.py [--data ../shared/data/dev] [--quality 10] [--update-cards]

Grayscale Classic5 (the network sees the image directly) and colour Kodak24
(per-channel inference, RGB metrics), JPEG quality 10 from Pillow's IJG
encoder, PSNR / SSIM / PSNR-B on the whole image against the clean original.
``--update-cards`` writes the numbers into the shipped model cards.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pixrescue import zoo
from pixrescue.tasks.restore import restore_frame
from pixrescue.training.evaluate import evaluate, load_set, record_in_card

SETS = {"Classic5": True, "Kodak24": False}  # name -> grayscale
METHODS = {
    "JPEG": None,
    "SRCNN": ("srcnn.jpeg-q10-gray", 1),
    "ResNet18": ("resnet18.jpeg-q10-gray", 1),
    "ResNet18, 2 passes": ("resnet18.jpeg-q10-gray", 2),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/dev")
    parser.add_argument("--quality", type=int, default=10)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--update-cards", action="store_true")
    args = parser.parse_args(argv)

    methods = {
        label: None if spec is None else (lambda im, m=spec[0], n=spec[1]: restore_frame(im, m, n))
        for label, spec in METHODS.items()
    }
    command = "python benchmarks/jpeg_seed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"JPEG quality {args.quality} (Pillow, IJG), PSNR / SSIM / PSNR-B against the clean image\n")
    print("| set | method | PSNR (dB) | SSIM | PSNR-B (dB) | gain (dB) |")
    print("|---|---|---|---|---|---|")
    for name in args.sets:
        gray = SETS[name]
        started = time.time()
        images = load_set(args.data / name, gray)
        scores = evaluate(images, args.quality, methods)
        raw = scores["JPEG"]
        label = f"{name} ({'gray' if gray else 'RGB, per channel'}, {len(images)})"
        for method, s in scores.items():
            print(f"| {label} | {method} | {s.psnr:.2f} | {s.ssim:.4f} | {s.psnr_b:.2f} | {s.psnr - raw.psnr:+.2f} |")
            spec = METHODS[method]
            if args.update_cards and spec is not None and spec[1] == 1:
                key = f"{name}-q{args.quality}" + ("" if gray else "-rgb")
                record_in_card(zoo.card_path(spec[0]), key, s, raw, command)
        print(f"<!-- {name}: {time.time() - started:.0f} s -->", file=sys.stderr)


if __name__ == "__main__":
    main()
