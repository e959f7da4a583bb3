"""`pixrescue.inspect`: what a picture went through, and what would help."""

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data

import pixrescue
from helpers import jpeg_bytes
from pixrescue.imaging.jpeg import reopened


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    """A real 512x512 colour photograph shipped with scikit-image."""
    return Image.fromarray(data.astronaut())


def as_png(image: Image.Image) -> Image.Image:
    """``image``'s pixels kept without loss (no tables), as a reader of the PNG gets them."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    buffer.seek(0)
    opened = Image.open(buffer)
    opened.load()
    return opened


def blurred(image: Image.Image, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    planes = [gaussian_filter(pixels[..., c], sigma) for c in range(pixels.shape[2])]
    return Image.fromarray(np.stack(planes, -1).round().clip(0, 255).astype(np.uint8))


def test_a_jpeg_file_gives_the_quality_of_its_tables(tmp_path, astronaut):
    path = tmp_path / "a.jpg"
    astronaut.save(path, quality=37, subsampling="4:2:0")
    found = pixrescue.inspect(path)
    assert (found.format, found.width, found.height, found.mode) == ("JPEG", 512, 512, "RGB")
    assert found.jpeg_quality == 37 and found.jpeg_quality_exact
    assert found.subsampling == "4:2:0"
    assert found.recompressed is False
    assert found.source == str(path) and found.frames == 1 and not found.has_alpha


def test_a_png_of_a_q30_jpeg_is_read_within_5(astronaut):
    found = pixrescue.inspect(as_png(reopened(astronaut, 30)))
    assert found.format == "PNG" and found.jpeg_quality is None
    assert found.dct_quality is not None and abs(found.dct_quality - 30) <= 5
    assert found.fix_quality is not None and abs(found.fix_quality - 30) <= 5


def test_a_harsh_save_then_a_gentle_one_is_flagged_as_recompressed(astronaut):
    found = pixrescue.inspect(reopened(reopened(astronaut, 15), 90))
    assert found.jpeg_quality == 90
    assert found.recompressed and abs(found.first_quality - 15) <= 10
    assert "before its last save at 90" in found.fix and not found.fix_projects


def test_a_gaussian_blurred_photograph_is_called_blurred_and_the_sharp_one_not(astronaut):
    sharp, soft = pixrescue.inspect(astronaut), pixrescue.inspect(blurred(astronaut, 2))
    assert not sharp.blurred and soft.blurred
    assert soft.sharpness < sharp.sharpness / 4
    assert "deblur" in soft.recommendations and "deblur" not in sharp.recommendations


def test_between_the_lines_the_deblurring_network_decides(astronaut):
    # A photograph with 5 px of camera motion that sharpness alone passes for sharp (above the
    # 0.1 line, as some sharp photographs are below 0.3): the network changes it far more than
    # its fine detail, which it does not do to a sharp photograph in the same band.
    from helpers import shaken_rocket
    from pixrescue.tasks.inspect import BLURRED_BELOW, CHECKED_BELOW

    shaken = pixrescue.inspect(shaken_rocket())
    sharp = pixrescue.inspect(astronaut)
    assert BLURRED_BELOW < shaken.sharpness < CHECKED_BELOW and BLURRED_BELOW < sharp.sharpness < CHECKED_BELOW
    assert shaken.blurred and "deblur" in shaken.recommendations
    assert not sharp.blurred and "deblur" not in sharp.recommendations


def test_a_flat_picture_is_not_called_blurred():
    found = pixrescue.inspect(Image.new("RGB", (600, 600), (40, 90, 200)))
    assert found.sharpness is None and not found.blurred and "deblur" not in found.recommendations


def test_a_clean_photograph_needs_no_fix_and_a_q10_jpeg_does(astronaut):
    clean = pixrescue.inspect(astronaut)
    assert clean.fix.startswith("unchanged: ") and clean.fix_quality is None
    assert clean.recommendations == ()  # 512 pixels a side is not small, and it is sharp
    harsh = pixrescue.inspect(reopened(astronaut, 10))
    assert harsh.recommendations[0] == "fix" and harsh.fix_quality == 10 and harsh.fix_projects
    assert harsh.blockiness > clean.blockiness + 0.5


def test_a_small_picture_is_recommended_upscaling(astronaut):
    found = pixrescue.inspect(astronaut.resize((320, 320), Image.BICUBIC))
    assert "upscale" in found.recommendations


def test_noise_is_measured_in_8_bit_levels(astronaut):
    # The same noise in the three channels: its luma has the same standard deviation, 10.
    noisy = np.asarray(astronaut, dtype=np.float64) + np.random.default_rng(0).normal(0, 10, (512, 512, 1))
    found = pixrescue.inspect(Image.fromarray(noisy.round().clip(0, 255).astype(np.uint8)))
    clean = pixrescue.inspect(astronaut)
    assert 8.5 <= found.noise <= 11.5 and clean.noise < 3


def test_a_picture_reports_its_metadata_and_the_result_is_frozen_json(tmp_path, astronaut):
    import json

    from PIL import ImageCms

    path = tmp_path / "a.png"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    astronaut.convert("RGBA").save(path, icc_profile=srgb)
    found = pixrescue.inspect(pixrescue.load(path))
    assert found.has_alpha and found.icc and found.mode == "RGBA" and found.format == "PNG"
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.width = 1
    assert json.loads(json.dumps(dataclasses.asdict(found)))["width"] == 512


def test_tables_fix_refuses_are_reported_not_failed(tmp_path, astronaut):
    payload = bytearray(jpeg_bytes(astronaut, 50))
    start = payload.index(b"\xff\xdb") + 5  # the first DQT segment's 64 steps
    payload[start : start + 64] = bytes(64)
    (tmp_path / "zero.jpg").write_bytes(bytes(payload))
    found = pixrescue.inspect(tmp_path / "zero.jpg")
    assert found.fix.startswith("refused: ") and "step of 0" in found.fix
    assert "fix" not in found.recommendations and found.fix_quality is None
