"""`pixrescue deblur`: a blurred real photograph comes out sharper; alpha, gray and
sharp pictures are treated as a user expects."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

import pixrescue
from helpers import psnr
from pixrescue.cli import main
from pixrescue.training.blur import blur, disc_kernel, motion_kernel


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()[96:352, 96:352]


def blurred(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    noisy = blur(pixels.astype(np.float64), kernel) + np.random.default_rng(0).normal(0, 1, pixels.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@pytest.mark.quality
@pytest.mark.parametrize("kernel", [motion_kernel(9, np.random.default_rng(1)), disc_kernel(3)],
                         ids=["motion 9 px", "defocus r3"])
def test_deblurring_a_blurred_photograph_raises_its_psnr(astronaut, kernel):
    soft = blurred(astronaut, kernel)
    sharp = np.asarray(pixrescue.deblur(Image.fromarray(soft)))
    before, after = psnr(astronaut[16:-16, 16:-16], soft[16:-16, 16:-16]), psnr(astronaut[16:-16, 16:-16],
                                                                                   sharp[16:-16, 16:-16])
    assert after > before + 0.2, (before, after)


@pytest.mark.quality
def test_a_sharp_photograph_is_left_nearly_as_it_was(astronaut):
    out = np.asarray(pixrescue.deblur(Image.fromarray(astronaut)))
    assert psnr(astronaut, out) > 33


def test_alpha_and_gray_are_kept(astronaut):
    rgba = Image.fromarray(astronaut).convert("RGBA")
    alpha = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (256, 1)))
    rgba.putalpha(alpha)
    out = pixrescue.deblur(rgba)
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], np.asarray(alpha))
    assert pixrescue.deblur(Image.fromarray(astronaut).convert("L")).mode == "L"


def test_the_cli_writes_a_sharp_copy_beside_each_input_and_reports_bad_files(tmp_path, astronaut):
    Image.fromarray(blurred(astronaut, disc_kernel(2))).save(tmp_path / "soft.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = CliRunner().invoke(main, ["deblur", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (tmp_path / "soft.sharp.png").exists() and not (tmp_path / "broken.sharp.png").exists()
    assert "broken.jpg" in result.output and "deblurred 1 image" in result.output


def test_a_model_of_another_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match="deblur takes one of: deblurunet.blind"):
        pixrescue.deblurrer("qgunet.jpeg-blind")
