"""Peak memory and speed of `restore` on one large synthetic image.

    python benchmarks/memory.py [--size 6000] [--model NAME] [--colour]

The image is a JPEG-compressed (q10) smooth gradient with noise, SIZE x SIZE
pixels.  Prints the peak resident memory of the process (which includes the
Python interpreter and torch, about 0.3 GB) and the megapixels per second.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from PIL import Image

from pixrescue import restore, zoo
from pixrescue.imaging.jpeg import compress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--model", default=zoo.DEFAULT_MODEL["jpeg"])
    parser.add_argument("--colour", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, args.size, dtype=np.float32)
    base = (ramp[None, :] + ramp[:, None]) / 2 + rng.normal(0, 12, (args.size, args.size)).astype(np.float32)
    array = base.clip(0, 255).astype(np.uint8)
    image = Image.fromarray(np.stack([array, array[::-1], array[:, ::-1]], -1) if args.colour else array)
    image = compress(image, 10)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    started = time.perf_counter()
    restore(image, model=args.model)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    megapixels = args.size * args.size / 1e6
    kind = "RGB" if args.colour else "gray"
    print("| model | image | peak memory (GB) | before restore (GB) | seconds | MP/s |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.model} | {args.size}x{args.size} {kind} | {peak:.2f} | {before:.2f} | {seconds:.1f} | "
          f"{megapixels / seconds:.2f} |")


if __name__ == "__main__":
    main()
