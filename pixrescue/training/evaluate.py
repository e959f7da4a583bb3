"""Evaluation of artifact removal on a folder of clean images.

Protocol (the literature's): each clean image is compressed with Pillow's IJG
encoder at ``quality`` (default 4:2:0 chroma subsampling for colour), restored,
and compared with the clean image over the whole frame: PSNR, SSIM (Gaussian
window, sigma 1.5) and PSNR-B.  Grayscale sets are converted to L first;
colour sets are measured on RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .. import cards
from ..imaging import load
from ..imaging.io import find_images
from ..imaging.jpeg import JpegInfo, round_trip
from .metrics import psnr, psnr_b, ssim

# A method gets the decoded JPEG and what its file said; None is the raw JPEG.
Restorer = Callable[[Image.Image, JpegInfo], Image.Image]


@dataclass
class Scores:
    psnr: float
    ssim: float
    psnr_b: float
    images: int

    def as_dict(self) -> dict:
        return {"psnr": round(self.psnr, 3), "ssim": round(self.ssim, 4), "psnr_b": round(self.psnr_b, 3),
                "images": self.images}


def load_set(folder: str | Path, gray: bool) -> list[Image.Image]:
    return [load(p).image.convert("L" if gray else "RGB") for p in find_images([folder])]


def evaluate(
    images: list[Image.Image],
    quality: int,
    methods: dict[str, Restorer | None],
    derived: dict[str, tuple[str, Callable[[np.ndarray, Image.Image, JpegInfo], np.ndarray]]] | None = None,
) -> dict[str, Scores]:
    """Scores of each method (None = the raw JPEG) averaged over ``images``.

    ``derived`` maps a name to (a method's name, a function of that method's
    output array, the decoded JPEG and its info): post-processing measured
    without running the method twice.
    """
    derived = derived or {}
    totals: dict[str, list[tuple[float, float, float]]] = {name: [] for name in [*methods, *derived]}
    for clean in images:
        degraded, info = round_trip(clean, quality)
        reference = np.asarray(clean)
        outputs = {}
        for name, method in methods.items():
            outputs[name] = np.asarray(degraded if method is None else method(degraded, info))
        for name, (base, function) in derived.items():
            outputs[name] = function(outputs[base], degraded, info)
        for name, output in outputs.items():
            totals[name].append((psnr(reference, output), ssim(reference, output), psnr_b(reference, output)))
    return {
        name: Scores(*np.mean(np.array(values), axis=0).tolist(), images=len(values))
        for name, values in totals.items()
    }


def record_in_card(card_file: Path, key: str, scores: Scores, raw: Scores, command: str) -> None:
    """Store benchmark numbers in a model card (they never come from hand)."""
    entry = scores.as_dict()
    entry["gain_db"] = round(scores.psnr - raw.psnr, 3)
    entry["jpeg_psnr"] = round(raw.psnr, 3)

    def change(card: dict) -> None:
        card.setdefault("metrics", {})[key] = entry
        card["metrics_command"] = command

    cards.update(card_file, change)


def merge_into_cards(found: dict[str, dict], command: str, directory: Path = cards.WEIGHTS_DIR) -> None:
    """Add each model's measured ``metrics`` to its card (in ``directory``), with the command that measured them."""
    for name, metrics in found.items():
        path = cards.card_path(name, directory)
        if not metrics or not path.exists():
            continue

        def change(card: dict, metrics: dict = metrics) -> None:
            known = card.setdefault("metrics", {})
            for key, value in metrics.items():  # one table's run keeps the other tables' figures
                if isinstance(value, dict) and isinstance(known.get(key), dict):
                    known[key].update(value)
                else:
                    known[key] = value
            card["metrics_command"] = command

        cards.update(path, change)
        print(f"updated {path}")
