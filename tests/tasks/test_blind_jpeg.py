"""The blind default model: conditioned on the file's quantization tables,
estimates the compression of non-JPEG inputs, leaves clean pictures alone,
handles re-compressed pictures, and projection agrees with the file."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter
from safetensors.torch import load_file

from golden import assert_golden, blind_gain
from helpers import decode, jpeg_bytes, open_jpeg, psnr
from pixrescue import restore, zoo
from pixrescue.cli import main
from pixrescue.imaging.jpeg import round_trip
from pixrescue.imaging.projection import DCT, project
from pixrescue.imaging.jpeg import grid_strength
from pixrescue.tasks.restore import GRID_EVIDENCE, UNTOUCHED_FROM, estimate_quality, restore_frame

BLIND = "qgunet.jpeg-blind"
# ARCNN's published gain on Classic5 at quality 10: 27.82 -> 29.03 dB (Dong et al., ICCV 2015).
ARCNN_CLASSIC5_Q10_GAIN = 1.21


def test_the_blind_model_ships_with_its_weights_and_card():
    assert zoo.get_spec(BLIND).trainer == "jpeg-blind"
    weights = zoo.weights_path(BLIND)
    assert weights.stat().st_size < 10_000_000
    assert set(load_file(str(weights))) == set(zoo.get_spec(BLIND).build().state_dict())
    assert zoo.load_card(BLIND)["training"]["command"].startswith("pixrescue train " + BLIND)


def test_fix_uses_the_blind_model_by_default(photo, tmp_path):
    """The default output is the blind model's, and another model's differs."""
    source = tmp_path / "in.jpg"
    source.write_bytes(jpeg_bytes(photo.crop((0, 0, 96, 64)), 20))
    outputs = {}
    for label, flags in (("default", []), ("blind", ["-m", BLIND]), ("other", ["-m", "srcnn.jpeg-q10-gray"])):
        result = CliRunner().invoke(main, ["fix", str(source), "-o", str(tmp_path / f"{label}.png"), *flags])
        assert result.exit_code == 0, result.output
        outputs[label] = np.asarray(Image.open(tmp_path / f"{label}.png"), dtype=int)
    assert np.array_equal(outputs["default"], outputs["blind"])
    assert np.abs(outputs["default"] - outputs["other"]).max() > 0


@pytest.mark.quality
def test_gains_on_a_photograph_at_q10():
    """Floor: 0.7 x ARCNN's published Classic5 q10 gain, over the JPEG measured here; and golden."""
    gain = blind_gain("photo")
    assert gain >= 0.7 * ARCNN_CLASSIC5_Q10_GAIN
    assert_golden("qgunet.jpeg-blind/photo_q10_gain", gain)


@pytest.mark.quality
def test_gains_on_a_flat_colour_drawing_at_q10():
    """Floor: ARCNN's published Classic5 q10 gain (a drawing gains more than a photograph); and golden."""
    gain = blind_gain("illustration")
    assert gain >= ARCNN_CLASSIC5_Q10_GAIN
    assert_golden("qgunet.jpeg-blind/illustration_q10_gain", gain)


@pytest.mark.quality
def test_grayscale_stays_grayscale_and_gains(gray_photo):
    degraded = open_jpeg(jpeg_bytes(gray_photo, 20))
    restored = restore(degraded)
    assert restored.mode == "L"
    assert psnr(gray_photo, restored) > psnr(gray_photo, degraded) + 0.3


@pytest.mark.quality
def test_a_clean_picture_is_left_unchanged_and_a_resaved_jpeg_is_not(photo):
    assert estimate_quality(BLIND, photo) >= UNTOUCHED_FROM and grid_strength(photo) < GRID_EVIDENCE
    restored = restore(photo)  # a PIL image that never was a JPEG: the model estimates
    assert np.array_equal(np.asarray(photo), np.asarray(restored))
    resaved = decode(jpeg_bytes(photo, 30))  # pixels of a JPEG, no file tables
    assert grid_strength(resaved) > GRID_EVIDENCE
    assert psnr(photo, restore(resaved)) > psnr(photo, resaved) + 0.3


@pytest.mark.quality
def test_the_files_tables_condition_the_network(photo):
    """The same pixels told q30 tables or q45 tables come out differently, and
    the coarser tables make the network change the picture more.  (Tables much
    gentler than the pixels' blocks would be seen through: see test_reshared.py.)"""
    degraded, info10 = round_trip(photo, 30)
    _, info50 = round_trip(photo, 45)
    as_q10 = np.asarray(restore_frame(degraded, BLIND, jpeg=info10, project=False), dtype=float)
    as_q50 = np.asarray(restore_frame(degraded, BLIND, jpeg=info50, project=False), dtype=float)
    pixels = np.asarray(degraded, dtype=float)
    assert np.abs(as_q10 - as_q50).mean() > 0.2
    assert np.abs(as_q10 - pixels).mean() > np.abs(as_q50 - pixels).mean()


@pytest.mark.quality
def test_strength_overrides_the_tables(photo):
    degraded, info = round_trip(photo, 50)
    told = np.asarray(restore_frame(degraded, BLIND, jpeg=info), dtype=float)
    stronger = np.asarray(restore_frame(degraded, BLIND, jpeg=info, strength=10), dtype=float)
    pixels = np.asarray(degraded, dtype=float)
    assert np.abs(stronger - pixels).mean() > np.abs(told - pixels).mean()


def test_estimates_the_quality_of_a_jpeg_saved_as_png(photo):
    low = estimate_quality(BLIND, decode(jpeg_bytes(photo, 10)))
    high = estimate_quality(BLIND, decode(jpeg_bytes(photo, 80)))
    assert low < 30 and high > low + 25


@pytest.mark.quality
def test_double_compressed_shifted_grid_is_restored(photo):
    first = decode(jpeg_bytes(photo, 20))
    box = (3, 5, photo.width, photo.height)  # a crop moves the second encoder's grid
    clean, shifted = photo.crop(box), first.crop(box)
    payload = jpeg_bytes(shifted, 60)
    degraded = open_jpeg(payload)
    restored = restore(degraded)
    assert psnr(clean, restored) > psnr(clean, degraded) + 0.3


def test_tiles_match_the_whole_image(photo):
    degraded, info = round_trip(photo, 20)
    whole = np.asarray(restore_frame(degraded, BLIND, jpeg=info, tile=None), dtype=int)
    tiled = np.asarray(restore_frame(degraded, BLIND, jpeg=info, tile=96), dtype=int)
    assert np.abs(whole - tiled).max() <= 1


def test_alpha_survives(photo):
    rgba = photo.convert("RGBA")
    alpha = Image.linear_gradient("L").resize(photo.size)
    rgba.putalpha(alpha)
    restored = restore(rgba, strength=20)
    assert restored.mode == "RGBA"
    assert np.array_equal(np.asarray(restored.getchannel("A")), np.asarray(alpha))


def test_projection_keeps_the_original_and_pulls_a_blurred_image_back(photo):
    degraded, info = round_trip(photo, 20)
    original, pixels = np.asarray(photo), np.asarray(degraded)
    luma, chroma = info.quantization[0], info.quantization[1]
    assert psnr(original, project(original, pixels, luma, chroma, info.subsampling)) > 50
    assert np.array_equal(project(pixels, pixels, luma, chroma, info.subsampling), pixels)
    flat = np.full_like(pixels, 128)
    assert psnr(original, project(flat, pixels, luma, chroma, info.subsampling)) > psnr(original, flat) + 5


def test_the_fast_projection_matches_a_block_by_block_float64_one(gray_photo):
    """The float32 projection of all blocks at once equals a plain float64 one
    (scipy's orthonormal DCT, block after block) within one level."""
    from scipy.fft import dctn, idctn

    degraded, info = round_trip(gray_photo.crop((0, 0, 203, 157)), 20)
    pixels = np.asarray(degraded)
    blurred = np.asarray(degraded.filter(ImageFilter.GaussianBlur(2)))
    steps = np.asarray(info.quantization[0], dtype=np.float64).reshape(8, 8)
    h, w = pixels.shape
    pad = ((0, -h % 8), (0, -w % 8))
    dec, res = (np.pad(a.astype(np.float64) - 128, pad, mode="edge") for a in (pixels, blurred))
    out = res.copy()
    for top in range(0, dec.shape[0], 8):
        for left in range(0, dec.shape[1], 8):
            block = (slice(top, top + 8), slice(left, left + 8))
            stored = np.round(dctn(dec[block], norm="ortho") / steps)
            coefficients = dctn(res[block], norm="ortho")
            clipped = np.clip(coefficients, (stored - 0.5) * steps, (stored + 0.5) * steps)
            out[block] += idctn(clipped - coefficients, norm="ortho")
    expected = np.clip(np.round(out[:h, :w] + 128), 0, 255)
    fast = project(blurred, pixels, info.quantization[0], None, info.subsampling).astype(float)
    assert np.abs(fast - blurred).max() > 2  # the projection moved the picture
    assert np.abs(fast - expected).max() <= 1


def test_projection_in_strips_on_threads_equals_one_piece(photo, monkeypatch):
    """A picture taller than a strip is projected strip by strip, on threads: the
    same pixels as in one thread and as in one piece."""
    from pixrescue.imaging import projection

    tall = photo.resize((photo.width, 3 * photo.height))
    degraded, info = round_trip(tall, 20)
    pixels = np.asarray(degraded)
    blurred = np.asarray(degraded.filter(ImageFilter.GaussianBlur(2)))
    args = (blurred, pixels, info.quantization[0], info.quantization[1], info.subsampling)
    monkeypatch.setattr(projection, "STRIP", 64)
    on_threads = project(*args, threads=3)
    assert np.array_equal(on_threads, project(*args, threads=1))
    monkeypatch.setattr(projection, "STRIP", 4096)
    assert np.array_equal(on_threads, project(*args))
    assert np.abs(on_threads.astype(int) - blurred).max() > 2


def test_the_dct_is_orthonormal():
    assert np.allclose(DCT @ DCT.T, np.eye(8))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_projection_lines_up_with_the_grid_of_an_exif_rotated_file(photo, tmp_path, orientation):
    """A phone photo is stored sideways with an EXIF orientation; the loader turns
    it upright, and the projection must turn it back to meet the file's grid."""
    from pixrescue import load
    from pixrescue.tasks.restore import _UPRIGHT, project_onto_file

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rotated.jpg"
    photo.save(path, quality=30, exif=exif)
    picture = load(path)
    assert picture.orientation == orientation
    stored = np.asarray(Image.open(path).convert("RGB"))
    flat_up = np.full_like(np.asarray(picture.image), 100)
    expected = project(np.full_like(stored, 100), stored, picture.jpeg.quantization[0],
                       picture.jpeg.quantization[1], picture.jpeg.subsampling)
    expected = np.asarray(Image.fromarray(expected).transpose(_UPRIGHT[orientation]))
    got = project_onto_file(flat_up, np.asarray(picture.image), picture.jpeg, orientation)
    assert np.array_equal(got, expected)


def test_a_cmyk_jpeg_is_restored_without_projection(photo, tmp_path):
    from pixrescue import load

    path = tmp_path / "cmyk.jpg"
    photo.convert("CMYK").save(path, quality=20)
    picture = load(path)
    assert picture.jpeg.mode == "CMYK" and picture.image.mode == "RGB"
    projected = restore_frame(picture.image, BLIND, jpeg=picture.jpeg, project=True)
    plain = restore_frame(picture.image, BLIND, jpeg=picture.jpeg, project=False)
    assert np.array_equal(np.asarray(projected), np.asarray(plain))
