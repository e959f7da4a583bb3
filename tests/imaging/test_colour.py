"""The one colour module: JFIF YCbCr (numpy and torch agree) and BT.601 studio luma."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from pixrescue.imaging.colour import (jfif_luma, rgb_to_ycbcr, rgb_to_ycbcr_levels, studio_from_full, studio_luma,
                                      ycbcr_to_rgb)
from pixrescue.training import metrics


def _rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8)


def test_ycbcr_is_pillows_jpeg_conversion():
    rgb = _rgb()
    ours = rgb_to_ycbcr(rgb.astype(np.float64))
    pillow = np.asarray(Image.fromarray(rgb).convert("YCbCr"), dtype=np.float64)
    assert np.abs(ours - pillow).max() <= 1.0  # Pillow works in fixed point and truncates


def test_ycbcr_round_trip_and_known_values():
    rgb = _rgb(1).astype(np.float64)
    assert np.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-4)
    white, red = rgb_to_ycbcr(np.array([[255.0, 255, 255], [255, 0, 0]]))
    assert np.allclose(white, [255, 128, 128], atol=1e-4)
    assert np.allclose(red, [76.245, 84.972, 255.5], atol=1e-3)
    assert np.array_equal(jfif_luma(rgb), rgb_to_ycbcr(rgb)[..., 0])


def test_torch_levels_are_the_numpy_conversion_centred_on_zero():
    rgb = _rgb(2).astype(np.float64)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    levels = rgb_to_ycbcr_levels(tensor)[0].permute(1, 2, 0).numpy()
    assert np.allclose(levels, rgb_to_ycbcr(rgb) - 128.0, atol=1e-9)


def test_studio_luma_spans_16_to_235_and_metrics_keeps_it():
    ends = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    assert np.allclose(studio_luma(ends), [[16.0, 235.0]])
    rgb = _rgb(3)
    assert np.allclose(studio_luma(rgb), studio_from_full(jfif_luma(rgb.astype(np.float64))), atol=1e-3)
    gray = rgb[..., 0]
    assert np.array_equal(studio_luma(gray), gray.astype(np.float64))
    assert metrics.luma is studio_luma
