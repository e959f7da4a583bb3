"""The README's before/after picture: a crop of the bundled example, as the
JPEG and as ``pixrescue fix`` writes it, side by side and enlarged 3 times
(nearest neighbour, so that the blocks stay visible).

    python benchmarks/before_after.py [--out docs/before-after.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

import pixrescue
from pixrescue.imaging import Picture

ROOT = Path(__file__).resolve().parent.parent
BOX = (150, 60, 300, 180)  # the crop of examples/meme.jpg shown
ENLARGE = 3
GAP = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "before-after.png")
    args = parser.parse_args()
    source = ROOT / "examples" / "meme.jpg"
    picture = pixrescue.load(source)
    before = picture.image.crop(BOX)
    after = pixrescue.restore(source).crop(BOX)
    width, height = before.width * ENLARGE, before.height * ENLARGE
    sheet = Image.new("RGB", (2 * width + GAP, height + 24), "white")
    for i, (part, label) in enumerate(((before, f"JPEG (quality {picture.jpeg.quality})"), (after, "pixrescue fix"))):
        sheet.paste(part.convert("RGB").resize((width, height), Image.NEAREST), (i * (width + GAP), 24))
        ImageDraw.Draw(sheet).text((i * (width + GAP) + 4, 6), label, fill="black")
    pixrescue.save(Picture(frames=[sheet]), args.out, overwrite=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
