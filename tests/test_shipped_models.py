"""The shipped weights do what their cards say, on real photographs."""

import json

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from helpers import decode, jpeg_bytes, psnr
from pixrescue import restore, zoo

SEED_MODELS = ["srcnn.jpeg-q10-gray", "resnet18.jpeg-q10-gray"]


@pytest.fixture(scope="module")
def camera_q10(gray_photo):
    return gray_photo, decode(jpeg_bytes(gray_photo, 10))


@pytest.mark.parametrize("name", SEED_MODELS)
def test_weights_and_card_ship_in_the_package(name):
    weights = zoo.weights_path(name)
    assert weights.exists() and weights.stat().st_size < 10_000_000
    state = load_file(str(weights))
    assert set(state) == set(zoo.get_spec(name).build().state_dict())
    card = json.loads(zoo.card_path(name).read_text())
    assert card["name"] == name
    assert card["training"]["command"].startswith("pixrescue train " + name)
    assert card["training"]["steps_done"] > 0
    assert card["metrics"]["Classic5-q10"]["gain_db"] > 0


def test_resnet18_gains_at_least_0_8_db_on_a_real_photograph(camera_q10):
    clean, degraded = camera_q10
    restored = restore(degraded, model="resnet18.jpeg-q10-gray")
    assert restored.mode == "L" and restored.size == clean.size
    assert psnr(clean, restored) - psnr(clean, degraded) >= 0.8


def test_resnet18_beats_srcnn_which_beats_the_jpeg(camera_q10):
    clean, degraded = camera_q10
    raw = psnr(clean, degraded)
    srcnn = psnr(clean, restore(degraded, model="srcnn.jpeg-q10-gray"))
    resnet = psnr(clean, restore(degraded, model="resnet18.jpeg-q10-gray"))
    assert raw + 0.2 < srcnn < resnet


def test_colour_photographs_gain_through_per_channel_restoration(photo):
    degraded = decode(jpeg_bytes(photo, 10))
    restored = restore(degraded, model="resnet18.jpeg-q10-gray")
    assert restored.mode == "RGB"
    assert psnr(photo, restored) > psnr(photo, degraded) + 0.3


def test_restore_accepts_a_path(tmp_path, photo):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(photo, 10))
    from_path = np.asarray(restore(path), dtype=int)
    with Image.open(path) as opened:  # a JPEG opened by Pillow keeps its tables
        from_image = np.asarray(restore(opened), dtype=int)
    assert np.array_equal(from_path, from_image)
