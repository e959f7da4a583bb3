"""Golden values: what the shipped weights measured on the tests' pictures.

    python tests/golden.py --regenerate [--accept-lower]

The quality tests call the measurements below and hold each result to two
floors: one that does not come from the measurement (the JPEG, bicubic or the
plain model measured in the same test, or a published figure), and the value
in tests/golden.json less TOLERANCE dB, so that a regression fails a test.
Only this command writes tests/golden.json, it refuses to run under CI=true,
and it refuses to lower a value by more than TOLERANCE unless told
--accept-lower (new weights that trade one measurement for another).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from helpers import chelsea, decode, illustration, jpeg_bytes, open_jpeg, psnr

GOLDEN_PATH = Path(__file__).with_name("golden.json")
# Room for float rounding across machines and thread counts, not for regressions.
TOLERANCE = 0.1
# As in the refinement tests: a smaller crop, few steps.
REFINE_CROP, REFINE_STEPS = (0, 0, 224, 160), 10
RESCALE_CROP = (0, 0, 448, 300)


def golden(key: str) -> float:
    return json.loads(GOLDEN_PATH.read_text())["values"][key]


def assert_golden(key: str, value: float) -> None:
    """``value`` is at most TOLERANCE dB below the golden value of ``key``."""
    expected = golden(key)
    assert value >= expected - TOLERANCE, f"{key}: {value:.3f} dB, golden {expected:.3f} dB"


def blind_gain(which: str) -> float:
    """The default model's PSNR gain over the JPEG at quality 10 (file tables kept)."""
    from pixrescue import restore

    clean = chelsea() if which == "photo" else illustration()
    degraded = open_jpeg(jpeg_bytes(clean, 10))
    restored = restore(degraded)
    assert restored.mode == "RGB" and restored.size == clean.size
    return psnr(clean, restored) - psnr(clean, degraded)


def camera_q10() -> tuple[Image.Image, Image.Image]:
    from skimage import data

    clean = Image.fromarray(data.camera())
    return clean, decode(jpeg_bytes(clean, 10))


def seed_gain(name: str) -> float:
    """``name``'s PSNR gain over the JPEG on the 'camera' photograph at quality 10 (pixels only)."""
    from pixrescue import restore

    clean, degraded = camera_q10()
    restored = restore(degraded, model=name)
    assert restored.mode == "L" and restored.size == clean.size
    return psnr(clean, restored) - psnr(clean, degraded)


def chelsea_12() -> Image.Image:
    """The photograph cropped to a multiple of every scale."""
    photo = chelsea()
    return photo.crop((0, 0, photo.width // 12 * 12, photo.height // 12 * 12))


def sr_gain(name: str, scale: int) -> float:
    """Y-PSNR gain of upscaler ``name`` over bicubic, enlarging the bicubic downscale of the photograph."""
    from pixrescue import upscale
    from pixrescue.training.metrics import sr_scores

    hr = chelsea_12()
    lr = hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)
    out = upscale(lr, scale, name)
    assert out.size == hr.size and out.mode == "RGB"
    bicubic = sr_scores(np.asarray(hr), np.asarray(upscale(lr, scale, "bicubic")), scale)[0]
    return sr_scores(np.asarray(hr), np.asarray(out), scale)[0] - bicubic


@lru_cache(maxsize=None)
def rescale_scores(name: str) -> dict[str, float]:
    """vs_bicubic: RGB-PSNR gain of shrink + expand over bicubic shrink + bicubic enlarge;
    small_vs_bicubic: PSNR of the small picture against the bicubic downscale."""
    from pixrescue import zoo
    from pixrescue.tasks.rescale import expand_frame, shrink_frame

    scale = zoo.get_spec(name).scales[0]
    hr = chelsea().crop(RESCALE_CROP)
    small = shrink_frame(hr, name)
    assert small.size == (hr.width // scale, hr.height // scale)
    bicubic_small = hr.resize(small.size, Image.BICUBIC)
    recovered = expand_frame(small, name, hr.size)
    baseline = bicubic_small.resize(hr.size, Image.BICUBIC)
    return {"vs_bicubic": psnr(hr, recovered) - psnr(hr, baseline), "small_vs_bicubic": psnr(bicubic_small, small)}


@lru_cache(maxsize=None)
def refine_scores(name: str) -> dict[str, float]:
    """refine_vs_plain: RGB-PSNR gain of a refined small picture over the plain one, once expanded;
    refined_small_vs_bicubic: PSNR of the refined small picture against the bicubic downscale."""
    from pixrescue.tasks.rescale import expand_frame, shrink_frame

    hr = chelsea().crop(REFINE_CROP)
    plain, refined = shrink_frame(hr, name), shrink_frame(hr, name, refine=REFINE_STEPS)
    gain = psnr(hr, expand_frame(refined, name, hr.size)) - psnr(hr, expand_frame(plain, name, hr.size))
    return {"refine_vs_plain": gain, "refined_small_vs_bicubic": psnr(hr.resize(refined.size, Image.BICUBIC), refined)}


def jpeg_robust_gain(folder: Path) -> float:
    """Through the CLI: shrink x4 to a JPEG at quality 90, with and without --jpeg-robust, expand
    both; the robust model's RGB-PSNR gain over the plain one.  Leaves robust.jpg in ``folder``."""
    from click.testing import CliRunner

    from pixrescue.cli import main

    crop = chelsea().crop(RESCALE_CROP)
    crop.save(folder / "cat.png")
    recovered = {}
    for label, flags in (("robust", ["--jpeg-robust"]), ("plain", [])):
        small = folder / f"{label}.jpg"
        for args in (["shrink", folder / "cat.png", "-s", "4", *flags, "-o", small, "--quality", "90"],
                     ["expand", small, "-o", folder / f"{label}.png"]):
            result = CliRunner().invoke(main, list(map(str, args)))
            assert result.exit_code == 0, result.output
        recovered[label] = Image.open(folder / f"{label}.png").convert("RGB")
    return psnr(crop, recovered["robust"]) - psnr(crop, recovered["plain"])


def ae_reconstruction() -> float:
    """PSNR of the autoencoder's rebuilt 64x64 thumbnail of the photograph (from its 128-number code)."""
    from pixrescue import decode, encode
    from pixrescue.collection.fingerprints import thumbnail

    photo = chelsea()
    code = encode(photo)
    assert code.shape == (128,) and code.dtype == np.float32
    rebuilt = np.asarray(decode(code), dtype=float) / 255
    return float(-10 * np.log10(np.mean((rebuilt - thumbnail(photo)[0].numpy()) ** 2)))


def measurements() -> dict[str, Callable[[], float]]:
    """Every golden key and how to measure it."""
    from pixrescue import zoo
    from pixrescue.tasks.upscale import upscale_models

    found: dict[str, Callable[[], float]] = {
        "qgunet.jpeg-blind/photo_q10_gain": lambda: blind_gain("photo"),
        "qgunet.jpeg-blind/illustration_q10_gain": lambda: blind_gain("illustration"),
        "resnet18.jpeg-q10-gray/camera_q10_gain": lambda: seed_gain("resnet18.jpeg-q10-gray"),
        "srcnn.jpeg-q10-gray/camera_q10_gain": lambda: seed_gain("srcnn.jpeg-q10-gray"),
        "autoencoder.thumb64/reconstruction_psnr": ae_reconstruction,
    }
    for name in upscale_models():
        for scale in zoo.get_spec(name).scales:
            found[f"{name}/x{scale}_gain_over_bicubic"] = lambda n=name, s=scale: sr_gain(n, s)
    for name in zoo.models_for("rescale"):
        for key in ("vs_bicubic", "small_vs_bicubic"):
            found[f"{name}/{key}"] = lambda n=name, k=key: rescale_scores(n)[k]
    for name in ("irn.x2", "irn.x4"):
        for key in ("refine_vs_plain", "refined_small_vs_bicubic"):
            found[f"{name}/{key}"] = lambda n=name, k=key: refine_scores(n)[k]

    def robust() -> float:
        with tempfile.TemporaryDirectory() as folder:
            return jpeg_robust_gain(Path(folder))

    found["irn.x4-jpeg/jpeg90_vs_plain"] = robust
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regenerate", action="store_true", help="Measure and write tests/golden.json.")
    parser.add_argument("--accept-lower", action="store_true",
                        help="Write even where a value fell by more than the tolerance.")
    args = parser.parse_args()
    if not args.regenerate:
        parser.print_help()
        return 2
    if os.environ.get("CI", "").lower() in ("true", "1"):
        print("refusing to regenerate golden values under CI: a regression must fail a test", file=sys.stderr)
        return 2
    old = json.loads(GOLDEN_PATH.read_text())["values"] if GOLDEN_PATH.exists() else {}
    values, lower = {}, []
    for key, measure in measurements().items():
        values[key] = round(measure(), 3)
        change = f" (was {old[key]:.3f})" if key in old else ""
        print(f"{key}: {values[key]:.3f}{change}")
        if key in old and values[key] < old[key] - TOLERANCE:
            lower.append(key)
    if lower and not args.accept_lower:
        print(f"not written: lower than golden by more than {TOLERANCE} dB: {', '.join(lower)} "
              "(fix the regression, or pass --accept-lower and say why in the commit)", file=sys.stderr)
        return 1
    about = ("Written only by `python tests/golden.py --regenerate` (see its docstring): what the shipped "
             f"weights measured on the tests' pictures, in dB; a quality test fails {TOLERANCE} dB below.")
    GOLDEN_PATH.write_text(json.dumps({"about": about, "values": values}, indent=2) + "\n")
    print(f"wrote {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
