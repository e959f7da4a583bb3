"""The no-reference quality score: it ranks degradations of one real photograph
as their true PSNR does, the same everywhere it is asked, tiled or whole."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import pixrescue
from helpers import decode, jpeg_bytes, psnr
from pixrescue import zoo
from pixrescue.tasks.quality import FLOOR_PSNR, predicted_psnr, score_of
from pixrescue.training.blur import blur, motion_kernel

SCORER = zoo.DEFAULT_MODEL["quality"]


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def degraded(image: Image.Image, kind: str) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    if kind.startswith("q"):
        return decode(jpeg_bytes(image, int(kind[1:])))
    if kind == "motion":
        out = blur(pixels, motion_kernel(11, np.random.default_rng(0)))
    elif kind == "noise":
        out = pixels + np.random.default_rng(0).normal(0, 15, pixels.shape)
    else:
        return image
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


@pytest.mark.quality
def test_the_score_orders_jpeg_qualities_and_the_clean_picture_as_their_true_psnr(astronaut):
    scores = [pixrescue.quality_score(degraded(astronaut, kind)) for kind in ("q10", "q30", "q90", "clean")]
    assert scores[0] < scores[1] < scores[2] < scores[3], scores


@pytest.mark.quality
def test_the_predicted_psnr_is_near_the_true_one_and_blur_and_noise_score_below_the_clean_picture(astronaut):
    clean = pixrescue.quality_score(astronaut)
    for kind in ("q10", "q30", "motion", "noise"):
        picture = degraded(astronaut, kind)
        truth = psnr(np.asarray(astronaut), np.asarray(picture))
        predicted = predicted_psnr(SCORER, picture)
        assert abs(predicted - truth) < 3.0, (kind, predicted, truth)
        assert pixrescue.quality_score(picture) < clean - 10, kind


def test_a_large_picture_scored_tile_by_tile_scores_as_it_does_whole():
    rng = np.random.default_rng(1)
    pixels = np.asarray(Image.fromarray(data.astronaut()).resize((700, 620)), dtype=np.float64)
    picture = Image.fromarray(np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype(np.uint8))
    with torch.inference_mode():
        x = torch.from_numpy(np.array(picture)).permute(2, 0, 1)[None].float() / 255
        whole = zoo.load_model(SCORER)(x)
    assert abs(predicted_psnr(SCORER, picture) - (-10 * np.log10(float(whole.exp().mean())))) < 1e-3


def test_gray_and_transparent_pictures_are_scored_by_their_colour(astronaut):
    gray = astronaut.convert("L")
    rgba = astronaut.copy()
    rgba.putalpha(128)
    assert pixrescue.quality_score(gray) == pytest.approx(pixrescue.quality_score(gray.convert("RGB")))
    assert pixrescue.quality_score(rgba) == pixrescue.quality_score(astronaut)


def test_inspect_reports_the_same_score_as_the_api(tmp_path, astronaut):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(astronaut, 30))
    found = pixrescue.inspect(path)
    assert found.quality_score == pixrescue.quality_score(path)
    assert found.quality_score == pytest.approx(score_of(found.predicted_psnr), abs=0.06)


def test_the_score_runs_from_0_at_the_floor_to_100_at_the_top():
    assert score_of(FLOOR_PSNR - 5) == 0 and score_of(60) == 100 and 0 < score_of(FLOOR_PSNR + 1) < 5
