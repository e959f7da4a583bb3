"""`fix --auto`: the steps a picture needs, in order, and nothing for a clean one."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

import pixrescue
from helpers import jpeg_bytes
from pixrescue.cli import main
from pixrescue.tasks.auto import upscale_factor
from pixrescue.training.blur import blur, gaussian_kernel


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut()[64:320, 128:384])


def soft(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(blur(np.asarray(image, dtype=np.float64), gaussian_kernel(2))), 0,
                                   255).astype(np.uint8))


def test_the_factor_is_the_smallest_that_reaches_the_size():
    assert upscale_factor((100, 80), None) is None
    assert upscale_factor((100, 80), (100, 80)) is None
    assert upscale_factor((100, 80), (150, 80)) == 2
    assert upscale_factor((100, 80), (300, 100)) == 3
    assert upscale_factor((100, 80), (90, 320)) == 4
    assert upscale_factor((100, 80), (1000, 80)) == 4  # as far as it goes


def test_a_clean_picture_is_left_exactly_as_it_was(tmp_path, astronaut):
    path = tmp_path / "clean.png"
    astronaut.save(path)
    result = pixrescue.auto(path)
    assert result.steps is None and result.unchanged.startswith("nothing to do")
    assert np.array_equal(np.asarray(result.image), np.asarray(astronaut))


def test_a_quality_10_jpeg_is_deblocked_and_nothing_else(tmp_path, astronaut):
    path = tmp_path / "q10.jpg"
    path.write_bytes(jpeg_bytes(astronaut, 10))
    result = pixrescue.auto(path)
    assert result.steps == "fix" and result.unchanged is None
    assert np.array_equal(np.asarray(result.image), np.asarray(pixrescue.restore(pixrescue.load(path)).image))


def test_a_blurred_picture_is_deblurred_and_a_small_one_enlarged(tmp_path, astronaut):
    path = tmp_path / "soft.png"
    soft(astronaut).save(path)
    # The estimator reads a blurred PNG as compressed (about quality 45): the blur, seen on the
    # deblocked picture, is removed first from the picture as it came, then fix runs.
    picture = pixrescue.load(path)
    result = pixrescue.auto(picture)
    assert result.steps in ("deblur", "deblur, fix")
    expected = pixrescue.deblur(picture)
    if result.steps == "deblur, fix":
        expected = pixrescue.restore(expected)
    assert np.array_equal(np.asarray(result.image), np.asarray(expected.image))
    result = pixrescue.auto(path, min_size=(600, 500))
    assert result.steps.startswith("deblur") and result.steps.endswith("upscale x3")
    assert result.size == (768, 768)


def test_the_cli_says_what_it_did_for_each_file_and_refuses_mixed_options(tmp_path, astronaut):
    (tmp_path / "q10.jpg").write_bytes(jpeg_bytes(astronaut, 10))
    astronaut.save(tmp_path / "clean.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fix", "--auto", "--min-size", "300x300", str(tmp_path), "-o", f"{out}/"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "q10.jpg: fix, upscale x2" in result.output and "empty.jpg" in result.output
    assert Image.open(out / "q10.png").size == (512, 512) and Image.open(out / "clean.png").size == (512, 512)
    for args in (["--min-size", "300x300"], ["--auto", "-s", "30"], ["--auto", "--min-size", "300"]):
        refused = CliRunner().invoke(main, ["fix", *args, str(tmp_path / "q10.jpg"), "-o", str(tmp_path / "x.png")])
        assert refused.exit_code == 2 and "Traceback" not in refused.output and not (tmp_path / "x.png").exists()


def test_a_large_picture_in_the_doubtful_band_is_judged_on_its_centre_and_deblurred_whole(tmp_path):
    # 5 px of camera motion on a photograph, mirrored out to 900x900: sharper than the 0.1 line,
    # so the deblurring network decides on the centre (CHECK_SIDE); the whole picture is deblurred.
    from helpers import shaken_rocket
    from pixrescue.tasks.inspect import BLURRED_BELOW, CHECK_SIDE, CHECKED_BELOW, blur_check

    shaken = shaken_rocket(pad=(236, 130))
    assert min(shaken.size) > CHECK_SIDE
    sharp, blurred, deblurred = blur_check(shaken, shaken, pixrescue.zoo.DEFAULT_MODEL["deblur"])
    assert BLURRED_BELOW < sharp < CHECKED_BELOW and blurred and deblurred is None
    path = tmp_path / "shaken.png"
    shaken.save(path)
    picture = pixrescue.load(path)
    result = pixrescue.auto(picture)
    assert result.steps.startswith("deblur")
    expected = pixrescue.deblur(picture)
    if result.steps == "deblur, fix":
        expected = pixrescue.restore(expected)
    assert np.array_equal(np.asarray(result.image), np.asarray(expected.image))
