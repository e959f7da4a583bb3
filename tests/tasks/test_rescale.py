"""`pixrescue shrink` / `expand`: the invertible rescaler recovers far more
than bicubic, its metadata round-trips, and foreign pictures are refused."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from golden import REFINE_CROP, REFINE_STEPS, assert_golden, jpeg_robust_gain, refine_scores, rescale_scores
from helpers import psnr
from pixrescue import expand, load, save, shrink, zoo
from pixrescue.cli import main
from pixrescue.imaging.io import TEXT_KEY
from pixrescue.tasks.rescale import NotShrunkError, expand_frame, shrink_frame


def run(*args):
    result = CliRunner().invoke(main, list(map(str, args)))
    assert "Traceback" not in result.output
    return result


# A small picture this close (RGB PSNR, dB) to the bicubic downscale looks like it.
LOOKS_LIKE_BICUBIC = 35.0


@pytest.mark.quality
@pytest.mark.parametrize("name", ["irn.x2", "irn.x4", "irn.x4-jpeg"])
def test_expand_of_shrink_beats_bicubic(name):
    """Floors: bicubic shrink + enlarge measured here, LOOKS_LIKE_BICUBIC; and golden."""
    scores = rescale_scores(name)
    assert scores["vs_bicubic"] > 0 and scores["small_vs_bicubic"] >= LOOKS_LIKE_BICUBIC
    for key, value in scores.items():
        assert_golden(f"{name}/{key}", value)


def test_shipped_network_inverts_exactly_before_rounding(photo):
    network = zoo.get_spec("irn.x2").build().double()
    network.load_state_dict(zoo.load_model("irn.x2").state_dict())
    x = torch.from_numpy(np.asarray(photo.crop((0, 0, 96, 64)), dtype=np.float64) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        small, z = network(x)
        assert (network.inverse(small, z) - x).abs().max() < 1e-4


@pytest.mark.quality
def test_cli_round_trip_keeps_metadata_size_and_alpha(photo, tmp_path):
    rgba = photo.convert("RGBA")  # 451 x 300: not a multiple of the scale
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    rgba.save(tmp_path / "cat.png")
    assert run("shrink", tmp_path / "cat.png", "-s", "2", "-o", tmp_path / "small.png").exit_code == 0
    small = load(tmp_path / "small.png")
    note = json.loads(small.text[TEXT_KEY])
    assert note["model"] == "irn.x2" and note["scale"] == 2 and (note["width"], note["height"]) == (451, 300)
    assert small.size == (226, 150) and small.mode == "RGBA"
    assert run("expand", tmp_path / "small.png", "-o", tmp_path / "big.png").exit_code == 0
    big = load(tmp_path / "big.png")
    assert big.size == (451, 300) and big.mode == "RGBA" and TEXT_KEY not in big.text
    baseline = small.image.convert("RGB").resize((451, 300), Image.BICUBIC)
    assert psnr(photo, big.image.convert("RGB")) > psnr(photo, baseline) + 3


def test_jpeg_output_carries_the_metadata_in_its_comment(photo, tmp_path):
    photo.save(tmp_path / "cat.png")
    assert run("shrink", tmp_path / "cat.png", "-s", "4", "-o", tmp_path / "small.jpg").exit_code == 0
    assert json.loads(load(tmp_path / "small.jpg").text[TEXT_KEY])["model"] == "irn.x4"
    assert run("expand", tmp_path / "small.jpg", "-o", tmp_path / "big.png").exit_code == 0
    assert Image.open(tmp_path / "big.png").size == photo.size


@pytest.mark.quality
def test_jpeg_robust_shrink_recovers_more_after_a_jpeg_than_the_plain_one(tmp_path):
    """Floor: the plain model through the same JPEG, measured here; and golden."""
    gain = jpeg_robust_gain(tmp_path)
    assert json.loads(load(tmp_path / "robust.jpg").text[TEXT_KEY])["model"] == "irn.x4-jpeg"
    assert gain > 0
    assert_golden("irn.x4-jpeg/jpeg90_vs_plain", gain)
    result = run("shrink", tmp_path / "cat.png", "-s", "2", "--jpeg-robust", "-o", tmp_path / "small.png")
    assert result.exit_code == 2 and "x4" in result.output and not (tmp_path / "small.png").exists()


def test_seed_makes_the_draw_reproducible_and_temperature_matters(photo):
    small = shrink(photo.crop((0, 0, 128, 96)), 2)
    a, b = (np.asarray(expand(small, seed=1, temperature=1.0).image, dtype=int) for _ in range(2))
    c = np.asarray(expand(small, seed=2, temperature=1.0).image, dtype=int)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_expand_refuses_a_picture_shrink_did_not_make(photo, tmp_path):
    photo.save(tmp_path / "plain.png")
    result = run("expand", tmp_path / "plain.png", "-o", tmp_path / "out.png")
    assert result.exit_code == 1 and "pixrescue upscale" in result.output
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(NotShrunkError):
        expand(tmp_path / "plain.png")


def test_a_resized_small_picture_is_refused_but_a_model_can_be_forced(photo, tmp_path):
    small = shrink(photo.crop((0, 0, 128, 96)), 2)
    save(small, tmp_path / "small.png")
    resized = small.with_frames([small.image.resize((32, 24))])
    with pytest.raises(NotShrunkError, match="upscale"):
        expand(resized)
    forced = expand(resized, model="irn.x2")
    assert forced.size == (64, 48)


@pytest.mark.parametrize("name", ["irn.x4", "irn.x4-jpeg"])
def test_tiled_shrink_and_expand_equal_the_whole_picture(photo, name):
    hr = photo.crop((0, 0, 448, 300))
    whole, tiled = shrink_frame(hr, name, tile=None), shrink_frame(hr, name, tile=24)
    assert np.abs(np.asarray(whole, dtype=int) - np.asarray(tiled, dtype=int)).max() <= 1
    big_whole = np.asarray(expand_frame(whole, name, hr.size, tile=None), dtype=int)
    big_tiled = np.asarray(expand_frame(whole, name, hr.size, tile=24), dtype=int)
    assert np.abs(big_whole - big_tiled).max() <= 1


def test_a_note_that_does_not_fit_the_picture_or_the_limit_is_refused(photo, tmp_path):
    small = shrink(photo.crop((0, 0, 128, 96)), 2)
    note = json.loads(small.text[TEXT_KEY])
    forged = small.with_frames(small.frames)
    forged.text = {**small.text, TEXT_KEY: json.dumps({**note, "width": 100000, "height": 100000})}
    with pytest.raises(NotShrunkError, match="does not fit"):
        expand(forged)
    save(small, tmp_path / "small.png")
    result = run("expand", tmp_path / "small.png", "-o", tmp_path / "big.png", "--max-pixels", 5000)
    assert result.exit_code == 1 and "over the limit" in result.output and not (tmp_path / "big.png").exists()


@pytest.mark.quality
@pytest.mark.parametrize("name", ["irn.x2", "irn.x4"])
def test_refined_small_picture_is_recovered_better_and_still_looks_right(name):
    """Floors: the plain small picture measured here, LOOKS_LIKE_BICUBIC; and golden."""
    scores = refine_scores(name)
    assert scores["refine_vs_plain"] > 0 and scores["refined_small_vs_bicubic"] >= LOOKS_LIKE_BICUBIC
    for key, value in scores.items():
        assert_golden(f"{name}/{key}", value)


@pytest.mark.quality
def test_refinement_in_tiles_gains_as_much_and_keeps_gray_gray(photo, gray_photo):
    hr = photo.crop(REFINE_CROP)
    plain = psnr(hr, expand_frame(shrink_frame(hr, "irn.x2"), "irn.x2", hr.size))
    whole = psnr(hr, expand_frame(shrink_frame(hr, "irn.x2", refine=REFINE_STEPS, refine_tile=None), "irn.x2", hr.size))
    tiled = psnr(hr, expand_frame(shrink_frame(hr, "irn.x2", refine=REFINE_STEPS, refine_tile=128), "irn.x2", hr.size))
    assert whole - plain > 0.3 and tiled - plain > 0.8 * (whole - plain)
    gray = gray_photo.crop((192, 96, 320, 192))  # the cameraman's coat and tripod
    small = shrink_frame(gray, "irn.x2", refine=REFINE_STEPS)
    assert small.mode == "L"
    assert psnr(gray, expand_frame(small, "irn.x2", gray.size).convert("L")) > psnr(
        gray, expand_frame(shrink_frame(gray, "irn.x2"), "irn.x2", gray.size).convert("L"))


def test_cli_refine_round_trips_and_refuses_the_jpeg_robust_model(photo, tmp_path):
    photo.crop((0, 0, 96, 64)).save(tmp_path / "cat.png")
    assert run("shrink", tmp_path / "cat.png", "--refine", 2, "-o", tmp_path / "small.png").exit_code == 0
    assert run("expand", tmp_path / "small.png", "-o", tmp_path / "big.png").exit_code == 0
    assert Image.open(tmp_path / "big.png").size == (96, 64)
    result = run("shrink", tmp_path / "cat.png", "-s", "4", "--jpeg-robust", "--refine", 2, "-o", tmp_path / "r.png")
    assert result.exit_code == 2 and "--refine" in result.output and not (tmp_path / "r.png").exists()
    result = run("shrink", tmp_path / "cat.png", "--refine", 2, "-o", tmp_path / "r.jpg")
    assert result.exit_code == 2 and "PNG" in result.output and not (tmp_path / "r.jpg").exists()
    with pytest.raises(ValueError, match="JPEG-robust"):
        shrink(tmp_path / "cat.png", 4, jpeg_robust=True, refine=2)


def test_refinement_works_after_the_network_was_first_loaded_in_inference_mode():
    """The network cache is shared with inference code: a model first loaded under
    torch.inference_mode must still take gradients through it for --refine."""
    from skimage import data

    from pixrescue.tasks.rescale import shrink_frame

    zoo.load_model.cache_clear()
    with torch.inference_mode():
        zoo.load_model("irn.x2")
    picture = Image.fromarray(data.astronaut()).resize((64, 64))
    assert shrink_frame(picture, "irn.x2", refine=1).size == (32, 32)
